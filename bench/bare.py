"""The bare workflow of `bench/capacity.py`'s baselines, in a module of its own.

The sandbox imports a workflow's module afresh for every run (and every replay), so the
module a baseline's workflow lives in is part of what the baseline costs: this one holds
the workflow and its activity and nothing else, and imports only the standard library and
temporalio, as a bare Temporal workflow would.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from temporalio import activity, workflow

NOOP_TIMEOUT = timedelta(seconds=60)
TALLY_ENV = "BENCH_CAPACITY_TALLY"
ran: list[tuple[str, float]] = []  # (tag, time.time()) of every no-op activity in process


@activity.defn(name="bench_noop")
async def bare_noop(tag: str) -> None:
    """Does nothing but say when it ran (in process, and in the tally file if set)."""
    ran.append((tag, time.time()))
    tally = os.environ.get(TALLY_ENV)
    if tally:
        _append(tally, tag)


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


@workflow.defn(name="BenchBare")
class BareWorkflow:
    """Sleeps until ``wake_at`` (epoch seconds; 0: no sleep) then runs one activity; then one
    activity per ``poke`` signal, until ``finish``."""

    def __init__(self) -> None:
        self._pokes = 0
        self._done = 0
        self._finish = False

    @workflow.signal
    def poke(self) -> None:
        self._pokes += 1

    @workflow.signal
    def finish(self) -> None:
        self._finish = True

    @workflow.query
    def done(self) -> int:
        return self._done

    @workflow.run
    async def run(self, wake_at: float) -> int:
        tag = workflow.info().workflow_id
        if wake_at:
            await workflow.sleep(max(0.0, wake_at - workflow.now().timestamp()))
            await workflow.execute_activity(bare_noop, tag, start_to_close_timeout=NOOP_TIMEOUT)
            self._done += 1
        while True:
            await workflow.wait_condition(lambda: self._pokes > 0 or self._finish)
            if self._pokes:
                self._pokes -= 1
                await workflow.execute_activity(bare_noop, tag, start_to_close_timeout=NOOP_TIMEOUT)
                self._done += 1
            elif self._finish:
                return self._done
