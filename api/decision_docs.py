"""The OpenAPI documentation of a task decision: each task kind's outcomes, the fields each
outcome needs, and worked examples.

The table is generated from ``policy.tasks.OUTCOMES`` and ``policy.decisions.decision_fields``
(the constants the decision checks themselves read), so it cannot drift from the rules.
"""

from __future__ import annotations

from typing import Any

from policy.decisions import decision_fields
from policy.tasks import OUTCOMES, TaskKind, decider_role

# Rules that depend on the case rather than on the outcome alone (``check_decision``).
CASE_DEPENDENT_RULES = (
    "`terms` of a communication protocol must also set out what the customer's policy "
    "profile requires (HS 6.5.4; e.g. the main point of staff contact): `422` naming "
    "`terms` otherwise.",
    "`review_after_seconds` must lie within the profile's review period (left out: the "
    "profile's default).",
    "`appeal_decision` `varied` is only for an appeal against a restriction; a warning or "
    "the risk flag is upheld or overturned. The Director deciding an appeal must not have "
    "been involved in the original decision.",
    "`police_report` `not_reported` is refused when violence was used or threatened (HS 6.3.1).",
    "`support_referral` `referred` needs the customer's consent recorded first "
    "(`referral_consent` in `POST /v1/cases/{customer_ref}/support`).",
)


def _decided_by(kind: TaskKind) -> str:
    if kind is TaskKind.PROTOCOL_REVIEW:
        return "the profile's reviewer (a Director after ended direct contact)"
    return str(decider_role(kind, review_decider="manager"))


def _fields(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "—"


def outcomes_table() -> str:
    """A Markdown table: every task kind, who decides it, each outcome and its fields."""
    rows = [
        "| task kind | decided by | outcome | required | optional |",
        "|---|---|---|---|---|",
    ]
    for kind in TaskKind:
        for outcome in sorted(OUTCOMES[kind]):
            fields = decision_fields(kind, outcome)
            rows.append(
                f"| `{kind}` | {_decided_by(kind)} | `{outcome}` | "
                f"{_fields(fields.required)} | {_fields(fields.optional)} |"
            )
    return "\n".join(rows)


def outcome_description() -> str:
    """The description of ``DecisionIn.outcome``: the table and the case-dependent rules."""
    rules = "\n".join(f"- {rule}" for rule in CASE_DEPENDENT_RULES)
    return (
        "The decision. Which outcomes a task allows depends on its `kind` (the task's "
        "`kind` in `GET /v1/tasks`); any other value is refused with `422` naming "
        "`outcome`. Besides `outcome`, each outcome needs the fields listed as required; "
        "fields not listed for an outcome are ignored. `customer_reason` is required "
        "whenever the customer is told of the decision in a letter.\n\n"
        f"{outcomes_table()}\n\nAlso checked, depending on the case:\n\n{rules}"
    )


def outcomes_extension() -> dict[str, dict[str, dict[str, list[str]]]]:
    """``x-outcomes``: the same table, machine-readable: kind -> outcome -> fields."""
    table: dict[str, dict[str, dict[str, list[str]]]] = {}
    for kind in TaskKind:
        table[kind.value] = {}
        for outcome in sorted(OUTCOMES[kind]):
            fields = decision_fields(kind, outcome)
            table[kind.value][outcome] = {
                "required": list(fields.required),
                "optional": list(fields.optional),
            }
    return table


# Worked examples of POST /v1/tasks/{task_id}/complete: (kind, outcome, summary, body).
WORKED_EXAMPLES: tuple[tuple[TaskKind, str, str, dict[str, Any]], ...] = (
    (
        TaskKind.INITIAL_WARNING,
        "issued",
        "initial_warning: issued by letter",
        {
            "outcome": "issued",
            "method": "letter",
            "reason": "Three abusive emails to the repairs team in one week.",
            "customer_reason": "You sent us three emails this week that used abusive "
            "language towards our staff.",
        },
    ),
    (
        TaskKind.BEHAVIOUR_ASSESSMENT,
        "unacceptable",
        "behaviour_assessment: unacceptable, with the factors weighed",
        {
            "outcome": "unacceptable",
            "reason": "Persistent contact despite the initial and the formal warning.",
            "factors": {
                "instances": 14,
                "contact_levels": "40 emails and 12 calls in two weeks about one repair.",
                "language": "Demanding and repetitive, not abusive.",
                "needs_and_circumstances": "No support needs known; asked and none disclosed.",
            },
        },
    ),
    (
        TaskKind.PROTOCOL_AUTHORISATION,
        "authorised",
        "protocol_authorisation: authorised, with the protocol's terms",
        {
            "outcome": "authorised",
            "reason": "Assessment found the contact unacceptable; a protocol is proportionate.",
            "customer_reason": "You have contacted us many times a day about the same "
            "repair after our formal warning.",
            "terms": {
                "contact_methods": ["letter", "email"],
                "single_point_of_contact": "Jo Bloggs, Tenancy Officer",
                "contact_times": "One email a week, answered within five working days",
                "topics": "The kitchen repair at the customer's home",
                "issue_limit": "One issue per email",
            },
            "reasonable_adjustments": "Letters in large print, as the customer asked.",
            "review_after_seconds": 15778800,
        },
    ),
    (
        TaskKind.APPEAL_DECISION,
        "upheld",
        "appeal_decision: upheld",
        {
            "outcome": "upheld",
            "reason": "The protocol was proportionate; contact levels have not changed.",
            "customer_reason": "We looked again at our decision and the reasons for it, "
            "and the communication protocol stays in place.",
        },
    ),
    (
        TaskKind.POLICE_REPORT,
        "reported",
        "police_report: reported, with the police reference",
        {
            "outcome": "reported",
            "reason": "Threat of violence made to a housing officer by phone.",
            "reference": "CAD-2026-0412",
        },
    ),
)


def completion_examples() -> dict[str, dict[str, Any]]:
    """``openapi_examples`` for the decision body, one per worked example."""
    return {
        f"{kind.value}-{outcome}": {
            "summary": summary,
            "description": f"A `{kind}` task decided `{outcome}`: required "
            f"{_fields(decision_fields(kind, outcome).required)}.",
            "value": body,
        }
        for kind, outcome, summary, body in WORKED_EXAMPLES
    }
