"""The cycle-feature model: a logistic regression on ``signals.cycle_features``, and its
fusion with the CNN's score.

Fitted by ``hrmon train cycle`` (``model/cycle_train.py``), shipped as
``model/cycle_model.json``; inference is a dot product, so it runs in numpy on the
device beside the CNN's ONNX session. The fused score is the mean of the two logits,
a rule fixed before any evaluation (docs/model.md, "Cycle features").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
CLIP = 5.0
"""Standardised features are clipped to +-CLIP: one wild value cannot decide alone."""
_EPS = 1e-6


@dataclass(frozen=True)
class CycleModel:
    """Imputation, standardisation and the regression, all fitted on the training part."""

    names: tuple[str, ...]
    medians: FloatArray
    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float

    def standardise(self, features: npt.ArrayLike) -> FloatArray:
        """Missing values imputed by the training medians, standardised and clipped."""
        x = np.asarray(features, dtype=np.float64)
        x = np.where(np.isfinite(x), x, self.medians)
        return np.clip((x - self.mean) / self.scale, -CLIP, CLIP)

    def probability(self, features: npt.ArrayLike) -> float:
        """P(abnormal) for one recording's features (``signals.cycle_features`` order)."""
        z = float(self.standardise(features) @ self.coef + self.intercept)
        return 1.0 / (1.0 + math.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "medians": self.medians.tolist(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CycleModel:
        """Parse and check that every vector has one value per feature.

        Raises:
            ValueError: a vector of the wrong length.
        """
        names = tuple(str(n) for n in data["names"])
        medians, mean, scale, coef = (
            np.asarray(data[k], dtype=np.float64) for k in ("medians", "mean", "scale", "coef")
        )
        if any(v.shape != (len(names),) for v in (medians, mean, scale, coef)):
            raise ValueError("cycle model: every vector needs one value per feature")
        return cls(names, medians, mean, scale, coef, float(data["intercept"]))


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def fuse(*probabilities: float) -> float:
    """The fused score: sigmoid of the mean of the logits, in (0, 1).

    The device fuses the CNN's and the regression's; training also averages the CNNs
    of an ensemble this way.
    """
    z = sum(_logit(p) for p in probabilities) / len(probabilities)
    return 1.0 / (1.0 + math.exp(-z))
