"""Reading stored Board packs (api/routes/report_packs.py): the list, a pack's HTML under
a strict Content Security Policy and its PDF, for readers of reports signed in to the
inbox; everyone else is refused, and every read is on the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from api.app import AUDITED_READS
from policy.reporting import previous_month
from records.repository import Records
from tokens import ApiRole
from workflows.board_pack_api import pack_id_for

READERS = {"manager", "head_of_service", "director", "auditor"}
PAGES = ("/inbox/reports/packs", "/inbox/reports/packs/{id}", "/inbox/reports/packs/{id}.pdf")


async def stored_pack(records: Records) -> str:
    period = previous_month(datetime(2026, 11, 3, tzinfo=UTC))
    pack_id = pack_id_for("monthly", "housing_solutions", period.start)
    stored, created = await records.store_report_pack(
        pack_id=pack_id,
        kind="monthly",
        profile="housing_solutions",
        period_start=period.start,
        period_end=period.end,
        created_at=datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
        html="<!doctype html><html><body><h1>Board pack HS0001</h1></body></html>",
        pdf=b"%PDF-1.4 not really\n%%EOF\n",
    )
    assert created and stored.pack_id == pack_id
    again, created_again = await records.store_report_pack(
        pack_id="another-id",
        kind="monthly",
        profile="housing_solutions",
        period_start=period.start,
        period_end=period.end,
        created_at=datetime(2026, 11, 2, 6, 0, tzinfo=UTC),
        html="second",
        pdf=b"second",
    )
    assert not created_again and again.pack_id == pack_id  # never a second pack
    return pack_id


async def test_readers_of_reports_read_the_packs_and_everyone_else_is_refused(
    api_url: str, stack_records: Records, token_for: Any
) -> None:
    pack_id = await stored_pack(stack_records)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        for template in PAGES:
            path = template.format(id=pack_id)
            http.cookies.clear()
            anonymous = await http.get(path)
            assert anonymous.status_code == 303, path
            assert anonymous.headers["location"] == "/inbox/sign-in"
            for role in sorted(r.value for r in ApiRole):
                http.cookies.set("ucb_token", token_for(role, user=f"{role}-reads"))
                answer = await http.get(path)
                expected = 200 if role in READERS else 403
                assert answer.status_code == expected, (path, role, answer.status_code)

        http.cookies.set("ucb_token", token_for("director", user="dee"))
        listing = await http.get("/inbox/reports/packs")
        assert "Board pack for October 2026" in listing.text
        assert f'href="/inbox/reports/packs/{pack_id}.pdf"' in listing.text

        page = await http.get(f"/inbox/reports/packs/{pack_id}")
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert policy.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
        assert "script-src" not in policy and "frame-ancestors 'none'" in policy
        assert "Board pack HS0001" in page.text

        pdf = await http.get(f"/inbox/reports/packs/{pack_id}.pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"] == f'attachment; filename="{pack_id}.pdf"'
        assert pdf.content.startswith(b"%PDF-")

        missing = await http.get("/inbox/reports/packs/monthly-nope-2020-01")
        assert missing.status_code == 404

    # Every read is audited under the reader's identity (a pack lists customer refs).
    rows, _ = await stack_records.audit_events(actor="dee", limit=20)
    actions = {row.action for row in rows}
    for template in ("", "/{pack_id}", "/{pack_id}.pdf"):
        route = f"GET /inbox/reports/packs{template}"
        assert route in AUDITED_READS and route in actions, route
    refused, _ = await stack_records.audit_events(actor="officer-reads", limit=20)
    assert refused and all(row.details.get("status") == 403 for row in refused)
