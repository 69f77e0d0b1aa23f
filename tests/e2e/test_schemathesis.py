"""schemathesis against the live OpenAPI spec of the running stack, with a valid token."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.stack import Stack

pytestmark = pytest.mark.slow

ALL_ROLES = (
    "officer",
    "manager",
    "head_of_service",
    "director",
    "case_system",
    "contractor",
    "auditor",
    "operator",
)


def test_schemathesis_finds_no_server_errors_or_schema_violations(
    stack: Stack, tmp_path: Path
) -> None:
    stack.start()
    token = stack.token(*ALL_ROLES, user="schemathesis")
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{stack.api}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        "25",
        "--seed",
        "20261121",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    stack.stop()
    output = result.stdout + result.stderr
    print(output[-3000:])  # the figures, for the closing note
    cases = re.search(r"(\d+) generated", output)
    assert result.returncode == 0, output[-6000:]
    assert cases is not None and int(cases.group(1)) > 100, output[-2000:]
