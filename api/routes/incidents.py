"""Incident intake: validate, store, then signal-with-start.

The incident, the customer's details and the call's audit row are written in one unit
of work *before* the case is signalled, so an accepted incident is never lost, a
database that is down answers 503 before anything reaches Temporal, and the signal
carries no description (the records keep it; workflow payloads stay small).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy.exc import IntegrityError
from temporalio.service import RPCError

from api.deps import RecordsDep, SettingsDep, TemporalDep, audit_call
from api.faults import RETRY_AFTER_HEADERS
from api.ratelimit import LimitedIntake
from api.schemas import IncidentAccepted, IncidentIn
from starter.temporal import report_incident
from workflows.messages import IncidentReport

router = APIRouter(prefix="/v1", tags=["incidents"])

_INCIDENT_NAMESPACE = uuid.UUID("5b0f3c1e-8f51-4d7e-9a55-7d3c1c7a2f10")


def incident_id_for(customer_ref: str, source_reference: str | None) -> str:
    """Stable for a case system's own reference (so a resend is idempotent), else random."""
    if source_reference:
        return str(uuid.uuid5(_INCIDENT_NAMESPACE, f"{customer_ref}\x1f{source_reference}"))
    return str(uuid.uuid4())


@router.post("/incidents", status_code=status.HTTP_202_ACCEPTED)
async def post_incident(
    request: Request,
    body: IncidentIn,
    principal: LimitedIntake,
    settings: SettingsDep,
    records: RecordsDep,
    client: TemporalDep,
) -> IncidentAccepted:
    """Report an incident; the customer's case is opened if it does not exist.

    Rate limited per token subject and per client address (``429`` with ``Retry-After``)."""
    now = datetime.now(UTC)
    incident = IncidentReport(
        incident_id=incident_id_for(body.customer_ref, body.source_reference),
        customer_ref=body.customer_ref,
        category=body.category,
        channel=body.channel,
        occurred_at=body.occurred_at,
        description=body.description,
        reported_by=body.reported_by,
        reported_at=now,
        warned_by_officer=body.warned_by_officer,
        immediate_action_requested=body.immediate_action_requested,
        affected_colleague=body.affected_colleague,
        submitted_by=principal.user,
        submitted_role=principal.role_names,
    )
    audit = audit_call(
        principal,
        "POST /v1/incidents",
        status.HTTP_202_ACCEPTED,
        "/v1/incidents",
        now,
        incident_id=incident.incident_id,
    )
    customer = body.customer.model_dump(exclude_none=True) if body.customer else None
    resend = False
    try:
        tenancy = await records.receive_incident(incident, customer, audit)
    except IntegrityError:
        resend = True  # the same source_reference again: the case has it (or gets it now)
        await records.record_api_call(replace(audit, details={**audit.details, "resend": True}))
        known = await records.get_customer(body.customer_ref)
        tenancy = known.tenancy if known else None
    request.state.audited = True
    signal = replace(incident, description="", tenancy=tenancy)
    try:
        handle = await report_incident(client, settings, signal)
    except RPCError as exc:
        if not resend:
            await records.withdraw_incident(incident.incident_id)
        request.state.audited = False  # the 503 is audited too
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the case service could not accept the incident; nothing was recorded, retry later",
            headers=dict(RETRY_AFTER_HEADERS),
        ) from exc
    await records.incident_signalled(incident.incident_id)
    return IncidentAccepted(
        incident_id=incident.incident_id,
        case_id=handle.id,
        status="already_received" if resend else "accepted",
    )
