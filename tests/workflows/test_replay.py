"""The replay guard: saved histories of every policy path replay with today's code.

A case runs for years, so a new version of the workflow code meets histories written by
every older one. Each file under tests/histories/ is the history of a real run recorded
from the workflow tests (``UCB_RECORD_HISTORIES``, see tests/workflows/conftest.py);
replaying it offline with the current code fails with a NondeterminismError as soon as
the code would now do something different from what the history says it did. See
"Changing workflow code safely" in the README.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from settings import Settings
from starter.codec import data_converter
from worker import workflow_runner
from workflows.case import CaseWorkflow
from workflows.letter import LetterWorkflow
from workflows.messages import CaseInput

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
PROFILES = {"housing_solutions", "magna"}


def saved_histories() -> dict[Path, WorkflowHistory]:
    """Every saved history (older recordings may sit in subdirectories), by file."""
    histories = {}
    for path in sorted(HISTORIES.rglob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        histories[path] = WorkflowHistory.from_json(document["workflowId"], document)
    return histories


def replayer() -> Replayer:
    """Replays as the worker runs: same workflows, sandbox and (encrypting) converter."""
    return Replayer(
        workflows=[CaseWorkflow, LetterWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=data_converter(Settings(environment="test")),
    )


async def test_every_saved_history_replays_with_the_current_code() -> None:
    histories = saved_histories()
    assert histories, f"no saved histories under {HISTORIES}"
    by_run = {history.run_id: path for path, history in histories.items()}
    assert len(by_run) == len(histories), "two saved files hold the same run"

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories.values():
            yield history

    failures: dict[str, str] = {}
    replayed = 0
    async with replayer().workflow_replay_iterator(each()) as results:
        async for result in results:
            replayed += 1
            if result.replay_failure is not None:
                name = by_run[result.history.run_id].relative_to(HISTORIES)
                failures[str(name)] = repr(result.replay_failure)[:400]
    assert replayed == len(histories)
    assert not failures, "histories no longer replay:\n" + "\n".join(
        f"{name}: {failure}" for name, failure in sorted(failures.items())
    )


async def test_saved_histories_cover_both_profiles_and_both_workflows() -> None:
    converter = data_converter(Settings(environment="test"))
    profiles: set[str] = set()
    workflow_types: set[str] = set()
    for history in saved_histories().values():
        started = history.events[0].workflow_execution_started_event_attributes
        workflow_types.add(started.workflow_type.name)
        if started.workflow_type.name == "CaseWorkflow":
            [case_input] = await converter.decode(started.input.payloads, [CaseInput])
            profiles.add(case_input.profile.name)
    assert profiles >= PROFILES, f"saved histories cover only the profiles {profiles}"
    assert workflow_types == {"CaseWorkflow", "LetterWorkflow"}, workflow_types
