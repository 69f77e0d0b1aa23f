"""The case's ``state`` query shows a task only once it is on record.

A one-step pass (or handler) opens its tasks in the case's state at once and writes them
to the records at its end. In between, a task shown in the state could not be completed
through the API (``POST /v1/tasks/{id}/complete`` finds tasks in the records: 404).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policy.profiles import load_profile
from workflows.case import CaseWorkflow
from workflows.messages import CaseInput, CaseWrite, CreateTask, Task

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def task(task_id: str) -> Task:
    return Task(task_id, "initial_warning", "officer", NOW, NOW + timedelta(days=5))


def case_with(on_record: list[Task], pending: list[Task]) -> CaseWorkflow:
    case = CaseWorkflow(CaseInput("C1", load_profile("housing_solutions")))
    case._state.open_tasks = [*on_record, *pending]
    case._pending = [CaseWrite(task=CreateTask("ucb-case-C1/1", "C1", t)) for t in pending]
    return case


def test_a_task_not_yet_on_record_is_not_shown() -> None:
    case = case_with([task("on-record")], [task("pending")])
    assert [t.task_id for t in case.state().open_tasks] == ["on-record"]
    # The case itself still knows both: the pass goes on with them.
    assert [t.task_id for t in case._state.open_tasks] == ["on-record", "pending"]


def test_once_written_every_open_task_is_shown() -> None:
    case = case_with([task("a"), task("b")], [])
    assert case.state() is case._state
    assert [t.task_id for t in case.state().open_tasks] == ["a", "b"]
