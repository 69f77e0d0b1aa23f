"""The audit trail, for auditors: browse it, or export one customer's case trail."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.auth import Auditor
from api.decision_schemas import AuditOut, AuditPage
from api.deps import RecordsDep
from api.schemas import CustomerRef
from reports.tables import spreadsheet_cell
from tokens import MAX_USER_CHARS

router = APIRouter(prefix="/v1", tags=["audit"])

EXPORT_COLUMNS = ("id", "at", "case_key", "actor", "role", "action", "reason", "details")


@router.get("/audit")
async def get_audit(
    _: Auditor,
    records: RecordsDep,
    case_key: Annotated[str | None, Query(max_length=120)] = None,
    actor: Annotated[str | None, Query(max_length=MAX_USER_CHARS)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditPage:
    """Who did what, when, in what role, why and with what outcome; newest first."""
    rows, total = await records.audit_events(
        case_key=case_key, actor=actor, limit=limit, offset=offset
    )
    return AuditPage(
        items=[AuditOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/cases/{customer_ref}/audit/export",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}, "application/x-ndjson": {}},
            "description": "Every audit row of the customer's cases, oldest first.",
        }
    },
)
async def export_case_audit(
    customer_ref: CustomerRef,
    _: Auditor,
    records: RecordsDep,
    request: Request,
    fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "csv",
) -> Response:
    """The whole audit trail of a customer's cases (every episode), oldest first: every
    decision and change, every read of the case file (with its basis: involved, the role
    its work sits with, or break glass), every refusal and every break-glass reason.

    The export is itself audited (on the case's trail, from the next export on)."""
    case_keys = await records.customer_case_keys(customer_ref)
    if not case_keys:
        raise HTTPException(404, "no case for this customer reference")
    request.state.audit_case_key = case_keys[-1]
    trail = await records.audit_export(case_keys)
    rows = [AuditOut.model_validate(r, from_attributes=True) for r in trail]
    name = f"audit-{customer_ref}"
    if fmt == "jsonl":
        body = "".join(row.model_dump_json() + "\n" for row in rows)
        return _download(body, "application/x-ndjson", f"{name}.jsonl")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.id,
                row.at.isoformat(),
                _cell(row.case_key),
                _cell(row.actor),
                _cell(row.role),
                _cell(row.action),
                _cell(row.reason),
                _cell(json.dumps(row.details, sort_keys=True, default=str)),
            ]
        )
    return _download(out.getvalue(), "text/csv; charset=utf-8", f"{name}.csv")


def _cell(value: str | None) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula."""
    return spreadsheet_cell(value)


def _download(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
