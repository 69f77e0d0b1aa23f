"""Recording workflow histories for the replay guard (tests/workflows/test_replay.py).

Set ``UCB_RECORD_HISTORIES=<dir>`` and every passing test here writes the history of
every workflow run on its task queue (closed runs and continued-as-new runs too) to
``<dir>/<test-name>[-<profile>]-<n>.json``. Unset (the normal case), nothing happens.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from temporalio.client import Client

from settings import Settings
from starter.temporal import connect

RECORD_ENV = "UCB_RECORD_HISTORIES"
# Keep the saved histories small: a run longer than this (a stream of thousands of
# incidents) is not saved; the runs of ordinary paths are far shorter.
MAX_RECORDED_EVENTS = 600
MAX_RECORDED_BYTES = 300 * 1024
_PASSED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether the test body passed: only passing tests are recorded."""
    report = yield
    if report.when == "call":
        item.stash[_PASSED] = report.passed
    return report


def history_file_stem(item: pytest.Item) -> str:
    """``test_name`` or ``test_name-<profile>`` for a test parametrised by profile."""
    name = getattr(item, "originalname", item.name)
    callspec = getattr(item, "callspec", None)
    profile = callspec.params.get("profile") if callspec is not None else None
    return f"{name}-{profile}" if profile else str(name)


def write_histories(target: Path, stem: str, texts: list[str]) -> list[Path]:
    """Write the histories as ``<stem>-1.json``, ``<stem>-2.json``, ... (overwriting)."""
    target.mkdir(parents=True, exist_ok=True)
    paths = [target / f"{stem}-{n}.json" for n in range(1, len(texts) + 1)]
    for path, text in zip(paths, texts, strict=True):
        path.write_text(text + "\n", encoding="utf-8")
    return paths


async def save_histories(client: Client, task_queue: str, target: Path, stem: str) -> list[Path]:
    """Write every run on ``task_queue`` to ``target/<stem>-<n>.json``, oldest first."""
    executions = [e async for e in client.list_workflows(f"TaskQueue = '{task_queue}'")]
    executions.sort(key=lambda e: (e.start_time, e.id, e.run_id))
    texts: list[str] = []
    for execution in executions:
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        if len(history.events) > MAX_RECORDED_EVENTS:
            continue
        document = {"workflowId": history.workflow_id, **history.to_json_dict()}
        text = json.dumps(document, indent=1)
        if len(text.encode()) <= MAX_RECORDED_BYTES:
            texts.append(text)
    return await asyncio.to_thread(write_histories, target, stem, texts)


@pytest.fixture(autouse=True)
async def record_histories(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """With UCB_RECORD_HISTORIES set: after a passing test, save its workflow histories."""
    yield
    target = os.environ.get(RECORD_ENV)
    node = request.node
    funcargs = getattr(node, "funcargs", None) or {}
    settings = funcargs.get("settings")
    if not target or not isinstance(settings, Settings) or not node.stash.get(_PASSED, False):
        return
    client = funcargs.get("client")
    if not isinstance(client, Client):
        client = await connect(
            Settings(environment="test", temporal_address=settings.temporal_address)
        )
    await save_histories(client, settings.task_queue, Path(target), history_file_stem(node))
