"""The base of every input body."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

EmailAddress = Annotated[
    str, StringConstraints(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$", max_length=254)
]


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
