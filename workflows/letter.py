"""Delivering one stored letter: the retry budget, how a failure is explained to staff,
and the letter workflow.

A case never waits on the mail server. Since the patch ``letter-from-case`` the case runs
the delivery activity itself without awaiting it (one workflow, no child); runs from
before it, and deliveries still retrying when a run continues-as-new, go to the letter
workflow below. Either way, while the mail server is down the delivery retries (within
its budget), and an address that cannot be used, or a budget run out, becomes a task for
staff to correct the details and resend.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.activity_api import CaseActivityApi
    from workflows.errors import ErrorType
    from workflows.messages import DeliveredLetter, DeliverLetter, LetterProblem

PERMANENT = (ErrorType.LETTER_UNDELIVERABLE, ErrorType.LETTER_NOT_RENDERED)
DELIVERY_ATTEMPT_TIMEOUT = timedelta(seconds=60)


@workflow.defn(name="LetterWorkflow")
class LetterWorkflow:
    """Deliver one letter: retry transient faults, report permanent ones to the case."""

    @workflow.run
    async def run(self, request: DeliverLetter) -> DeliveredLetter:
        """Send (or store for the post room) the letter; tell the case if it cannot."""
        try:
            return await workflow.execute_activity_method(
                CaseActivityApi.deliver_letter, request, **delivery_options(request)
            )
        except ActivityError as failure:
            problem, explanation = explain_failure(failure, request.budget_seconds)
        try:
            await workflow.get_external_workflow_handle(request.case_workflow_id).signal(
                "letter_undeliverable",
                LetterProblem(request.letter_id, request.kind, problem, explanation),
            )
        except ApplicationError:
            workflow.logger.warning("the case of an undeliverable letter has ended")
        return DeliveredLetter(request.letter_id, "undeliverable", problem=problem)


def delivery_options(request: DeliverLetter) -> dict[str, Any]:
    """Timeouts and retries of one delivery: transient faults retry within its budget."""
    return {
        "start_to_close_timeout": DELIVERY_ATTEMPT_TIMEOUT,
        "schedule_to_close_timeout": timedelta(seconds=request.budget_seconds),
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=request.retry_max_interval_seconds),
            non_retryable_error_types=[str(kind) for kind in PERMANENT],
        ),
    }


def explain_failure(failure: ActivityError, budget_seconds: int) -> tuple[str, str]:
    """The problem's code and, in plain words for staff, what to fix."""
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.type in PERMANENT:
        return str(cause.type), cause.message
    hours = max(1, budget_seconds // 3600)
    return (
        "delivery_timed_out",
        f"the mail server could not take the letter for {hours} hour(s): check the mail "
        "server, then resend the letter",
    )
