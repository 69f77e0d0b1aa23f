"""Customer contact details, registered ahead of (or alongside) incidents."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from api.auth import ArrangementReader, Intake
from api.decision_schemas import ArrangementsOut
from api.deps import RecordsDep, audit_call
from api.schemas import CustomerDetails, CustomerRef, CustomerRegistered
from policy.protocol import DIRECT_CONTACT_ENDED, INTERIM_MEASURES, arrangements

router = APIRouter(prefix="/v1", tags=["customers"])


@router.put("/customers/{customer_ref}")
async def put_customer(
    customer_ref: CustomerRef,
    body: CustomerDetails,
    principal: Intake,
    records: RecordsDep,
    request: Request,
) -> CustomerRegistered:
    """Register or update a customer's contact details (fields left out are unchanged);
    the audit row, written with the change, holds each changed field before and after."""
    now = datetime.now(UTC)
    audit = audit_call(
        principal, "PUT /v1/customers/{customer_ref}", 200, f"/v1/customers/{customer_ref}", now
    )
    customer = await records.update_customer(
        customer_ref,
        now,
        audit,
        name=body.name,
        email=body.email,
        postal_address=body.postal_address,
        tenancy=body.tenancy,
    )
    request.state.audited = True
    return CustomerRegistered(
        customer_ref=customer.customer_ref,
        has_name=bool(customer.name),
        has_email=bool(customer.email),
        has_postal_address=bool(customer.postal_address),
    )


@router.get("/customers/{customer_ref}/arrangements")
async def get_arrangements(
    customer_ref: CustomerRef, _: ArrangementReader, records: RecordsDep
) -> ArrangementsOut:
    """The contact arrangements and risk flag in force: what, never why (need to know)."""
    case = await records.latest_case(customer_ref)
    protocol = await records.protocol_in_force(customer_ref)
    lines: list[str] = list(protocol.arrangements) if protocol else []
    live = case is not None and case.closed_at is None
    if live and case is not None and case.direct_contact_ended and protocol is None:
        # A first-round case ended direct contact with fixed terms and no record of them.
        lines += arrangements(DIRECT_CONTACT_ENDED)
    if live and case is not None and case.interim_measures:
        lines += [f"Interim: {measure}" for measure in INTERIM_MEASURES]
    return ArrangementsOut(
        customer_ref=customer_ref,
        risk_flag=bool(case and case.risk_flag and case.closed_at is None),
        arrangements=lines,
        review_due=protocol.next_review_at if protocol else None,
    )
