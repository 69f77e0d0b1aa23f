"""The policy profiles: data (TOML) loaded into a frozen snapshot for each case."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from importlib import resources
from typing import Any

PROFILE_NAMES = ("housing_solutions", "magna")


@dataclass(frozen=True)
class Durations:
    """Every duration the policy sets, in seconds (overridable for demos and tests)."""

    review_period_default: int
    review_period_min: int
    review_period_max: int
    closed_case_disregard: int
    quiet_period: int
    task_due: int
    # An urgent decision (ending direct contact after violence) is due this soon.
    urgent_task_due: int = 86_400
    # A risk flag comes up for review this long after it was applied or kept.
    risk_flag_review: int = 15_778_800
    # How long a letter's delivery keeps retrying (mail server down) before staff are told.
    letter_delivery_budget: int = 3 * 24 * 3600
    # The longest wait between two delivery attempts.
    letter_retry_max_interval: int = 300


@dataclass(frozen=True)
class PolicyProfile:
    """A snapshot of one landlord's policy, carried in each case workflow's input."""

    name: str
    title: str
    ombudsman: str
    complaints_route_on_appeal: bool
    referral_with_consent: bool
    mediation: bool
    review_decider: str
    durations: Durations
    # Appeals decided per restriction; 0 for no limit (HS 6.5.5: "one further assessment").
    appeals_per_restriction: int = 0
    # How long a letter gives the customer to appeal (neither policy sets a limit).
    appeal_within_days: int = 28
    # Terms a communication protocol must set out beyond its contact methods (HS 6.5.4).
    protocol_must_include: tuple[str, ...] = ()
    # What a customer may appeal: the restriction in force, and under Magna ("appeal any
    # decisions we make", legal action excepted) warnings and the risk flag too.
    appealable: tuple[str, ...] = ("restriction",)
    # Incidents after the formal warning before an assessment (HS 6.5.3: not one alone).
    incidents_before_assessment: int = 2


class UnknownProfileError(ValueError):
    """The deployment asked for a profile that does not exist."""


@lru_cache(maxsize=len(PROFILE_NAMES))
def _profile_data(name: str) -> dict[str, Any]:
    """The profile's TOML, parsed once (callers copy before changing it)."""
    text = resources.files(__package__).joinpath(f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_profile(name: str, duration_overrides: dict[str, int] | None = None) -> PolicyProfile:
    """Load a profile by name and apply duration overrides (seconds)."""
    if name not in PROFILE_NAMES:
        raise UnknownProfileError(f"unknown policy profile {name!r}; choose one of {PROFILE_NAMES}")
    raw = dict(_profile_data(name))
    # The equality monitoring categories are no part of a case's snapshot (policy.equality).
    raw.pop("equality", None)
    durations = Durations(**raw.pop("durations"))
    if duration_overrides:
        known = {f.name for f in fields(Durations)}
        unknown = sorted(set(duration_overrides) - known)
        if unknown:
            raise UnknownProfileError(f"unknown duration(s) {unknown}; known: {sorted(known)}")
        bad = {k: v for k, v in duration_overrides.items() if int(v) <= 0}
        if bad:
            raise UnknownProfileError(f"durations must be positive seconds: {bad}")
        durations = replace(durations, **{k: int(v) for k, v in duration_overrides.items()})
    must_include = tuple(raw.pop("protocol_must_include", ()))
    appealable = tuple(raw.pop("appealable", ("restriction",)))
    return PolicyProfile(
        durations=durations,
        protocol_must_include=must_include,
        appealable=appealable,
        **raw,
    )
