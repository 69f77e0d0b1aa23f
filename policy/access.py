"""Need-to-know reads (HS 8.1): who may open a case file, decided without I/O.

The model (README, "Need-to-know"):

- **Involved staff read the case in full**: whoever reported one of its incidents (the
  token that submitted it, or the member of staff the report names), decided, claimed or
  was assigned one of its tasks, or otherwise acted on it (an audit row of theirs on the
  case: support recorded, an appeal logged, a risk-flag review asked for).
- **The role a case's work currently sits with reads it in full**: every role that may
  decide one of its *open* tasks, the task's own role and each role it has escalated to.
  They may be asked to decide it at any moment and cannot without the case in front of
  them; when the task is decided the role's access ends with it.
- **Everyone else on the staff sees only that the case exists.** They may open it with a
  recorded reason ("break glass"): the reason, who and their roles go on the case's audit
  trail, which the auditor reads, and the access lasts a set time.
- **The case system** (the landlord's housing system, a service account) reads in full:
  it holds the same records and is where intake comes from.
- **Contractors see the arrangements only**, never the case, whatever else their token
  says.
- **Auditors and operators read no case file**: the auditor reads (and exports) the audit
  trail of every case, which is oversight of who looked and why, not of the case's merits.

Identities are compared case-insensitively (``Olu`` and ``olu`` are one person): the
records hold user ids as tokens, forms and case systems spelled them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from policy.tasks import Role, escalation_chain

CONTRACTOR = "contractor"
CASE_SYSTEM = "case_system"
STAFF_ROLES = frozenset(r.value for r in Role)


class Access(StrEnum):
    """How much of a case a reader may see."""

    FULL = "full"
    EXISTS_ONLY = "exists_only"
    ARRANGEMENTS_ONLY = "arrangements_only"
    NONE = "none"


class Basis(StrEnum):
    """Why the reader has the access they have (the audit row notes it)."""

    CONTRACTOR = "contractor"
    CASE_SYSTEM = "case_system"
    INVOLVED = "involved"
    TASK_ROLE = "task_role"
    BREAK_GLASS = "break_glass"
    NOT_INVOLVED = "not_involved"
    NO_CASE_ROLE = "no_case_role"


@dataclass(frozen=True)
class OpenTaskSeat:
    """Where one open task of the case sits: its role and the role it escalated to."""

    role: str
    escalated_to: str | None = None


@dataclass(frozen=True)
class BreakGlass:
    """A recorded reason for opening a case: who, and until when it holds."""

    user: str
    expires_at: datetime


@dataclass(frozen=True)
class Involvement:
    """The facts about one case that decide who may read it."""

    people: frozenset[str] = frozenset()
    open_tasks: tuple[OpenTaskSeat, ...] = ()
    break_glass: tuple[BreakGlass, ...] = ()

    @classmethod
    def of(
        cls,
        people: Iterable[str | None],
        open_tasks: Iterable[OpenTaskSeat] = (),
        break_glass: Iterable[BreakGlass] = (),
    ) -> Involvement:
        """Involvement from raw facts (blank and missing identities are dropped)."""
        return cls(
            people=frozenset(same_person(p) for p in people if p and p.strip()),
            open_tasks=tuple(open_tasks),
            break_glass=tuple(break_glass),
        )


@dataclass(frozen=True)
class AccessDecision:
    """The access a reader has to a case, and why."""

    access: Access
    basis: Basis
    # While access rests on a break-glass reason: when it ends.
    until: datetime | None = field(default=None)

    @property
    def full(self) -> bool:
        return self.access is Access.FULL


def same_person(user: str) -> str:
    """The form of a user id that compares equal for the same person."""
    return user.strip().casefold()


def task_roles(seats: Iterable[OpenTaskSeat]) -> frozenset[str]:
    """Every role that may decide one of these open tasks now."""
    roles: set[str] = set()
    for seat in seats:
        try:
            role = Role(seat.role)
            escalated = Role(seat.escalated_to) if seat.escalated_to else None
        except ValueError:
            continue  # a task for a role that is not a deciding role (none today)
        roles.update(r.value for r in escalation_chain(role, escalated))
    return frozenset(roles)


def read_access(
    user: str, roles: Iterable[str], involvement: Involvement, now: datetime
) -> AccessDecision:
    """How much of the case ``user`` (holding ``roles``) may read at ``now``."""
    held = frozenset(str(r) for r in roles)
    if CONTRACTOR in held:
        return AccessDecision(Access.ARRANGEMENTS_ONLY, Basis.CONTRACTOR)
    if CASE_SYSTEM in held:
        return AccessDecision(Access.FULL, Basis.CASE_SYSTEM)
    if not held & STAFF_ROLES:
        return AccessDecision(Access.NONE, Basis.NO_CASE_ROLE)
    me = same_person(user)
    if me in involvement.people:
        return AccessDecision(Access.FULL, Basis.INVOLVED)
    if held & task_roles(involvement.open_tasks):
        return AccessDecision(Access.FULL, Basis.TASK_ROLE)
    glass = [g.expires_at for g in involvement.break_glass if same_person(g.user) == me]
    live = [until for until in glass if until > now]
    if live:
        return AccessDecision(Access.FULL, Basis.BREAK_GLASS, until=max(live))
    return AccessDecision(Access.EXISTS_ONLY, Basis.NOT_INVOLVED)
