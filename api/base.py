"""The base of every input body."""

from __future__ import annotations

import re
from typing import Annotated, Any

from email_validator import EmailNotValidError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from letters.addresses import normalised_address

MAX_EMAIL_CHARS = 254


def normalised_email(value: str, info: ValidationInfo) -> str:
    """One deliverable e-mail address, normalised (``letters.addresses``); a ValueError
    naming the field otherwise."""
    field = info.field_name or "the e-mail address"
    try:
        return normalised_address(value)
    except EmailNotValidError as error:
        raise ValueError(
            f"{field} must be a single e-mail address such as name@example.org: {error}"
        ) from None


EmailAddress = Annotated[
    str,
    StringConstraints(max_length=MAX_EMAIL_CHARS),
    AfterValidator(normalised_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": MAX_EMAIL_CHARS}),
]
"""An e-mail address, validated by a maintained parser and stored in its normalised form."""


class ApiModel(BaseModel):
    """Input bodies: unknown fields refused; no NUL or other control characters in text."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        def check(value: Any, where: str) -> None:
            if isinstance(value, str) and _CONTROL.search(value):
                raise ValueError(
                    f"{where or 'body'}: text must not contain control characters "
                    "(other than newlines and tabs)"
                )
            if isinstance(value, dict):
                for key, item in value.items():
                    check(item, f"{where}.{key}" if where else str(key))
            if isinstance(value, list):
                for index, item in enumerate(value):
                    check(item, f"{where}[{index}]")

        check(data, "")
        return data


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
