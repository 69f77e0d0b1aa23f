"""The Board pack workflows' messages and activity signatures (no I/O: the sandbox may
import it). Every field is a kind, a profile, a date, a pack id or a count: nothing
personal reaches the Board pack workflows' histories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from temporalio import activity

from policy.reporting import LONDON

BOARD_PACK_SCHEDULE_ID = "ucb-board-pack"
BOARD_PACK_WORKFLOW_ID = "ucb-board-pack-run"
ANNUAL_REVIEW_SCHEDULE_ID = "ucb-annual-review-pack"
ANNUAL_REVIEW_WORKFLOW_ID = "ucb-annual-review-pack-run"
# The audit rows of the packs: made by the system, never by a person.
BOARD_PACK_ACTOR = "system"
BOARD_PACK_MADE = "board_pack_made"
# The roles whose shared mailboxes are told a pack is ready.
PACK_READERS_TOLD = ("head_of_service", "director")


class PackKind(StrEnum):
    """The two packs, one code: the monthly Board pack and the annual policy review."""

    MONTHLY = "monthly"
    ANNUAL = "annual"


class PackErrorType(StrEnum):
    """The permanent failures of a pack run (ApplicationError types, non-retryable).
    The pack stays stored; the next scheduled run e-mails it once the fault is mended."""

    # head_of_service or director has no shared mailbox in UCB_ROLE_MAILBOXES.
    NO_ROLE_MAILBOX = "NoRoleMailbox"
    # The mail server refused a role mailbox for good (5xx).
    ROLE_MAILBOX_REFUSED = "RoleMailboxRefused"


@dataclass
class PackSettings:
    """What the deployment's packs cover: its policy profile, and the month (1-12) its
    annual policy review pack is made in (0: it makes none). Read at the edge by the
    ``board_pack_settings`` activity, so a schedule carries no payload."""

    profile: str
    annual_review_month: int = 0


@dataclass
class ComposePack:
    """Activity input: build, render and store the pack of one kind, profile and period
    (idempotent: a pack already stored for them is returned as it is)."""

    kind: str
    profile: str
    period_start: datetime
    period_end: datetime
    at: datetime


@dataclass
class ComposedPack:
    """Activity result: the stored pack, and whether its link was e-mailed already."""

    pack_id: str
    already_emailed: bool
    created: bool


@dataclass
class EmailPackLink:
    """Activity input: tell the role mailboxes the pack is ready (a link only)."""

    pack_id: str
    kind: str
    period_start: datetime
    period_end: datetime


@dataclass
class EmailedPackLink:
    """Activity result: the roles told (a pack e-mailed before is not e-mailed again)."""

    roles: list[str] = field(default_factory=list)
    already_emailed: bool = False


@dataclass
class PackMade:
    """Activity input: the audit row of a pack made and sent (once per pack)."""

    pack_id: str
    kind: str
    profile: str
    period_start: datetime
    period_end: datetime
    at: datetime
    run: str
    emailed_roles: list[str] = field(default_factory=list)


@dataclass
class PackRun:
    """A pack workflow's result: which pack (None when this deployment makes none of
    this kind) and whether this run e-mailed its link."""

    kind: str
    pack_id: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    created: bool = False
    emailed: bool = False


def pack_id_for(kind: str, profile: str, period_start: datetime) -> str:
    """The pack's id, the same for every run of one kind, profile and period
    ("monthly-magna-2026-10"): no dots (a ``.pdf`` suffix is the PDF's address)."""
    first = period_start.astimezone(LONDON).date()
    return f"{kind}-{profile}-{first:%Y-%m}"


def pack_title(kind: str, period_start: datetime, period_end: datetime) -> str:
    """The pack's title: "Board pack for October 2026", or "Annual policy review pack,
    November 2025 to October 2026"."""
    first = period_start.astimezone(LONDON)
    last = (period_end - timedelta(microseconds=1)).astimezone(LONDON)
    if kind == PackKind.ANNUAL:
        return f"Annual policy review pack, {first:%B %Y} to {last:%B %Y}"
    return f"Board pack for {first:%B %Y}"


class BoardPackActivityApi:
    """Signatures only: ``activities.board_pack.BoardPackActivities`` implements them."""

    @activity.defn(name="board_pack_settings")
    async def board_pack_settings(self) -> PackSettings:
        """The deployment's profile and its annual review month."""
        raise NotImplementedError

    @activity.defn(name="compose_pack")
    async def compose_pack(self, request: ComposePack) -> ComposedPack:
        """Build the report, render its HTML and PDF, store the pack (once per period)."""
        raise NotImplementedError

    @activity.defn(name="email_pack_link")
    async def email_pack_link(self, request: EmailPackLink) -> EmailedPackLink:
        """E-mail the heads of service's and directors' mailboxes a link to the pack."""
        raise NotImplementedError

    @activity.defn(name="record_pack_made")
    async def record_pack_made(self, request: PackMade) -> None:
        """The audit row of a pack made and sent (once per pack)."""
        raise NotImplementedError
