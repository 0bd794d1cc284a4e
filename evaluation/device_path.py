"""``hrmon eval device-path DIR``: ``hrmon eval model``, judging only what the device sends.

Each recording goes through the device's own analysis (``device.analysis.analyse_signal``:
the heart-rate check, the signal-quality gate, the score-only rule) and counts only if
``hrmon device`` would send it; the rest are counted as held back, per set. The figures
are then what the physician would see, and the held-back counts what the patient is
asked to record again (docs/model.md, "Signal-quality gate").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from model import evaluate


def judge(signal: npt.NDArray[np.float32], name: str) -> float | None:
    """The score the device would send for ``signal`` (at 2 kHz), or None if held back."""
    from device.analysis import analyse_signal
    from signals.audio import WORKING_RATE

    analysed = analyse_signal(signal, WORKING_RATE, name)
    return analysed.score if analysed.sendable else None


def main(argv: list[str]) -> int:
    """Entry point of ``hrmon eval device-path`` (the options of ``hrmon eval model``, less
    ``--model``: the device runs the shipped one)."""
    return evaluate.main(argv, judge=judge, prog="hrmon eval device-path")
