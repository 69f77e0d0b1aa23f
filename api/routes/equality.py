"""Equality and vulnerability monitoring (HS 7.1): recorded by staff and the case system
with the customer's support details, read by those with a need to know the case, and
kept in the records only: never in a letter, a contractor's view or the workflow."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status

from api.access import case_access, open_case_file
from api.auth import CaseReader, Staff
from api.casework import Problem
from api.deps import RecordsDep, SettingsDep, audit_call
from api.equality_schemas import (
    EqualityAnswerOut,
    EqualityCategoriesOut,
    EqualityCharacteristicOut,
    EqualityChoiceOut,
    EqualityIn,
    EqualityOut,
    EqualityRecordedOut,
)
from api.schemas import CustomerRef
from policy.access import Access
from policy.equality import (
    CHARACTERISTIC_LABELS,
    EqualityValueError,
    choices,
    label_for,
    validate_equality,
)
from policy.reporting import EQUALITY_CHARACTERISTICS
from records.models import CustomerEquality
from records.repository import ApiCall, Records
from settings import Settings

router = APIRouter(prefix="/v1", tags=["equality"])

ASK = (
    "Ask, never require: the customer may give any, none, or prefer not to say, and may "
    "withdraw what they gave. The answers are used for equality monitoring only."
)


def checked_equality(
    settings: Settings, body: EqualityIn, within: str | None = None
) -> dict[str, str | None]:
    """The characteristics the body gives, checked against the landlord's categories;
    a 422 naming the characteristic (under ``within``, e.g. ``equality``) otherwise."""
    try:
        return validate_equality(settings.policy_profile, body.given())
    except EqualityValueError as error:
        field = f"{within}.{error.characteristic}" if within else error.characteristic
        raise Problem(422, str(error), field) from None


def recorded_characteristics(row: CustomerEquality | None) -> list[str]:
    """The characteristics with an answer recorded (names only)."""
    return [name for name in EQUALITY_CHARACTERISTICS if getattr(row, name, None) is not None]


async def store_equality(
    records: Records, customer_ref: str, values: dict[str, str | None], audit: ApiCall
) -> EqualityRecordedOut:
    """Record the checked characteristics; the audit row names the ones changed."""
    row = await records.record_equality(customer_ref, values, audit)
    return EqualityRecordedOut(customer_ref=customer_ref, recorded=recorded_characteristics(row))


@router.put("/customers/{customer_ref}/equality")
async def put_equality(
    customer_ref: CustomerRef,
    body: EqualityIn,
    principal: Staff,
    records: RecordsDep,
    settings: SettingsDep,
    request: Request,
) -> EqualityRecordedOut:
    """Record the customer's equality and vulnerability characteristics (HS 7.1).

    Giving them is voluntary: ask, never require; the customer may give any, none, or
    prefer not to say, and may withdraw what they gave. Characteristics left out stay as
    they are; null withdraws one. The answer names the characteristics recorded, never
    their values; the audit row, written with the change, names those changed. A value
    that is not one of the landlord's categories is refused with 422 naming the
    characteristic and the choices. The customer must be known (registered, or a case)."""
    values = checked_equality(settings, body)
    known = await records.get_customer(customer_ref) or await records.latest_case(customer_ref)
    if known is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "no customer with this reference: register them (PUT /v1/customers/{customer_ref}) "
            "or report an incident first",
        )
    now = datetime.now(UTC)
    path = f"/v1/customers/{customer_ref}/equality"
    audit = audit_call(principal, "PUT /v1/customers/{customer_ref}/equality", 200, path, now)
    recorded = await store_equality(records, customer_ref, values, audit)
    request.state.audited = True
    return recorded


def equality_out(
    settings: Settings, customer_ref: str, row: CustomerEquality | None
) -> EqualityOut:
    """The recorded characteristics with their labels (Not recorded where none)."""
    profile = settings.policy_profile
    answers = {
        name: EqualityAnswerOut(
            value=getattr(row, name, None),
            label=label_for(profile, name, getattr(row, name, None)),
        )
        for name in EQUALITY_CHARACTERISTICS
    }
    return EqualityOut(
        customer_ref=customer_ref,
        recorded_by=row.recorded_by if row else None,
        updated_at=row.updated_at if row else None,
        **answers,
    )


@router.get("/customers/{customer_ref}/equality")
async def get_equality(
    customer_ref: CustomerRef,
    principal: CaseReader,
    records: RecordsDep,
    settings: SettingsDep,
    request: Request,
) -> EqualityOut:
    """The customer's equality characteristics with their labels.

    Need to know, as the case itself: staff not involved in the customer's case get 403,
    saying how to break glass; without a case on record only the case system reads them.
    Every read is audited on the case's trail."""
    case = await open_case_file(request, records, principal, customer_ref)
    if case is None:
        decision = await case_access(records, principal, None)
        if decision.access is not Access.FULL:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no case for this customer reference")
    row = await records.get_equality(customer_ref)
    return equality_out(settings, customer_ref, row)


@router.get("/equality/categories")
async def get_categories(_: Staff, settings: SettingsDep) -> EqualityCategoriesOut:
    """The landlord's equality monitoring categories: the choices a form offers for each
    characteristic (prefer_not_to_say last, always allowed)."""
    profile = settings.policy_profile
    return EqualityCategoriesOut(
        profile=profile,
        voluntary=ASK,
        characteristics=[
            EqualityCharacteristicOut(
                characteristic=name,
                label=CHARACTERISTIC_LABELS[name],
                choices=[
                    EqualityChoiceOut(value=c.value, label=c.label) for c in choices(profile, name)
                ],
            )
            for name in EQUALITY_CHARACTERISTICS
        ],
    )
