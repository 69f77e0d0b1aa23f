"""Bodies for equality and vulnerability monitoring (HS 7.1): voluntary, recorded with
the customer's support details, never in a letter, a contractor's view or the workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.base import ApiModel

# Checked against the landlord's categories by the route (policy.equality), which names
# the characteristic and the choices; the length limit only keeps the body small.
EqualityValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]
VOLUNTARY = (
    "Voluntary: the customer need not give it. One of the landlord's categories "
    "(GET /v1/equality/categories), prefer_not_to_say, or null: not recorded (null "
    "withdraws what was recorded); left out, what is recorded stays as it is."
)


class EqualityIn(ApiModel):
    """The customer's equality characteristics, as far as they chose to give them."""

    ethnicity: EqualityValue | None = Field(
        default=None, description=f"Ethnic group (ONS 2021 Census groups). {VOLUNTARY}"
    )
    disability: EqualityValue | None = Field(
        default=None,
        description=f"Disability or long-term health condition (Equality Act 2010). {VOLUNTARY}",
    )
    vulnerability: EqualityValue | None = Field(
        default=None, description=f"The main vulnerability known. {VOLUNTARY}"
    )
    age_band: EqualityValue | None = Field(default=None, description=f"Age band. {VOLUNTARY}")
    sex: EqualityValue | None = Field(default=None, description=f"Sex. {VOLUNTARY}")

    def given(self) -> dict[str, str | None]:
        """The characteristics the body names (null included: a withdrawal)."""
        return {
            name: getattr(self, name)
            for name in EqualityIn.model_fields
            if name in self.model_fields_set
        }


class EqualityRecordedOut(BaseModel):
    """What is recorded now, named by characteristic: never the values."""

    customer_ref: str = Field(description="The customer's pseudonymous reference.")
    recorded: list[str] = Field(
        description="The characteristics with an answer recorded (prefer_not_to_say "
        "included); the others are not recorded."
    )


class EqualityAnswerOut(BaseModel):
    """One characteristic as recorded."""

    value: str | None = Field(
        description="The category recorded, prefer_not_to_say, or null: not recorded."
    )
    label: str = Field(description="What people read: the category's label, or Not recorded.")


class EqualityOut(BaseModel):
    """The customer's equality characteristics with their labels (need to know)."""

    customer_ref: str = Field(description="The customer's pseudonymous reference.")
    ethnicity: EqualityAnswerOut = Field(description="Ethnic group.")
    disability: EqualityAnswerOut = Field(description="Disability or long-term condition.")
    vulnerability: EqualityAnswerOut = Field(description="The main vulnerability known.")
    age_band: EqualityAnswerOut = Field(description="Age band.")
    sex: EqualityAnswerOut = Field(description="Sex.")
    recorded_by: str | None = Field(
        description="Who last changed it (a staff or service user id); null: nothing recorded."
    )
    updated_at: datetime | None = Field(description="When it last changed; null: nothing recorded.")


class EqualityChoiceOut(BaseModel):
    """One choice staff may record."""

    value: str = Field(description="The value to send.")
    label: str = Field(description="What to show the customer and staff.")


class EqualityCharacteristicOut(BaseModel):
    """A characteristic and its choices, in the order to offer them."""

    characteristic: str = Field(description="The body field: ethnicity, disability, ...")
    label: str = Field(description="How forms name the characteristic.")
    choices: list[EqualityChoiceOut] = Field(
        description="The landlord's categories, then prefer_not_to_say (always allowed)."
    )


class EqualityCategoriesOut(BaseModel):
    """The landlord's equality monitoring categories (its policy profile's)."""

    profile: str = Field(description="The policy profile the categories come from.")
    voluntary: str = Field(description="How to ask: giving any characteristic is voluntary.")
    characteristics: list[EqualityCharacteristicOut] = Field(
        description="Each characteristic with its choices."
    )
