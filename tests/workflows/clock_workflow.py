"""A workflow with a non-deterministic call in its code: what the sandbox must stop.

In a module of its own, importing nothing but Temporal, so the sandbox can load it.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn(name="ReadsTheClock")
class ReadsTheClock:
    """Reads the wall clock in workflow code."""

    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()
