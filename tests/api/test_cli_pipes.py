"""``ucb`` whose reader goes away (``ucb case show ... | head``): quiet, exit 0."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.worker import Worker

from ucbclient.client import UcbClient

ROOT = Path(__file__).resolve().parents[2]
Minter = Callable[..., str]


async def _ucb_into_a_closed_pipe(env: dict[str, str], *argv: str) -> tuple[int, str]:
    """Run ``python -m ucbclient.cli`` with stdout a pipe nobody reads any more."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before ucb writes: every write is EPIPE
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ucbclient.cli",
            *argv,
            cwd=ROOT,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def _ucb_piped_to_head(env: dict[str, str], *argv: str) -> tuple[int, str, bytes]:
    """``ucb ... | head -c 10`` through the shell; ucb's own exit code and stderr."""
    command = " ".join(["exec", sys.executable, "-m", "ucbclient.cli", *argv])
    script = f'({command}) 2>"$UCB_ERR" | head -c 10; exit "${{PIPESTATUS[0]}}"'
    err_file = Path(env["UCB_ERR"])
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", script, cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    err = await asyncio.to_thread(err_file.read_text, encoding="utf-8")
    return process.returncode, err, out


def _env(api_url: str, token: str) -> dict[str, str]:
    return {**os.environ, "UCB_API_URL": api_url, "UCB_TOKEN": token}


async def test_token_create_into_a_closed_pipe_is_quiet() -> None:
    code, err = await _ucb_into_a_closed_pipe(
        dict(os.environ), "token", "create", "--user", "kim", "--role", "officer"
    )
    # Only the development-key warning, which `ucb token create` always gives here.
    assert code == 0, err
    assert "Broken pipe" not in err and "Traceback" not in err and "error" not in err


async def test_case_show_into_a_closed_pipe_is_quiet(
    api_url: str, worker: Worker, token_for: Minter, tmp_path: Path
) -> None:
    token = token_for("officer", user="kim")
    ref = f"PIPE-{uuid.uuid4().hex[:10]}"
    async with UcbClient(api_url, token) as ucb:
        await ucb.report_incident(
            ref,
            "verbal_abuse",
            "phone",
            datetime.now(UTC) - timedelta(hours=1),
            "Called the officer useless",
            "kim",
            source_reference="CRM-PIPE",
        )
    env = _env(api_url, token)
    code, err = await _ucb_into_a_closed_pipe(env, "case", "show", ref)
    assert (code, err) == (0, "")
    # And the way people do it: a real `| head`, whichever of the two finishes first.
    env["UCB_ERR"] = str(tmp_path / "ucb.err")
    code, err, out = await _ucb_piped_to_head(env, "case", "show", ref)
    assert (code, err) == (0, "")
    assert len(out) == 10 and out.startswith(b"{")
