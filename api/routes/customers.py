"""Customer contact details, registered ahead of (or alongside) incidents."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.deps import RecordsDep
from api.schemas import CustomerDetails, CustomerRef, CustomerRegistered

router = APIRouter(prefix="/v1", tags=["customers"])


@router.put("/customers/{customer_ref}")
async def put_customer(
    customer_ref: CustomerRef, body: CustomerDetails, records: RecordsDep
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
