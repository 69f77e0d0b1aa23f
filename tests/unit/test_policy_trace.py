"""docs/policy-trace.md stays honest: everything it cites exists (issue 8).

The trace cites tests as `tests/…/file.py::test_name` (optionally `[param]`), code as
`path/file.py::Name` or `path/file.py::Class.member`, a further name in the same file as
`::Name` (after a cited `path/file.py::…` on the same line), and files or folders by their
path. Each must exist in the repository. A name without a path (`CaseWorkflow._sync`) and
the policies themselves (`../shared/policy/…`, outside the repository) are not checked.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "docs" / "policy-trace.md"

_SPAN = re.compile(r"`([^`\n]+)`")
# `path/file.py::Name.member[param]` anywhere in a span; the path starts the span or follows
# a space, "(" or "," (so a placeholder such as `tests/…/file.py::test_name` is not one).
_REFERENCE = re.compile(
    r"(?<![^\s(,])(?P<path>[\w./-]+\.py)::(?P<name>\w+(?:\.\w+)*)(?:\[[^\]]*\])?"
)
# `::Name` continuing the last cited file on the line.
_CONTINUATION = re.compile(r"^::(?P<name>\w+(?:\.\w+)*)(?:\[[^\]]*\])?")
# A repository path: folders, then an optional file name with an extension (globs allowed).
_PATH = re.compile(r"^(?:[\w.-]+/)+(?:[\w*.-]*\.\w+(?:\.\w+)?)?$")


def _spans() -> list[tuple[int, str]]:
    """Every backticked span of the trace, with its line number."""
    found: list[tuple[int, str]] = []
    for number, line in enumerate(TRACE.read_text("utf-8").splitlines(), start=1):
        found.extend((number, span.strip()) for span in _SPAN.findall(line))
    return found


def _references() -> list[tuple[int, str, str]]:
    """(line, file, dotted name) for every `file.py::name` and `::name` citation."""
    refs: list[tuple[int, str, str]] = []
    last_file: dict[int, str] = {}
    for number, span in _spans():
        continuation = _CONTINUATION.match(span)
        if continuation:
            if number in last_file:
                refs.append((number, last_file[number], continuation["name"]))
            continue
        for match in _REFERENCE.finditer(span):
            refs.append((number, match["path"], match["name"]))
            last_file[number] = match["path"]
    return refs


@cache
def _source(path: str) -> str:
    return (ROOT / path).read_text("utf-8")


def _defines(source: str, name: str) -> bool:
    """A def, class, assignment or annotated field of ``name`` somewhere in ``source``."""
    n = re.escape(name)
    return bool(
        re.search(rf"^\s*(?:async\s+def|def|class)\s+{n}\b", source, re.MULTILINE)
        or re.search(rf"^\s*{n}\s*(?::[^\n=]*)?=", source, re.MULTILINE)
        or re.search(rf"^\s*{n}\s*:", source, re.MULTILINE)
    )


def _is_test(path: str) -> bool:
    return path.startswith("tests/") and Path(path).name.startswith("test_")


def test_the_trace_cites_tests_code_and_files() -> None:
    refs = _references()
    assert any(_is_test(path) for _, path, _ in refs), "no test citations found"
    assert any(not _is_test(path) for _, path, _ in refs), "no code citations found"


@pytest.mark.parametrize(
    ("line", "path", "name"),
    [ref for ref in _references() if _is_test(ref[1])],
    ids=lambda value: str(value),
)
def test_every_cited_test_exists(line: int, path: str, name: str) -> None:
    assert (ROOT / path).is_file(), f"line {line}: no test file {path}"
    pattern = rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\("
    assert re.search(pattern, _source(path), re.MULTILINE), (
        f"line {line}: {path} has no test {name}"
    )


@pytest.mark.parametrize(
    ("line", "path", "name"),
    [ref for ref in _references() if not _is_test(ref[1])],
    ids=lambda value: str(value),
)
def test_every_cited_code_reference_exists(line: int, path: str, name: str) -> None:
    assert (ROOT / path).is_file(), f"line {line}: no file {path}"
    source = _source(path)
    missing = [part for part in name.split(".") if not _defines(source, part)]
    assert not missing, f"line {line}: {path} does not define {'.'.join(missing)} (of {name})"


@pytest.mark.parametrize(
    ("line", "path"),
    sorted(
        {
            (number, span.split("::")[0])
            for number, span in _spans()
            if _PATH.match(span.split("::")[0]) and not span.startswith("../")
        }
    ),
    ids=lambda value: str(value),
)
def test_every_cited_file_exists(line: int, path: str) -> None:
    if "*" in path:
        assert list(ROOT.glob(path)), f"line {line}: nothing matches {path}"
    else:
        assert (ROOT / path).exists(), f"line {line}: no such file or folder {path}"
