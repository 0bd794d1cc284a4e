"""Comparison modes, each as A's half and B's half (see :mod:`protocol.modes.base`).

``baseline``: DESIGN.md's blinded sign comparison, one round. ``zero-leakage``: additive
mask and DGK/Veugen bitwise comparison, two rounds (docs/zero-leakage.md).
"""

from typing import Literal

ModeName = Literal["baseline", "zero-leakage"]
