"""Equality monitoring categories (HS 7.1): per landlord, checked, pure."""

from __future__ import annotations

from typing import Any

import pytest

from policy.equality import (
    NOT_RECORDED_LABEL,
    PREFER_NOT_TO_SAY_LABEL,
    Category,
    EqualityValueError,
    categories_from_table,
    choices,
    equality_categories,
    label_for,
    validate_equality,
)
from policy.profiles import PROFILE_NAMES, UnknownProfileError, load_profile
from policy.reporting import EQUALITY_CHARACTERISTICS, PREFER_NOT_TO_SAY


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_profile_lists_every_characteristic_without_prefer_not_to_say(name: str) -> None:
    categories = equality_categories(name)
    assert tuple(categories) == EQUALITY_CHARACTERISTICS
    for listed in categories.values():
        values = [c.value for c in listed]
        assert values and len(values) == len(set(values))
        assert PREFER_NOT_TO_SAY not in values
        assert all(c.label for c in listed)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_uk_defaults_census_ethnic_groups_age_bands_and_sex(name: str) -> None:
    categories = equality_categories(name)
    # The ONS 2021 Census, England and Wales: 19 ethnic groups in five high-level groups.
    ethnicity = categories["ethnicity"]
    assert len(ethnicity) == 19
    assert {c.label.split(":")[0] for c in ethnicity} == {
        "Asian, Asian British or Asian Welsh",
        "Black, Black British, Black Welsh, Caribbean or African",
        "Mixed or Multiple ethnic groups",
        "White",
        "Other ethnic group",
    }
    assert Category(
        "white_british", "White: English, Welsh, Scottish, Northern Irish or British"
    ) in (ethnicity)
    assert [c.value for c in categories["disability"]] == ["yes", "no"]
    assert [c.value for c in categories["age_band"]] == [
        "16_24",
        "25_34",
        "35_44",
        "45_54",
        "55_64",
        "65_74",
        "75_plus",
    ]
    assert [c.value for c in categories["sex"]] == ["female", "male", "other"]
    assert {"mental_health", "domestic_abuse", "none"} <= {
        c.value for c in categories["vulnerability"]
    }


def test_prefer_not_to_say_is_always_a_choice_last() -> None:
    offered = choices("magna", "sex")
    assert offered[-1] == Category(PREFER_NOT_TO_SAY, PREFER_NOT_TO_SAY_LABEL)
    assert offered[:-1] == equality_categories("magna")["sex"]


def test_the_workflow_profile_snapshot_does_not_carry_the_categories() -> None:
    profile = load_profile("housing_solutions")
    assert not hasattr(profile, "equality")


def test_validate_keeps_categories_prefer_not_to_say_and_withdrawals() -> None:
    given = {
        "ethnicity": "white_irish",
        "disability": PREFER_NOT_TO_SAY,
        "sex": None,
    }
    assert validate_equality("housing_solutions", given) == given
    assert validate_equality("magna", {}) == {}


def test_an_unknown_value_names_the_characteristic_and_the_choices_not_the_value() -> None:
    with pytest.raises(EqualityValueError) as refused:
        validate_equality("housing_solutions", {"age_band": "Forty-something"})
    message = str(refused.value)
    assert refused.value.characteristic == "age_band"
    assert message.startswith("age_band: not one of this landlord's categories")
    assert "16_24" in message and "75_plus" in message and PREFER_NOT_TO_SAY in message
    assert "Forty-something" not in message
    assert isinstance(refused.value, ValueError)


def test_an_unknown_characteristic_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'religion' is not an equality characteristic"):
        validate_equality("magna", {"religion": "none"})


def test_values_are_matched_exactly() -> None:
    with pytest.raises(EqualityValueError, match=r"^sex: "):
        validate_equality("magna", {"sex": "Female"})


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(UnknownProfileError, match="unknown policy profile"):
        equality_categories("lambeth")


def test_labels_for_values_prefer_not_to_say_not_recorded_and_retired_values() -> None:
    assert label_for("magna", "age_band", "75_plus") == "75 or over"
    assert label_for("magna", "sex", PREFER_NOT_TO_SAY) == PREFER_NOT_TO_SAY_LABEL
    assert label_for("magna", "sex", None) == NOT_RECORDED_LABEL
    # A value the landlord has since taken off its list still reads as something.
    assert label_for("magna", "ethnicity", "retired_value") == "retired_value"


def _table(**override: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        name: [{"value": "a", "label": "A"}] for name in EQUALITY_CHARACTERISTICS
    }
    return {**table, **override}


def test_a_landlord_can_configure_its_own_categories() -> None:
    table = _table(sex=[{"value": "woman", "label": "Woman"}, {"value": "man", "label": "Man"}])
    assert categories_from_table(table)["sex"] == (
        Category("woman", "Woman"),
        Category("man", "Man"),
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_table(religion=[{"value": "a", "label": "A"}]), "unknown characteristic"),
        ({k: v for k, v in _table().items() if k != "sex"}, "sex: list at least one"),
        (_table(sex=[]), "sex: list at least one"),
        (_table(sex=[{"value": "a"}]), "each category is"),
        (_table(sex=[{"value": "Not Snake", "label": "X"}]), "snake_case"),
        (_table(sex=[{"value": "a" * 61, "label": "X"}]), "snake_case"),
        (_table(sex=[{"value": "prefer_not_to_say", "label": "X"}]), "added by the code"),
        (_table(sex=[{"value": "not_recorded", "label": "X"}]), "added by the code"),
        (_table(sex=[{"value": "a", "label": "A"}, {"value": "a", "label": "B"}]), "twice"),
        (_table(sex=[{"value": "a", "label": " "}]), "text"),
    ],
)
def test_a_malformed_equality_table_is_refused_with_the_reason(
    table: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        categories_from_table(table)
