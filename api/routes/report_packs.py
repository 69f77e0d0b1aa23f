"""The stored Board packs, for signed-in readers of reports: the list, a pack's HTML as
it was made (under a Content Security Policy that lets it do nothing but show itself),
and its PDF. The inbox's sign-in cookie; reads are audited (a pack lists the customers
whose reviews are overdue).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth import REPORT_READERS
from api.deps import records_of
from api.routes.inbox import _message, _render, _signed_in, _to_sign_in
from records.models import ReportPack
from reports.render import profile_title
from tokens import Principal
from workflows.board_pack_api import pack_title

router = APIRouter(prefix="/inbox/reports/packs", include_in_schema=False)

# A stored pack is a standalone document: inline styles and inline SVG charts, nothing
# to load, run, submit or frame.
PACK_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
PACK_LIST_LIMIT = 240  # twenty years of monthly packs


@dataclass(frozen=True)
class PackRow:
    """A pack as the list shows it."""

    pack_id: str
    title: str
    policy: str
    created_at: datetime
    emailed_at: datetime | None


async def _reader(request: Request) -> Principal | Response:
    """The signed-in reader of reports, or the sign-in redirect, or the 403 page (the
    refusal audited with its outcome)."""
    principal = await _signed_in(request)
    if principal is None:
        return _to_sign_in()
    request.state.principal = principal
    if not principal.roles & REPORT_READERS:
        return _message(
            request,
            403,
            "You cannot read Board packs",
            "Board packs are for managers, heads of service, directors and auditors. "
            f"Your roles are: {principal.role_names.replace(',', ', ') or 'none'}.",
            principal,
        )
    return principal


@router.get("", include_in_schema=False)
async def pack_list(request: Request) -> Response:
    """Every stored pack, newest period first, with links to its HTML and PDF."""
    reader = await _reader(request)
    if isinstance(reader, Response):
        return reader
    packs = await records_of(request).report_packs(PACK_LIST_LIMIT)
    rows = [
        PackRow(
            pack.pack_id,
            pack_title(pack.kind, pack.period_start, pack.period_end),
            profile_title(pack.profile),
            pack.created_at,
            pack.emailed_at,
        )
        for pack in packs
    ]
    return _render(request, "report_packs.html", {"principal": reader, "packs": rows})


@router.get("/{pack_id}.pdf", include_in_schema=False)
async def pack_pdf(request: Request, pack_id: str) -> Response:
    """The pack's PDF, as a download."""
    pack = await _pack(request, pack_id)
    if isinstance(pack, Response):
        return pack
    return Response(
        pack.pdf,
        media_type="application/pdf",
        headers={
            **PACK_HEADERS,
            "Content-Disposition": f'attachment; filename="{pack.pack_id}.pdf"',
        },
    )


@router.get("/{pack_id}", include_in_schema=False)
async def pack_page(request: Request, pack_id: str) -> Response:
    """The pack's HTML document, as it was made."""
    pack = await _pack(request, pack_id)
    if isinstance(pack, Response):
        return pack
    return Response(pack.html, media_type="text/html; charset=utf-8", headers=PACK_HEADERS)


async def _pack(request: Request, pack_id: str) -> ReportPack | Response:
    """The stored pack for a signed-in reader of reports, or the page that says why not
    (the sign-in redirect, the 403 page or the 404 page)."""
    reader = await _reader(request)
    if isinstance(reader, Response):
        return reader
    pack = await records_of(request).get_report_pack(pack_id[:64])
    if pack is None:
        return _message(request, 404, "Pack not found", "There is no such Board pack.", reader)
    return pack
