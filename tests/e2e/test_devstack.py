"""`make run`'s stack as a whole: start it, report an incident, stop it, start it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port

pytestmark = pytest.mark.slow


def _request(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - local URL
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Stack:
    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.ports = {name: free_port() for name in ("TEMPORAL", "TEMPORAL_UI", "SMTP", "API")}
        self.api = f"http://127.0.0.1:{self.ports['API']}"
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self) -> float:
        env = dict(os.environ)
        env.update(
            {
                "UCB_VAR_DIR": str(self.var_dir),
                "UCB_TEMPORAL_PORT": str(self.ports["TEMPORAL"]),
                "UCB_TEMPORAL_UI_PORT": str(self.ports["TEMPORAL_UI"]),
                "UCB_SMTP_PORT": str(self.ports["SMTP"]),
                "UCB_API_PORT": str(self.ports["API"]),
            }
        )
        env.pop("UCB_DATABASE_URL", None)
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if "ucb-cases is running" in line:
                return time.monotonic() - started
        raise AssertionError("stack never became ready:\n" + "".join(self.output[-40:]))

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.output.extend(self.process.stdout.read().splitlines(keepends=True))
        return code


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path / "var")
    yield running
    if running.process and running.process.poll() is None:
        running.process.kill()


def _wait_for_case(api: str, ref: str, predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, case = _request("GET", f"{api}/v1/cases/{ref}")
        if status == 200 and predicate(case):
            return case
        time.sleep(0.3)
    raise AssertionError(f"case {ref} never matched")


def test_stack_runs_a_case_and_keeps_it_across_restarts(stack: Stack) -> None:
    stack.start()
    status, accepted = _request(
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
    )
    assert status == 202, accepted
    _wait_for_case(
        stack.api, "E2E-1", lambda c: c["letters"] and c["letters"][0]["status"] == "sent"
    )
    assert len(list((stack.var_dir / "outbox").glob("*.eml"))) == 1

    temporal = Path(sys.executable).parent / "temporal"
    listed = subprocess.run(
        [
            str(temporal),
            "workflow",
            "list",
            "--address",
            f"127.0.0.1:{stack.ports['TEMPORAL']}",
            "--query",
            "CaseStage='open' AND RiskFlag=true",
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    assert "ucb-case-E2E-1" in listed.stdout

    assert stack.stop() == 0
    assert "devstack: stopped" in "".join(stack.output)

    stack.start()  # same var/: the case, its history and records survive
    case = _wait_for_case(stack.api, "E2E-1", lambda c: c["workflow_status"] == "RUNNING")
    assert case["stage"] == "open" and case["risk_flag"]
    assert len(case["incidents"]) == 1
    assert stack.stop() == 0
