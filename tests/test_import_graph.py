"""The import graph, read from the code itself (an AST walk, lazy imports included).

Server A and server B are peers: neither imports the other; what both need lives in
``service_common``. ``protocol`` is pure: it imports nothing else of the project, and
``signals`` (audio, heart rate, features, segmentation, scoring) nothing at all, and
neither does ``cli_help`` (the commands' ``--help`` convention, which every command may
use). The parties' packages sit on top, and no two top-level packages import each other,
even through others.
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import PACKAGES
from tests.conftest import REPO_ROOT as ROOT


def imports_of(package: str) -> set[tuple[str, str]]:
    """(module file, imported top-level project package) for every import in ``package``."""
    found: set[tuple[str, str]] = set()
    for path in sorted((ROOT / package).rglob("*.py")):
        if "experiments" in path.relative_to(ROOT).parts:
            continue  # research scripts, not shipped
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES:
                    found.add((str(path.relative_to(ROOT)), top))
    return found


@pytest.mark.parametrize(
    ("package", "allowed"),
    [
        ("protocol", {"protocol"}),
        ("signals", {"signals"}),
        ("cli_help", {"cli_help"}),
        ("service_common", {"service_common", "protocol", "cli_help"}),
        ("server_a", {"server_a", "service_common", "protocol", "cli_help"}),
        ("server_b", {"server_b", "service_common", "protocol", "cli_help"}),
        ("client", {"client", "service_common", "protocol", "cli_help"}),
        ("device", {"device", "client", "signals", "protocol", "cli_help"}),
        ("physician", {"physician", "client", "signals", "protocol", "cli_help"}),
        ("model", {"model", "signals", "cli_help"}),
        # evaluation measures the product's parts, the device's own analysis included
        ("evaluation", {"evaluation", "model", "signals", "device", "cli_help"}),
    ],
)
def test_package_imports_only_what_it_may(package: str, allowed: set[str]) -> None:
    wrong = sorted((f, top) for f, top in imports_of(package) if top not in allowed)
    assert not wrong, f"{package} imports outside {sorted(allowed)}: {wrong}"


def test_no_cycle_between_top_level_packages() -> None:
    edges = {p: {top for _, top in imports_of(p)} - {p} for p in PACKAGES}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or reaches(n, goal, seen | {n}) for n in edges[start] - seen)

    cycles = sorted(p for p in PACKAGES if reaches(p, p, set()))
    assert not cycles, f"packages on an import cycle: {cycles}"


def test_the_walk_sees_real_imports() -> None:
    # the checker itself can fail: server A does import protocol and service_common
    tops = {top for _, top in imports_of("server_a")}
    assert {"protocol", "service_common"} <= tops
    assert "signals" in {top for _, top in imports_of("device")}
