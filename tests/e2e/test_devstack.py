"""`make run`'s stack as a whole: start it, report an incident, stop it, start it again."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack, request_json

pytestmark = pytest.mark.slow


def _wait_for_case(api: str, token: str, ref: str, predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, case = request_json("GET", f"{api}/v1/cases/{ref}", token=token)
        if status == 200 and predicate(case):
            return case
        time.sleep(0.3)
    raise AssertionError(f"case {ref} never matched")


def test_stack_runs_a_case_and_keeps_it_across_restarts(stack: Stack) -> None:
    stack.start()
    status, accepted = request_json(
        "POST",
        f"{stack.api}/v1/incidents",
        {
            "customer_ref": "E2E-1",
            "category": "verbal_abuse",
            "channel": "email",
            "occurred_at": "2026-11-20T10:00:00Z",
            "description": "Email calling the officer useless, with swearing",
            "reported_by": "officer-1",
            "customer": {"name": "Pat", "email": "pat@example.org"},
        },
        token=stack.token("case_system"),
    )
    assert status == 202, accepted
    officer = stack.token("officer")
    _wait_for_case(
        stack.api,
        officer,
        "E2E-1",
        lambda c: (
            c["letters"] and c["letters"][0]["status"] == "sent" and c["stage"] == "initial_warning"
        ),
    )
    assert len(list((stack.var_dir / "outbox").glob("*.eml"))) == 1

    temporal = Path(sys.executable).parent / "temporal"
    listing = [str(temporal), "workflow", "list", "--address"]
    listing += [
        f"127.0.0.1:{stack.ports['TEMPORAL']}",
        "--query",
        "CaseStage='initial_warning' AND RiskFlag=false",
    ]
    deadline = time.monotonic() + 15  # visibility follows the search attributes shortly after
    listed = ""
    while "ucb-case-E2E-1" not in listed and time.monotonic() < deadline:
        run = subprocess.run(listing, capture_output=True, text=True, timeout=20, check=True)
        listed = run.stdout
        time.sleep(0.5)
    assert "ucb-case-E2E-1" in listed

    assert stack.stop() == 0
    assert "devstack: stopped" in "".join(stack.output)

    stack.start()  # same var/: the case, its history and records survive
    case = _wait_for_case(
        stack.api, stack.token("officer"), "E2E-1", lambda c: c["workflow_status"] == "RUNNING"
    )
    assert case["stage"] == "initial_warning" and not case["risk_flag"]
    assert len(case["incidents"]) == 1
    assert stack.stop() == 0
