"""The activity steps of the scheduled workflows (retention, the Board packs): each
workflow gives its timeouts and retry policy once, and every step it runs uses them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

ParamT = TypeVar("ParamT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class ActivitySteps:
    """How one workflow runs its activities: a try's timeout, the whole step's budget
    (retries included) and the retry policy."""

    start_to_close: timedelta
    schedule_to_close: timedelta
    retry: RetryPolicy

    async def run(
        self, method: Callable[[Any, ParamT], Awaitable[ResultT]], argument: ParamT
    ) -> ResultT:
        """Run one activity with the shared timeouts and retry policy."""
        return await workflow.execute_activity_method(
            method,
            argument,
            start_to_close_timeout=self.start_to_close,
            schedule_to_close_timeout=self.schedule_to_close,
            retry_policy=self.retry,
        )
