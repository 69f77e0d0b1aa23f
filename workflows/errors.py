"""The error types a case raises, shared by the workflow, its activities and the API.

The offending field travels in the error's details, never parsed out of its message.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from temporalio.exceptions import ApplicationError


class ErrorType(StrEnum):
    """Every ApplicationError type the case workflow, its activities and the API use."""

    INVALID_REQUEST = "InvalidRequest"  # the caller must correct the request
    CASE_CONFLICT = "CaseConflict"  # the case's current state does not allow it
    TASK_ALREADY_DECIDED = "TaskAlreadyDecided"
    UNKNOWN_TASK = "UnknownTask"
    DECISION_REJECTED = "DecisionRejected"
    STEP_FAILED = "StepFailed"  # a step failed for good; staff have a task saying why
    RECORDS_REJECTED = "RecordsRejected"  # the records refused a write (permanent)
    LETTER_UNDELIVERABLE = "LetterUndeliverable"  # the address cannot be used (permanent)
    LETTER_NOT_RENDERED = "LetterNotRendered"  # the letter could not be built (permanent)


def case_error(kind: ErrorType, message: str, field: str | None = None) -> ApplicationError:
    """A non-retryable error of ``kind``; ``field`` names the input to correct, if any."""
    return ApplicationError(message, {"field": field}, type=str(kind), non_retryable=True)


def error_field(details: Sequence[Any]) -> str | None:
    """The field an error's details name (None if they name none)."""
    for item in details:
        if isinstance(item, dict) and isinstance(item.get("field"), str):
            return str(item["field"])
    return None
