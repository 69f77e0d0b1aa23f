"""Incident intake: validate, keep contact details in the records, signal-with-start."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from temporalio.service import RPCError

from api.auth import Intake
from api.deps import RecordsDep, SettingsDep, TemporalDep
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
    body: IncidentIn,
    _: Intake,
    settings: SettingsDep,
    records: RecordsDep,
    client: TemporalDep,
) -> IncidentAccepted:
    """Report an incident; the customer's case is opened if it does not exist."""
    now = datetime.now(UTC)
    if body.customer is not None:
        await records.upsert_customer(
            body.customer_ref,
            now,
            name=body.customer.name,
            email=body.customer.email,
            postal_address=body.customer.postal_address,
        )
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
    )
    try:
        handle = await report_incident(client, settings, incident)
    except RPCError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the case service could not accept the incident; nothing was recorded, retry later",
        ) from exc
    return IncidentAccepted(incident_id=incident.incident_id, case_id=handle.id)
