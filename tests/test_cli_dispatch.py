"""The ``hrmon`` dispatcher: group help, --version, unknown commands named (exit codes)."""

from __future__ import annotations

import pytest

from ops.cli import COMMANDS, main


def test_bare_and_help_list_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "physician replace-device" in out and "device flush" in out


@pytest.mark.parametrize("group", ["device", "physician", "server", "eval"])
def test_a_group_lists_its_own_commands(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([group], [group, "--help"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
        assert listed and set(listed) == {group}


def test_version_and_unknown_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("hrmon ")
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert main(["device", "frob"]) == 2
    assert "unknown command 'device frob'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["device", "stream", "--help"], "(default: 10.0)"),
        (["device", "history", "--help"], "(default 20)"),  # stated by the help itself
        (["physician", "dashboard", "--help"], "(default: 127.0.0.1)"),
        (["server", "a", "--help"], "--port PORT (default: 8001)"),  # an option without help
        (["train", "--help"], "(default: 0.0)"),  # a zero default is still shown
        (["eval", "model", "--help"], "--metrics-file METRICS_FILE (default:"),
    ],
)
def test_a_command_s_help_shows_its_defaults(
    argv: list[str], shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert shown in text
    assert "(default: False)" not in text and "(default: None)" not in text


@pytest.mark.parametrize("words", [words for words, _, _ in COMMANDS], ids=" ".join)
def test_every_command_has_help(words: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith(f"usage: hrmon {' '.join(words)}")
    assert "(default: False)" not in text and "(default: None)" not in text
    assert "(default: [])" not in text
