"""The code stays ruff-clean, formatted, and mypy --strict clean (pyproject.toml config)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import PACKAGES, REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_lint_and_format():
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = _run("ruff", "format", "--check", *PACKAGES, "tests")
    assert fmt.returncode == 0, fmt.stdout[-4000:]


@pytest.mark.slow
def test_mypy_strict():
    typed = _run("mypy", *PACKAGES)
    assert typed.returncode == 0, typed.stdout[-4000:]
