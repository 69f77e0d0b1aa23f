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
    return PolicyProfile(durations=durations, **raw)
