"""Customer contact details, registered ahead of (or alongside) incidents."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.auth import ArrangementReader, Intake
from api.decision_schemas import ArrangementsOut
from api.deps import RecordsDep
from api.schemas import CustomerDetails, CustomerRef, CustomerRegistered
from policy.protocol import DIRECT_CONTACT_ENDED, arrangements

router = APIRouter(prefix="/v1", tags=["customers"])


@router.put("/customers/{customer_ref}")
async def put_customer(
    customer_ref: CustomerRef, body: CustomerDetails, _: Intake, records: RecordsDep
) -> CustomerRegistered:
    """Register or update a customer's contact details (fields left out are unchanged)."""
    customer = await records.upsert_customer(
        customer_ref,
        datetime.now(UTC),
        name=body.name,
        email=body.email,
        postal_address=body.postal_address,
    )
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
    if case is not None and case.direct_contact_ended and case.closed_at is None:
        lines += [line for line in arrangements(DIRECT_CONTACT_ENDED) if line not in lines]
    return ArrangementsOut(
        customer_ref=customer_ref,
        risk_flag=bool(case and case.risk_flag and case.closed_at is None),
        arrangements=lines,
        review_due=protocol.next_review_at if protocol else None,
    )
