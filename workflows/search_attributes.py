"""The custom search attributes: pseudonymous reference, stage, flags and dates only.

Search attributes are stored unencrypted and shown in the Temporal UI, so no name,
address or description may ever be written to one.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CUSTOMER_REF = SearchAttributeKey.for_keyword("CustomerRef")
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
RISK_FLAG = SearchAttributeKey.for_bool("RiskFlag")
NEXT_REVIEW_AT = SearchAttributeKey.for_datetime("NextReviewAt")
POLICY_PROFILE = SearchAttributeKey.for_keyword("PolicyProfile")
OPEN_TASKS = SearchAttributeKey.for_int("OpenTasks")
REVIEW_OVERDUE = SearchAttributeKey.for_bool("ReviewOverdue")

ALL_KEYS = (
    CUSTOMER_REF,
    CASE_STAGE,
    RISK_FLAG,
    NEXT_REVIEW_AT,
    POLICY_PROFILE,
    OPEN_TASKS,
    REVIEW_OVERDUE,
)

# name -> the type name `temporal server start-dev --search-attribute NAME=TYPE` expects
SEARCH_ATTRIBUTE_TYPES: dict[str, str] = {
    "CustomerRef": "Keyword",
    "CaseStage": "Keyword",
    "RiskFlag": "Bool",
    "NextReviewAt": "Datetime",
    "PolicyProfile": "Keyword",
    "OpenTasks": "Int",
    "ReviewOverdue": "Bool",
}
