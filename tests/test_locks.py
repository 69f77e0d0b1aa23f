"""The two lock files: requirements.lock (development, CI) and requirements-runtime.lock
(the production image). The runtime lock must be exactly the runtime closure of
pyproject.toml, at the development lock's versions and hashes, with no dev tool in it.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DEV_LOCK = ROOT / "requirements.lock"
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)\s*\\?$")
HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")
# Never in the production image, whatever pulls them in.
DEV_TOOLS = {
    "pytest",
    "pytest-asyncio",
    "ruff",
    "mypy",
    "schemathesis",
    "playwright",
    "hypothesis",
    "pyyaml",
    "types-pyyaml",
}


def _pins(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of every pin in a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    name = version = ""
    hashes: set[str] = set()
    for line in [*path.read_text(encoding="utf-8").splitlines(), "end==0"]:
        match = PIN.match(line)
        if match:
            if name:
                assert name not in pins, f"{path.name}: {name} pinned twice"
                assert hashes, f"{path.name}: {name} has no hash"
                pins[name] = (version, frozenset(hashes))
            name, version = canonicalize_name(match["name"]), match["version"]
            hashes = set()
        elif line.startswith((" ", "\t")):
            hashes.update(HASH.findall(line))
        else:
            assert not line.strip() or line.startswith("#"), f"{path.name}: {line!r}"
    return pins


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _runtime_requirements() -> list[Requirement]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in [*project["dependencies"], *extras["build"]]]


def _closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution the requirements pull in, from the installed metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    stack = [(r, frozenset(r.extras)) for r in requirements]
    while stack:
        requirement, extras = stack.pop()
        key = (canonicalize_name(requirement.name), extras)
        if key in seen:
            continue
        seen.add(key)
        for raw in metadata.distribution(requirement.name).requires or []:
            needed = Requirement(raw)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if needed.marker is None or any(needed.marker.evaluate(e) for e in environments):
                stack.append((needed, frozenset(needed.extras)))
    return {name for name, _ in seen}


def test_runtime_lock_is_a_subset_of_the_dev_lock_with_the_same_hashes() -> None:
    dev, runtime = _pins(DEV_LOCK), _pins(RUNTIME_LOCK)
    assert set(runtime) <= set(dev), sorted(set(runtime) - set(dev))
    for name, pin in runtime.items():
        assert pin == dev[name], (
            f"{name}: runtime {pin[0]} differs from the dev lock {dev[name][0]}"
        )


def test_runtime_lock_holds_no_dev_tool() -> None:
    runtime = _pins(RUNTIME_LOCK)
    assert not DEV_TOOLS & set(runtime), sorted(DEV_TOOLS & set(runtime))
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    dev_extra = {
        canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["dev"]
    }
    build = {canonicalize_name(r.name) for r in _runtime_requirements()}
    assert not (dev_extra - build) & set(runtime)


def test_runtime_lock_is_exactly_the_runtime_closure() -> None:
    runtime = set(_pins(RUNTIME_LOCK))
    declared = {canonicalize_name(r.name) for r in _runtime_requirements()}
    assert declared <= runtime, f"declared but not locked: {sorted(declared - runtime)}"
    closure = _closure(_runtime_requirements())
    assert runtime == closure, (
        f"missing: {sorted(closure - runtime)}, not needed: {sorted(runtime - closure)}"
    )


def test_runtime_pins_satisfy_pyproject() -> None:
    runtime = _pins(RUNTIME_LOCK)
    for requirement in _runtime_requirements():
        version, _ = runtime[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)


def test_the_image_installs_the_runtime_lock_only() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --require-hashes --no-deps -r requirements-runtime.lock" in dockerfile
    assert not re.search(r"-r\s+requirements\.lock\b", dockerfile)
    assert not re.search(r"COPY[^\n]*\brequirements\.lock\b", dockerfile)
    # CI and `make test` keep the full development lock.
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps -r requirements.lock" in makefile
