"""The device's signal-quality gate: is this a heart recording clean enough to judge?

It holds back a recording that does not sound like a clean heart recording even when
the rate estimator finds a period in it (rubbing, speech, a phone moved over clothing:
PASCAL 2011's "artifact" recordings passed the rate check in 12 of 40 cases and scored
abnormal in 10), and it vouches for one too faint for a rate, which then goes out
score-only (``device.analysis.Analysis.score_only``). It is the cycle model's
form (:class:`signals.cycle_model.CycleModel`) on the same cycle features the fused score
computes, fitted to PhysioNet 2016's quality labels by ``hrmon train quality``
(``model/quality_train.py``) and shipped as ``model/quality_gate.json``: one more dot
product on the device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from signals.cycle_model import CycleModel
from signals.shipped import shipped_file

GATE_NAME = "quality_gate.json"


@dataclass(frozen=True)
class QualityGate:
    """P(poor quality) from a recording's cycle features, and the threshold at or above
    which the recording is held back."""

    model: CycleModel
    threshold: float

    def probability_poor(self, features: npt.ArrayLike) -> float:
        """P(too poor to judge) for one recording's ``signals.cycle_features``."""
        return self.model.probability(features)

    def too_poor(self, features: npt.ArrayLike) -> bool:
        """Whether the recording should be held back (re-recorded) rather than sent."""
        return self.probability_poor(features) >= self.threshold

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model.to_json(), "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QualityGate:
        """Parse a gate written by :meth:`to_json`.

        Raises:
            ValueError: a malformed model or a threshold outside (0, 1].
        """
        threshold = float(data["threshold"])
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"quality gate: threshold {threshold} is not in (0, 1]")
        return cls(CycleModel.from_json(data["model"]), threshold)

    @classmethod
    def from_default(cls) -> QualityGate | None:
        """The gate shipped in the ``model`` package; None when none is shipped."""
        path = shipped_file(GATE_NAME)
        return cls.from_json(json.loads(path.read_text())) if path.is_file() else None
