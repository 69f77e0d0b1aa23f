"""The folders show who uses whom: no module imports against the layers.

From the bottom: ``policy`` (pure rules) ← ``workflows`` ← ``records``/``letters``/
``activities``/``reports`` ← ``starter`` (the Temporal side) ← ``api`` and ``worker`` ←
``ucbclient`` (the HTTP client and CLI, above the API). ``tokens`` and ``settings`` are
shared by all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> top-level packages it must never import
FORBIDDEN = {
    "policy": {"workflows", "activities", "records", "letters", "starter", "api", "ucbclient"},
    "workflows": {"activities", "records", "letters", "starter", "api", "ucbclient"},
    "starter": {"api", "ucbclient", "devstack"},
    "api": {"ucbclient", "devstack", "worker"},
    "ucbclient": {"api", "devstack", "worker"},
    "tokens": {"api", "starter", "ucbclient", "workflows", "records"},
    # Rendering the management report: policy's figures in, HTML, SVG, CSV and PDF out.
    "reports": {"workflows", "activities", "records", "starter", "api", "ucbclient"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules_of(package: str) -> list[Path]:
    single = ROOT / f"{package}.py"
    return [single] if single.exists() else sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_against_the_layers(package: str) -> None:
    modules = modules_of(package)
    assert modules, package
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules
        for name in imported_packages(path) & FORBIDDEN[package]
    }
    assert not wrong, sorted(wrong)
