"""The one console script, ``hrmon``: a thin dispatcher to each sub-command's module.

Each sub-command lives in its own module and exposes ``main(argv: list[str]) -> int``
that parses its own arguments; importing is lazy so that ``hrmon device submit`` never
loads torch, uvicorn or matplotlib.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# (words, "module:function", one-line help)
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("demo",), "ops.demo:main", "full private flow on loopback with shipped recordings"),
    (("setup",), "ops.setup:main", "make the system key and split it into two shares"),
    (("server", "a"), "server_a.__main__:main", "run server A (compute cloud)"),
    (("server", "b"), "server_b.__main__:main", "run server B (key cloud)"),
    (
        ("device", "submit"),
        "device.cli:submit_main",
        "analyse a recording, submit ciphertexts",
    ),
    (
        ("device", "stream"),
        "device.cli:stream_main",
        "stream a long recording window by window",
    ),
    (("device", "history"), "device.cli:history_main", "your own readings, kept on this device"),
    (("device", "enrol"), "device.cli:enrol_main", "set this device up from an invitation"),
    (("device", "flush"), "device.cli:flush_main", "send readings kept while A was away"),
    (("device", "analyse"), "device.cli:analyse_main", "analyse a recording locally only"),
    (("device", "page"), "device.page:main", "patient device web page"),
    (("physician", "keygen"), "physician.cli:keygen_main", "make the physician key pair"),
    (("physician", "enrol"), "physician.cli:enrol_main", "register with server A"),
    (("physician", "add-patient"), "physician.cli:add_patient_main", "enrol a patient"),
    (
        ("physician", "replace-device"),
        "physician.cli:replace_device_main",
        "new device token for a patient (the old one stops working)",
    ),
    (
        ("physician", "set-range"),
        "physician.cli:set_range_main",
        "set healthy range, threshold",
    ),
    (("physician", "results"), "physician.cli:results_main", "list decrypted results"),
    (("physician", "tally"), "physician.cli:tally_main", "decrypt the abnormal tally"),
    (("physician", "dashboard"), "physician.dashboard.app:main", "local physician dashboard"),
    (("physician", "watch"), "physician.watch:main", "send new alerts to your hook, headless"),
    (("eval", "heart-rate"), "evaluation.heart_rate:main", "heart-rate accuracy vs ECG"),
    (("eval", "model"), "model.evaluate:main", "CNN sensitivity/specificity"),
    (
        ("eval", "device-path"),
        "evaluation.device_path:main",
        "sensitivity/specificity of what the device would send",
    ),
    (("eval", "rhythm"), "evaluation.rhythm:main", "rhythm irregularity vs annotations"),
    (
        ("eval", "segmentation"),
        "evaluation.segmentation:main",
        "S1/S2 segmentation F1 vs annotations",
    ),
    (("train",), "model.train:main", "train the CNN (needs the train extra)"),
    (("train", "cycle"), "model.cycle_train:main", "fit and evaluate the cycle-feature model"),
    (("train", "quality"), "model.quality_train:main", "fit and evaluate the signal-quality gate"),
    (("bench",), "bench.run:main", "protocol benchmarks vs the TNO peer"),
]


def _usage(prefix: tuple[str, ...] = ()) -> str:
    """The commands under ``prefix`` (all of them for ``()``), one line each."""
    rows = [(w, h) for w, _, h in COMMANDS if w[: len(prefix)] == prefix]
    width = max(len(" ".join(words)) for words, _ in rows)
    head = " ".join(("hrmon", *prefix, "COMMAND" if not prefix else "SUBCOMMAND"))
    lines = [f"usage: {head} [ARGS...]", "", "commands:"]
    lines += [f"  {' '.join(words):<{width}}  {help_text}" for words, help_text in rows]
    lines += ["", "hrmon COMMAND --help shows a command's options."]
    return "\n".join(lines)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"hrmon {version('hrmon')}"
    except PackageNotFoundError:  # run from a checkout without installing
        return "hrmon (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``hrmon WORDS... ARGS...`` to the longest matching command.

    ``hrmon`` and ``hrmon --help`` list every command (exit 0); ``hrmon GROUP`` or
    ``hrmon GROUP --help`` (``device``, ``physician``, ``server``, ``eval``) list that
    group's (exit 0); ``--version`` prints the version; anything else is named as unknown
    (exit 2).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    for words, target, _ in sorted(COMMANDS, key=lambda c: -len(c[0])):
        if tuple(args[: len(words)]) == words:
            module_name, func_name = target.split(":")
            func = getattr(importlib.import_module(module_name), func_name)
            result: int = func(args[len(words) :])
            return result
    if args[:1] in (["--version"], ["-V"]):
        print(_version())
        return 0
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0
    groups = {words[0] for words, _, _ in COMMANDS if len(words) > 1}
    if args[0] in groups and (len(args) == 1 or args[1] in ("-h", "--help")):
        print(_usage((args[0],)))
        return 0
    unknown = " ".join(args[:2] if args[0] in groups else args[:1])
    print(f"hrmon: unknown command {unknown!r}\n\n{_usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
