"""Run `make run`'s stack as subprocesses for end-to-end tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support import free_port
from tokens import create_token


def request_json(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - local URL
        url, data=data, method=method, headers=headers
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
        self._drain: threading.Thread | None = None
        self.secret = secrets.token_urlsafe(32)

    def token(self, *roles: str, user: str = "e2e") -> str:
        """A token this stack accepts."""
        return create_token(self.secret, user, list(roles), 3600)

    def start(self) -> float:
        env = dict(os.environ)
        env.update(
            {
                "UCB_VAR_DIR": str(self.var_dir),
                "UCB_TEMPORAL_PORT": str(self.ports["TEMPORAL"]),
                "UCB_TEMPORAL_UI_PORT": str(self.ports["TEMPORAL_UI"]),
                "UCB_SMTP_PORT": str(self.ports["SMTP"]),
                "UCB_API_PORT": str(self.ports["API"]),
                "UCB_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
                "UCB_SECRET_KEY": self.secret,
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
                # Keep reading: a pipe nobody drains fills up, and then every child that
                # logs (the API logs each request) blocks on its next write.
                self._drain = threading.Thread(target=self._keep_reading, daemon=True)
                self._drain.start()
                return time.monotonic() - started
        raise AssertionError("stack never became ready:\n" + "".join(self.output[-40:]))

    def _keep_reading(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        if self._drain is not None:
            self._drain.join(timeout=10)
        else:
            assert self.process.stdout is not None
            self.output.extend(self.process.stdout.read().splitlines(keepends=True))
        return code
