"""Equality and vulnerability monitoring (HS 7.1): the categories each landlord offers
and the check of what staff record. Pure: the categories are data in the profile's TOML
(its ``[equality]`` table), read here and never carried in a case's ``PolicyProfile``.

Giving any characteristic is voluntary: each may be one of the profile's categories,
``prefer_not_to_say`` (always allowed, never listed in the TOML) or None, not recorded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from policy.profiles import PROFILE_NAMES, UnknownProfileError, _profile_data
from policy.reporting import EQUALITY_CHARACTERISTICS, NOT_RECORDED, PREFER_NOT_TO_SAY

# How forms, the API and reports name each characteristic.
CHARACTERISTIC_LABELS = {
    "ethnicity": "Ethnicity",
    "disability": "Disability",
    "vulnerability": "Vulnerability",
    "age_band": "Age band",
    "sex": "Sex",
}
assert tuple(CHARACTERISTIC_LABELS) == EQUALITY_CHARACTERISTICS
PREFER_NOT_TO_SAY_LABEL = "Prefer not to say"
NOT_RECORDED_LABEL = "Not recorded"
# A category value: a snake_case identifier that fits the records' column (60 characters).
_VALUE = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
MAX_VALUE_CHARS = 60
# Values the code gives a meaning of its own: never listed as a landlord's category.
RESERVED = frozenset({PREFER_NOT_TO_SAY, NOT_RECORDED})


@dataclass(frozen=True)
class Category:
    """One choice for an equality characteristic: the value the records keep and the
    label people read (not a behaviour category: that is ``policy.categories``)."""

    value: str
    label: str


PREFER_NOT_TO_SAY_CHOICE = Category(PREFER_NOT_TO_SAY, PREFER_NOT_TO_SAY_LABEL)


class EqualityValueError(ValueError):
    """A value that is not one of the profile's categories for its characteristic."""

    def __init__(self, characteristic: str, message: str) -> None:
        super().__init__(message)
        self.characteristic = characteristic


def categories_from_table(table: Mapping[str, Any]) -> dict[str, tuple[Category, ...]]:
    """The categories an ``[equality]`` table lists, checked: every characteristic, each
    with at least one ``{ value, label }``, values snake_case and unique, none reserved."""
    unknown = sorted(set(table) - set(EQUALITY_CHARACTERISTICS))
    if unknown:
        raise ValueError(
            f"[equality] names unknown characteristic(s) {unknown}; "
            f"known: {list(EQUALITY_CHARACTERISTICS)}"
        )
    categories: dict[str, tuple[Category, ...]] = {}
    for characteristic in EQUALITY_CHARACTERISTICS:
        entries = table.get(characteristic)
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"[equality] {characteristic}: list at least one category")
        listed: list[Category] = []
        for entry in entries:
            if not isinstance(entry, Mapping) or set(entry) != {"value", "label"}:
                raise ValueError(
                    f"[equality] {characteristic}: each category is "
                    '{ value = "snake_case", label = "What people read" }'
                )
            value, label = entry["value"], entry["label"]
            if not isinstance(value, str) or not isinstance(label, str) or not label.strip():
                raise ValueError(f"[equality] {characteristic}: value and label are text")
            if not _VALUE.fullmatch(value) or len(value) > MAX_VALUE_CHARS:
                raise ValueError(
                    f"[equality] {characteristic}: {value!r} is not a snake_case identifier "
                    f"of at most {MAX_VALUE_CHARS} characters"
                )
            if value in RESERVED:
                raise ValueError(
                    f"[equality] {characteristic}: {value!r} is added by the code; do not list it"
                )
            if any(c.value == value for c in listed):
                raise ValueError(f"[equality] {characteristic}: {value!r} is listed twice")
            listed.append(Category(value, label.strip()))
        categories[characteristic] = tuple(listed)
    return categories


@lru_cache(maxsize=len(PROFILE_NAMES))
def _categories(profile_name: str) -> tuple[tuple[str, tuple[Category, ...]], ...]:
    if profile_name not in PROFILE_NAMES:
        raise UnknownProfileError(
            f"unknown policy profile {profile_name!r}; choose one of {PROFILE_NAMES}"
        )
    table = _profile_data(profile_name).get("equality")
    if not isinstance(table, Mapping):
        raise ValueError(f"profile {profile_name!r} has no [equality] table")
    return tuple(categories_from_table(table).items())


def equality_categories(profile_name: str) -> dict[str, tuple[Category, ...]]:
    """The landlord's categories for each characteristic, as its profile lists them
    (``prefer_not_to_say`` is not among them: see ``choices``)."""
    return dict(_categories(profile_name))


def choices(profile_name: str, characteristic: str) -> tuple[Category, ...]:
    """What staff may record for ``characteristic``: the profile's categories, then
    "Prefer not to say"."""
    return (*equality_categories(profile_name)[characteristic], PREFER_NOT_TO_SAY_CHOICE)


def validate_equality(profile_name: str, values: Mapping[str, str | None]) -> dict[str, str | None]:
    """The characteristics given, each checked against the profile's categories (None:
    not recorded, or withdrawn). Raises ``EqualityValueError`` (a ValueError) naming the
    characteristic and the values allowed; the rejected value is not repeated, as it may
    be something the customer said in their own words."""
    categories = equality_categories(profile_name)
    checked: dict[str, str | None] = {}
    for characteristic, value in values.items():
        if characteristic not in categories:
            raise EqualityValueError(
                characteristic,
                f"{characteristic!r} is not an equality characteristic; "
                f"record one of {list(EQUALITY_CHARACTERISTICS)}",
            )
        allowed = [c.value for c in categories[characteristic]] + [PREFER_NOT_TO_SAY]
        if value is not None and value not in allowed:
            raise EqualityValueError(
                characteristic,
                f"{characteristic}: not one of this landlord's categories; choose one of "
                f"{', '.join(allowed)}, or null (not recorded)",
            )
        checked[characteristic] = value
    return checked


def label_for(profile_name: str, characteristic: str, value: str | None) -> str:
    """What people read for a recorded value: its category's label, "Prefer not to say",
    "Not recorded" for None, or the value itself once the profile no longer lists it."""
    if value is None:
        return NOT_RECORDED_LABEL
    for category in choices(profile_name, characteristic):
        if category.value == value:
            return category.label
    return value
