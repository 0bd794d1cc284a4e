"""Files shipped in the ``model`` package (the CNN, its JSON, the cycle model, the quality
gate): one place that knows where they are, from a source tree or an installed wheel."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped_file(name: str) -> Path:
    """Path of ``name`` in the ``model`` package."""
    return Path(str(resources.files("model").joinpath(name)))
