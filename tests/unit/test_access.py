"""Need-to-know reads (HS 8.1): who may open a case file. Pure; no fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policy.access import (
    Access,
    Basis,
    BreakGlass,
    Involvement,
    OpenTaskSeat,
    read_access,
    task_roles,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CASE = Involvement.of(
    ["olu", "crm", None, " "],
    [OpenTaskSeat("manager")],
    [BreakGlass("Kim", NOW + timedelta(hours=1)), BreakGlass("lee", NOW - timedelta(seconds=1))],
)


def test_involved_staff_read_in_full_whatever_their_role() -> None:
    for role in ("officer", "director"):
        decision = read_access("olu", [role], CASE, NOW)
        assert (decision.access, decision.basis) == (Access.FULL, Basis.INVOLVED)


def test_identity_is_compared_case_insensitively() -> None:
    assert read_access("OLU", ["officer"], CASE, NOW).full
    assert read_access("kim", ["officer"], CASE, NOW).basis is Basis.BREAK_GLASS


def test_an_uninvolved_officer_sees_only_that_the_case_exists() -> None:
    decision = read_access("sam", ["officer"], CASE, NOW)
    assert (decision.access, decision.basis) == (Access.EXISTS_ONLY, Basis.NOT_INVOLVED)


def test_the_role_an_open_task_sits_with_reads_it() -> None:
    assert read_access("mo", ["manager"], CASE, NOW).basis is Basis.TASK_ROLE
    assert not read_access("hana", ["head_of_service"], CASE, NOW).full


def test_an_escalated_task_opens_the_case_to_every_role_on_its_way_up() -> None:
    escalated = Involvement.of([], [OpenTaskSeat("officer", "head_of_service")])
    assert task_roles(escalated.open_tasks) == {"officer", "manager", "head_of_service"}
    assert read_access("hana", ["head_of_service"], escalated, NOW).full
    assert not read_access("dee", ["director"], escalated, NOW).full


def test_break_glass_opens_the_case_until_it_lapses() -> None:
    decision = read_access("kim", ["officer"], CASE, NOW)
    assert decision.full and decision.until == NOW + timedelta(hours=1)
    assert not read_access("kim", ["officer"], CASE, NOW + timedelta(hours=1)).full
    lapsed = read_access("lee", ["officer"], CASE, NOW)
    assert lapsed.access is Access.EXISTS_ONLY


def test_break_glass_is_personal() -> None:
    assert not read_access("kimberley", ["officer"], CASE, NOW).full


@pytest.mark.parametrize("roles", [["contractor"], ["contractor", "director"]])
def test_a_contractor_sees_arrangements_only_even_when_named_on_the_case(
    roles: list[str],
) -> None:
    decision = read_access("olu", roles, CASE, NOW)
    assert decision.access is Access.ARRANGEMENTS_ONLY


def test_the_case_system_reads_in_full() -> None:
    assert read_access("crm-2", ["case_system"], Involvement(), NOW).basis is Basis.CASE_SYSTEM


@pytest.mark.parametrize("role", ["auditor", "operator"])
def test_auditors_and_operators_read_no_case_file(role: str) -> None:
    assert read_access("olu", [role], CASE, NOW).access is Access.NONE
