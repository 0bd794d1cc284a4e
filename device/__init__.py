"""The patient's device: analysis of a recording, the CLI, the local web page."""

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
"""Real recordings shipped for the demo and the tests (``samples/README.md``)."""
