"""An audit trail that cannot lie: one case walked through every endpoint that changes a
case or reads its personal data, each call by its own token, and every call found in
the trail under that token's identity and roles (never a name from the body).

The walk covers the whole escalation path over real HTTP — intake, initial and formal
warnings, the behaviour assessment, the protocol's authorisation, an appeal and its
decision, support (with equality monitoring), equality monitoring on its own, a risk-flag
review, a change of contact details, break glass, reads of the case, its equality
monitoring, its state, a letter, the trail and its export, codec decoding, revocation —
and the test fails if the API grows an audited endpoint the walk does not call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from temporalio.worker import Worker

from api.app import AUDITED_READS, create_app
from records.repository import Records
from settings import Settings
from tests.support import eventually

TERMS = {
    "contact_methods": ["letter"],
    "single_point_of_contact": "Jo, Customer Relations",
    "contact_times": "one letter a week",
    "topics": "the repair only",
}
FACTORS = {
    "instances": 4,
    "contact_levels": "four calls in a week after a formal warning",
    "language": "demanding",
    "needs_and_circumstances": "asked; none disclosed",
}
DECIDERS = ("officer", "manager", "head_of_service", "director")
# Changing routes that change nothing a case holds (and so have nothing to audit).
NOT_CASE_CHANGES = {"POST /codec/encode"}  # closed: refuses every payload


@dataclass
class Walk:
    """Every call made, as (route template, user, roles, status)."""

    http: httpx.AsyncClient
    token_for: Any
    ref: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    calls: list[tuple[str, str, str, int]] = field(default_factory=list)

    def user(self, name: str) -> str:
        return f"{name}-{self.run}"

    async def call(
        self, route: str, roles: tuple[str, ...], name: str, **kwargs: Any
    ) -> httpx.Response:
        """Call ``route`` (``METHOD template``) as ``name`` with ``roles``; remember it."""
        method, template = route.split(" ", 1)
        user = self.user(name)
        path = template.format(customer_ref=self.ref, **kwargs.pop("path", {}))
        headers = {"Authorization": f"Bearer {self.token_for(*roles, user=user)}"}
        response = await self.http.request(method, path, headers=headers, **kwargs)
        self.calls.append((route, user, ",".join(sorted(roles)), response.status_code))
        return response

    async def task(self, kind: str) -> str:
        """The open task of ``kind`` on the walked case (listing is not an audited read)."""

        async def listed() -> str | None:
            page = await self.http.get(
                "/v1/tasks",
                params={"customer_ref": self.ref, "kind": kind},
                headers={"Authorization": f"Bearer {self.token_for(*DECIDERS, user='lister')}"},
            )
            items = page.json().get("items") if page.status_code == 200 else None
            return str(items[0]["task_id"]) if items else None

        return await eventually(listed, within=60)

    async def incident(self, n: int) -> None:
        body = {
            "customer_ref": self.ref,
            "category": "unreasonable_persistence",
            "channel": "phone",
            "occurred_at": f"2026-11-{10 + n:02d}T10:00:00Z",
            "description": f"Call {n} about the same closed repair",
            "reported_by": "director-named-in-the-body",
            "customer": {"name": "Pat Walker", "email": f"{self.ref.lower()}@example.org"},
        }
        answer = await self.call("POST /v1/incidents", ("case_system",), f"crm{n}", json=body)
        assert answer.status_code == 202, answer.text

    async def complete(
        self, kind: str, role: str, name: str, body: dict[str, Any]
    ) -> httpx.Response:
        task_id = await self.task(kind)
        answer = await self.call(
            "POST /v1/tasks/{task_id}/complete",
            (role,),
            name,
            path={"task_id": task_id},
            json={"reason": f"{kind}: internal note", **body},
        )
        assert answer.status_code == 200, (kind, answer.text)
        return answer


async def walk_every_audited_endpoint(walk: Walk) -> None:
    """The escalation path, then every other change and read, each by its own token."""
    said = "You contacted us again after our letter."
    await walk.incident(1)
    task = await walk.task("initial_warning")
    claimed = await walk.call(
        "POST /v1/tasks/{task_id}/claim", ("officer",), "officer-warns", path={"task_id": task}
    )
    assert claimed.status_code == 200, claimed.text
    released = await walk.call(
        "POST /v1/tasks/{task_id}/release", ("officer",), "officer-warns", path={"task_id": task}
    )
    assert released.status_code == 200, released.text
    await walk.call(
        "POST /v1/tasks/{task_id}/claim", ("officer",), "officer-warns", path={"task_id": task}
    )
    await walk.complete(
        "initial_warning",
        "officer",
        "officer-warns",
        {"outcome": "issued", "method": "letter", "customer_reason": said},
    )
    await walk.incident(2)
    await walk.complete(
        "formal_warning", "officer", "officer-warns", {"outcome": "issued", "customer_reason": said}
    )
    await walk.incident(3)
    await walk.incident(4)
    await walk.complete(
        "behaviour_assessment",
        "manager",
        "manager-assesses",
        {"outcome": "unacceptable", "factors": FACTORS, "customer_reason": said},
    )
    await walk.complete(
        "protocol_authorisation",
        "head_of_service",
        "hos-authorises",
        {
            "outcome": "authorised",
            "terms": TERMS,
            "reasonable_adjustments": "Large print",
            "customer_reason": said,
        },
    )
    appeal = await walk.call(
        "POST /v1/cases/{customer_ref}/appeals",
        ("officer",),
        "officer-logs-appeal",
        json={"grounds": "I was only asking about my repair"},
    )
    assert appeal.status_code == 201, appeal.text
    await walk.complete(
        "appeal_decision",
        "director",
        "director-hears-appeal",
        {"outcome": "upheld", "customer_reason": "The protocol stays as it was."},
    )
    support = await walk.call(
        "POST /v1/cases/{customer_ref}/support",
        ("officer",),
        "officer-supports",
        json={
            "reasonable_adjustments": "Large print",
            "mediation_offered": True,
            "equality": {"disability": "prefer_not_to_say"},
        },
    )
    assert support.status_code == 200, support.text
    equality = await walk.call(
        "PUT /v1/customers/{customer_ref}/equality",
        ("case_system",),
        "crm-records-equality",
        json={"ethnicity": "white_british", "age_band": "45_54"},
    )
    assert equality.status_code == 200, equality.text
    # Refused or accepted, an attempt to change a case is on the trail with its outcome.
    await walk.call(
        "POST /v1/cases/{customer_ref}/risk-flag-reviews",
        ("manager",),
        "manager-reviews-flag",
        json={"reason": "Asked to look at the flag again"},
    )
    changed = await walk.call(
        "PUT /v1/customers/{customer_ref}",
        ("case_system",),
        "crm-updates",
        json={"email": f"new-{walk.ref.lower()}@example.org"},
    )
    assert changed.status_code == 200, changed.text

    # Reads of personal data, by people involved (or with a recorded reason).
    case = await walk.call("GET /v1/cases/{customer_ref}", ("officer",), "officer-warns")
    assert case.status_code == 200, case.text
    state = await walk.call("GET /v1/cases/{customer_ref}/state", ("officer",), "officer-warns")
    assert state.status_code == 200, state.text
    monitoring = await walk.call(
        "GET /v1/customers/{customer_ref}/equality", ("officer",), "officer-warns"
    )
    assert monitoring.status_code == 200, monitoring.text
    for paged in ("incidents", "letters"):
        page = await walk.call(
            f"GET /v1/cases/{{customer_ref}}/{paged}", ("officer",), "officer-warns"
        )
        assert page.status_code == 200, page.text
    letter_id = case.json()["letters"][0]["letter_id"]
    letter = await walk.call(
        "GET /v1/letters/{letter_id}", ("officer",), "officer-warns", path={"letter_id": letter_id}
    )
    assert letter.status_code == 200, letter.text
    glass = await walk.call(
        "POST /v1/cases/{customer_ref}/access",
        ("officer",),
        "officer-covers",
        json={"reason": "Covering the case officer's leave; the customer phoned today"},
    )
    assert glass.status_code in (200, 201), glass.text
    covered = await walk.call("GET /v1/cases/{customer_ref}", ("officer",), "officer-covers")
    assert covered.status_code == 200, covered.text
    trail = await walk.call("GET /v1/audit", ("auditor",), "auditor-looks")
    report = await walk.call("GET /v1/reports", ("director",), "director-reports")
    assert report.status_code == 200, report.text
    section = await walk.call(
        "GET /v1/reports/{section}", ("auditor",), "auditor-reports", path={"section": "reviews"}
    )
    assert section.status_code == 200, section.text
    # The inbox's reports page and its CSV downloads (a bearer token works there too).
    shown = await walk.call("GET /inbox/reports", ("manager",), "manager-reports")
    assert shown.status_code == 200, shown.text
    sheet = await walk.call(
        "GET /inbox/reports/{section}.csv",
        ("head_of_service",),
        "hos-reports",
        path={"section": "reviews"},
    )
    assert sheet.status_code == 200, sheet.text
    assert trail.status_code == 200, trail.text
    export = await walk.call(
        "GET /v1/cases/{customer_ref}/audit/export", ("auditor",), "auditor-exports"
    )
    assert export.status_code == 200, export.text
    decoded = await walk.call(
        "POST /codec/decode", ("operator",), "operator-decodes", json={"payloads": []}
    )
    assert decoded.status_code == 200, decoded.text
    revoked = await walk.call(
        "POST /v1/revocations", ("operator",), "operator-revokes", json={"subject": "gone-user"}
    )
    assert revoked.status_code in (200, 201), revoked.text


def audited_routes(settings: Settings) -> set[str]:
    """Every route that changes a case or reads its personal data, from the app itself."""
    paths = create_app(settings).openapi()["paths"]
    routes = set()
    for template, operations in paths.items():
        for method in operations:
            route = f"{method.upper()} {template}"
            if route in AUDITED_READS or (method != "get" and route not in NOT_CASE_CHANGES):
                routes.add(route)
    return routes


@pytest.mark.parametrize("profile", ["housing_solutions", "magna"])
async def test_every_change_and_read_is_on_the_trail_under_the_token_identity(
    api_url: str,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    token_for: Any,
    profile: Literal["housing_solutions", "magna"],
) -> None:
    settings.policy_profile = profile  # read by intake when the case starts
    ref = f"WALK-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        walk = Walk(http, token_for, ref)
        await walk_every_audited_endpoint(walk)

    case = await stack_records.latest_case(ref)
    assert case is not None and case.profile == profile
    # The walk called every audited route the app has (a new one needs a step here).
    walked = {route for route, *_ in walk.calls}
    assert audited_routes(settings) - walked == set()

    for route, user, roles, status in walk.calls:
        rows, _ = await stack_records.audit_events(actor=user, limit=200)
        assert rows, f"{route} by {user} left no audit row"
        assert all(row.role == roles for row in rows), (route, user, [r.role for r in rows])
        mine = [row for row in rows if row.action == route]
        # An endpoint that writes its own row with the change names the action itself.
        assert mine or route in SELF_AUDITED, (route, user, [r.action for r in rows])
        for row in mine:
            assert row.details.get("status") in (status, None), (route, row.details)
    # The body's "reported_by" is data, never the actor.
    named, _ = await stack_records.audit_events(actor="director-named-in-the-body", limit=1)
    assert not named


# Endpoints whose audit row is written in the change's own unit of work, under the
# action the policy names (the actor and roles are still the token's: checked above).
SELF_AUDITED = {
    "POST /v1/incidents",
    "PUT /v1/customers/{customer_ref}",
    "POST /v1/cases/{customer_ref}/support",
    "POST /v1/cases/{customer_ref}/access",
}
