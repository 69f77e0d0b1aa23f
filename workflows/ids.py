"""Identifiers derived from business keys (deterministic, no personal data)."""

from __future__ import annotations

import re

CUSTOMER_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_CUSTOMER_REF = re.compile(CUSTOMER_REF_PATTERN)


def is_valid_customer_ref(customer_ref: str) -> bool:
    """A pseudonymous reference: letters, digits, '-' and '_' only, at most 64 characters."""
    return bool(_CUSTOMER_REF.match(customer_ref))


def case_workflow_id(customer_ref: str) -> str:
    """The one workflow per customer (DESIGN: workflow id from the customer reference)."""
    if not is_valid_customer_ref(customer_ref):
        raise ValueError(f"not a valid customer reference: {customer_ref!r}")
    return f"ucb-case-{customer_ref}"


def customer_ref_of(case_key: str) -> str:
    """The customer reference inside a case key (``ucb-case-<ref>/<episode>``)."""
    return case_key.split("/")[0].removeprefix("ucb-case-")


def letter_id(case_id: str, step: str) -> str:
    """A letter's business key: one letter per case and step, whatever retries happen."""
    return f"{case_id}:{step}"
