"""The OpenAPI document describes every field, each task kind's outcomes and the fields
they need (as the decision checks do), with worked examples; the docs pages load nothing
from another host."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.decision_docs import WORKED_EXAMPLES
from api.decision_schemas import DecisionIn
from policy.decisions import (
    DecisionFacts,
    DecisionRejected,
    ProposedDecision,
    check_decision,
    decision_fields,
)
from policy.profiles import load_profile
from policy.protocol import AssessmentFactors, ProtocolTerms
from policy.tasks import OUTCOMES, TaskKind

SCHEMA: dict[str, Any] = create_app().openapi()
DURATIONS = load_profile("magna").durations


def undescribed(schema: dict[str, Any], where: str) -> list[str]:
    """Every property under ``schema`` (nested objects too) without a description."""
    found = []
    for name, prop in (schema.get("properties") or {}).items():
        if not prop.get("description"):
            found.append(f"{where}.{name}")
        found += undescribed(prop, f"{where}.{name}")
    return found


def test_every_schema_property_has_a_description() -> None:
    missing = [
        path
        for name, schema in SCHEMA["components"]["schemas"].items()
        for path in undescribed(schema, name)
    ]
    assert not missing, f"properties without a description: {missing}"


def outcome_schema() -> dict[str, Any]:
    return SCHEMA["components"]["schemas"]["DecisionIn"]["properties"]["outcome"]  # type: ignore[no-any-return]


def test_the_outcome_documentation_lists_every_kind_and_outcome_with_its_fields() -> None:
    outcome = outcome_schema()
    rows = {
        (match[1], match[2]): (match[3], match[4])
        for match in re.finditer(
            r"^\| `(\w+)` \| [^|]+ \| `(\w+)` \| ([^|]+) \| ([^|]+) \|$",
            outcome["description"],
            re.MULTILINE,
        )
    }
    assert {kind for kind, _ in rows} == {kind.value for kind in OUTCOMES}
    for kind, outcomes in OUTCOMES.items():
        for name in outcomes:
            required, _optional = rows[(kind.value, name)]
            for field in decision_fields(kind, name).required:
                assert f"`{field}`" in required, (kind, name, field)
    assert outcome["x-outcomes"] == {
        kind.value: {
            name: {
                "required": list(decision_fields(kind, name).required),
                "optional": list(decision_fields(kind, name).optional),
            }
            for name in sorted(outcomes)
        }
        for kind, outcomes in OUTCOMES.items()
    }


def everything(kind: TaskKind, outcome: str) -> ProposedDecision:
    """A decision with every field filled in, which the checks accept."""
    return ProposedDecision(
        outcome=outcome,
        decided_by="decider-1",
        role="decider",
        reason="why it was decided",
        method="letter",
        terms=ProtocolTerms(
            contact_methods=["letter"],
            single_point_of_contact="Jo Bloggs",
            contact_times="Mondays",
            topics="the repair",
        ),
        review_after_seconds=DURATIONS.review_period_min,
        reference="CAD-1",
        factors=AssessmentFactors(
            instances=3, contact_levels="high", language="polite", needs_and_circumstances="none"
        ),
        reasonable_adjustments="none needed",
        customer_reason="why, for the customer",
    )


CASE = DecisionFacts(
    kind=TaskKind.INITIAL_WARNING,
    allowed_roles=frozenset({"decider"}),
    durations=DURATIONS,
    involved=frozenset(),
    violent=False,
    restriction="protocol",
    referral_consent=True,
)
EVERY_OUTCOME = [(kind, name) for kind, names in OUTCOMES.items() for name in sorted(names)]


@pytest.mark.parametrize(("kind", "outcome"), EVERY_OUTCOME)
def test_the_documented_required_fields_are_the_ones_the_checks_require(
    kind: TaskKind, outcome: str
) -> None:
    facts = replace(CASE, kind=kind)
    complete = everything(kind, outcome)
    check_decision(facts, complete)
    fields = decision_fields(kind, outcome)
    for field in fields.required:
        empty: dict[str, Any] = {field: "" if field == "reason" else None}
        with pytest.raises(DecisionRejected) as rejected:
            check_decision(facts, replace(complete, **empty))
        assert rejected.value.field == field, (kind, outcome, field)
    # a field not listed may be left out
    documented = {*fields.required, *fields.optional}
    for field in ("customer_reason", "method", "terms", "reference", "factors"):
        if field not in documented:
            left_out: dict[str, Any] = {field: None}
            check_decision(facts, replace(complete, **left_out))


def test_the_worked_examples_are_valid_decisions_with_their_required_fields() -> None:
    operation = SCHEMA["paths"]["/v1/tasks/{task_id}/complete"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    covered = {(kind.value, outcome) for kind, outcome, _summary, _body in WORKED_EXAMPLES}
    assert {
        ("initial_warning", "issued"),
        ("behaviour_assessment", "unacceptable"),
        ("protocol_authorisation", "authorised"),
        ("appeal_decision", "upheld"),
    } <= covered
    assert len(examples) == len(WORKED_EXAMPLES)
    for kind, outcome, _summary, body in WORKED_EXAMPLES:
        example = examples[f"{kind.value}-{outcome}"]
        assert example["summary"] and example["value"] == body
        decision = DecisionIn.model_validate(body)
        assert decision.outcome == outcome and outcome in OUTCOMES[kind]
        for field in decision_fields(kind, outcome).required:
            assert getattr(decision, field), (kind, outcome, field)


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_docs_pages_reference_only_the_apis_own_assets(path: str) -> None:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        page = await http.get(path)
        assert page.status_code == 200
        assert not EXTERNAL.search(page.text), page.text
        assert "fonts.googleapis.com" not in page.text
        for asset in re.findall(r"""(?:src|href)="([^"]+)""", page.text):
            assert asset.startswith("/docs-assets/"), asset
            assert (await http.get(asset)).status_code == 200, asset
        script = await http.get("/docs-assets/redoc.standalone.js")
        assert b"cdn.redoc.ly" not in script.content
