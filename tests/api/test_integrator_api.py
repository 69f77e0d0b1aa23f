"""The integrator API over real HTTP, through the typed client and the ``ucb`` command:
the case search, paged incidents and letters, the change feed and cursor-paged tasks.

The records are written directly (as the worker would), so no case workflow runs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from policy.categories import Category, Channel
from records.models import Letter
from records.repository import Records
from ucbclient.cli import main
from ucbclient.client import CaseSummary, UcbApiError, UcbClient
from workflows.ids import case_workflow_id
from workflows.messages import (
    CreateTask,
    IncidentReport,
    OpenCase,
    RecordCaseEvent,
    SupersedeTask,
    Task,
    UpdateCaseRecord,
)

Minter = Callable[..., str]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CUTOFF = datetime(2026, 12, 1, tzinfo=UTC)
SUMMARY_KEYS = {
    "customer_ref",
    "case_id",
    "open",
    "access",
    "stage",
    "risk_flag",
    "opened_at",
    "how_to_open",
    "case_key",
    "episode",
    "profile",
    "next_review_at",
    "closed_at",
    "updated_at",
    "open_tasks",
}


async def seed_case(
    records: Records,
    ref: str,
    *,
    stage: str,
    opened: datetime = T0,
    review: datetime | None = None,
    risk_flag: bool = False,
    profile: str = "housing_solutions",
    closed: datetime | None = None,
) -> str:
    """A case episode in the records, in ``stage``; returns its case key."""
    opened_case = await records.open_case(
        OpenCase(
            customer_ref=ref,
            workflow_id=case_workflow_id(ref),
            run_key=uuid.uuid4().hex,
            profile_name=profile,
            opened_at=opened,
        )
    )
    await records.update_case(
        UpdateCaseRecord(
            case_key=opened_case.case_key,
            stage=stage,
            risk_flag=risk_flag,
            at=opened + timedelta(minutes=5),
            next_review_at=review,
            closed_at=closed,
        )
    )
    return opened_case.case_key


async def seed_incidents(
    records: Records, case_key: str, ref: str, count: int, *, by: str = "crm"
) -> list[str]:
    reports = [
        IncidentReport(
            incident_id=f"{ref}-i{n:03d}",
            customer_ref=ref,
            category=Category("verbal_abuse"),
            channel=Channel("phone"),
            occurred_at=T0 + timedelta(hours=n),
            description=f"Shouted at the officer, call {n}",
            reported_by=by,
            reported_at=T0 + timedelta(hours=n, minutes=1),
            submitted_by=by,
            submitted_role="officer" if by != "crm" else "case_system",
        )
        for n in range(count)
    ]
    return await records.record_incidents(case_key, f"batch-{ref}", reports)


async def seed_task(
    records: Records, case_key: str, ref: str, kind: str, *, due: datetime = T0
) -> str:
    task_id = f"{ref}-{kind}-{uuid.uuid4().hex[:6]}"
    await records.create_task(
        CreateTask(
            case_key=case_key,
            customer_ref=ref,
            task=Task(task_id=task_id, kind=kind, role="officer", created_at=T0, due_at=due),
        )
    )
    return task_id


def new_ref(prefix: str = "INT") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_search_by_stage_and_review_date_pages_in_a_stable_order(
    api_url: str, stack_records: Records, token_for: Minter
) -> None:
    records = stack_records
    due = {}
    for n, days in enumerate((30, 10, 50, 20)):
        ref = new_ref("PIF")
        due[ref] = T0 + timedelta(days=days)
        await seed_case(records, ref, stage="protocol_in_force", review=due[ref], risk_flag=n == 0)
    later = new_ref("LATE")  # in force, but its review is after the cutoff
    await seed_case(records, later, stage="protocol_in_force", review=CUTOFF + timedelta(days=1))
    warned = new_ref("IW")
    warned_key = await seed_case(records, warned, stage="initial_warning")
    await seed_task(records, warned_key, warned, "formal_warning")
    await seed_task(records, warned_key, warned, "formal_warning")
    # A customer whose first episode (in force, review due) was followed by a second.
    again = new_ref("AGAIN")
    await seed_case(
        records,
        again,
        stage="protocol_in_force",
        review=T0 + timedelta(days=5),
        closed=T0 + timedelta(days=40),
    )
    await seed_case(records, again, stage="open", opened=T0 + timedelta(days=400), profile="magna")

    async with UcbClient(api_url, token_for("case_system", user="crm")) as ucb:
        first = await ucb.search_cases(
            stage="protocol_in_force",
            review_due_before=CUTOFF,
            sort="next_review_at",
            limit=3,
        )
        assert len(first["items"]) == 3 and first["next"]
        second = await ucb.search_cases(
            stage="protocol_in_force",
            review_due_before=CUTOFF,
            sort="next_review_at",
            limit=3,
            cursor=first["next"],
        )
        assert len(second["items"]) == 1 and second["next"] is None
        found = first["items"] + second["items"]
        # Soonest review first; only the latest episode of each customer.
        assert [i["customer_ref"] for i in found] == sorted(due, key=due.__getitem__)
        item = found[0]
        assert set(item) == SUMMARY_KEYS
        assert item["access"] == "full" and item["stage"] == "protocol_in_force"
        assert item["case_key"] == f"{case_workflow_id(item['customer_ref'])}/1"
        assert item["open_tasks"] == {} and item["profile"] == "housing_solutions"

        # A date is midnight UTC; every episode, not just the latest, on request.
        every = [
            i["case_key"]
            async for i in ucb.iter_cases(
                stage="protocol_in_force",
                review_due_before=date(2026, 12, 1),
                episodes="all",
                limit=2,
            )
        ]
        assert len(every) == 5 and f"{case_workflow_id(again)}/1" in every

        flagged = await ucb.search_cases(risk_flag=True)
        assert [i["risk_flag"] for i in flagged["items"]] == [True]
        with_task = await ucb.search_cases(open_task_kind="formal_warning")
        [summary] = with_task["items"]
        assert summary["customer_ref"] == warned and summary["open_tasks"] == {"formal_warning": 2}
        magna = await ucb.search_cases(profile="magna")
        assert [i["customer_ref"] for i in magna["items"]] == [again]
        closed = await ucb.search_cases(open=False, episodes="all")
        assert [i["case_key"] for i in closed["items"]] == [f"{case_workflow_id(again)}/1"]

        # Default order (opened, then case key) is stable when cases are added meanwhile.
        seen: list[str] = []
        page = await ucb.search_cases(limit=2)
        seen += [i["case_key"] or "" for i in page["items"]]
        await seed_case(records, new_ref("NEW"), stage="open", opened=T0 - timedelta(days=1))
        await seed_case(records, new_ref("NEW"), stage="open", opened=T0 + timedelta(days=999))
        while page["next"]:
            page = await ucb.search_cases(limit=2, cursor=page["next"])
            seen += [i["case_key"] or "" for i in page["items"]]
        assert len(seen) == len(set(seen)) == 8  # 7 customers + the late newcomer
        assert seen[-1].startswith("ucb-case-NEW-")

        # Filters are checked: a clear 422 naming the parameter.
        for bad, field in (
            ({"stage": "protocol"}, "stage"),
            ({"open_task_kind": "lunch"}, "open_task_kind"),
            ({"review_due_before": "2026-12-01T00:00:00"}, "review_due_before"),
            ({"limit": 201}, "limit"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"cursor": first["next"], "sort": "opened_at"}, "cursor"),
        ):
            with pytest.raises(UcbApiError) as refused:
                await ucb.search_cases(**bad)
            assert (refused.value.status, refused.value.field) == (422, field), bad


async def test_staff_find_only_the_cases_they_may_read(
    api_url: str, stack_records: Records, token_for: Minter
) -> None:
    records = stack_records
    mine, theirs = new_ref("MINE"), new_ref("THEIRS")
    mine_key = await seed_case(records, mine, stage="protocol_in_force", review=T0)
    await seed_incidents(records, mine_key, mine, 1, by="olu")
    theirs_key = await seed_case(records, theirs, stage="protocol_in_force", review=T0)
    await seed_incidents(records, theirs_key, theirs, 1)

    async with UcbClient(api_url, token_for("officer", user="olu")) as olu:
        found = await olu.search_cases(stage="protocol_in_force")
        assert [i["customer_ref"] for i in found["items"]] == [mine]
        assert found["items"][0]["access"] == "full"
        # Asked for that customer alone, staff learn the case exists, and nothing of it.
        [other] = (await olu.search_cases(customer_ref=theirs))["items"]
        assert other["access"] == "exists_only" and other["stage"] is None
        assert other["case_key"] is None and "/access" in (other["how_to_open"] or "")
        # A filter on the case's facts never reveals a case one may not read.
        assert (await olu.search_cases(customer_ref=theirs, stage="protocol_in_force"))[
            "items"
        ] == []


async def test_case_view_shows_the_latest_incidents_and_pages_the_rest(
    api_url: str, stack_records: Records, token_for: Minter
) -> None:
    records = stack_records
    ref = new_ref("MANY")
    case_key = await seed_case(records, ref, stage="initial_warning")
    ids = await seed_incidents(records, case_key, ref, 55)
    for n in range(3):
        await records.save_letter(
            Letter(
                letter_id=f"{case_key}:letter-{n}",
                case_key=case_key,
                kind="initial_warning",
                delivery="email",
                status="sent",
                recipient="pat@example.org",
                subject="About your calls",
                body_html="<p>Dear Pat</p>",
                body_text="Dear Pat",
                created_at=T0 + timedelta(days=n),
            )
        )
    async with UcbClient(api_url, token_for("case_system", user="crm")) as ucb:
        case = await ucb.get_case(ref)
        assert case["incident_count"] == 55 and case["letter_count"] == 3
        assert [i["incident_id"] for i in case["incidents"]] == ids[-50:]
        assert case["links"]["incidents"] == f"/v1/cases/{ref}/incidents"

        paged: list[str] = []
        cursor: str | None = None
        while True:
            page = await ucb.case_incidents(ref, cursor, limit=20)
            paged += [i["incident_id"] for i in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert paged == ids
        letters = await ucb.case_letters(ref, limit=2)
        assert len(letters["items"]) == 2 and letters["next"]
        rest = await ucb.case_letters(ref, letters["next"], limit=2)
        assert [x["letter_id"] for x in rest["items"]] == [f"{case_key}:letter-2"]
        assert rest["next"] is None
        with pytest.raises(UcbApiError) as bad:
            await ucb.case_incidents(ref, letters["next"])  # a letters cursor
        assert (bad.value.status, bad.value.field) == (422, "cursor")
        with pytest.raises(UcbApiError) as missing:
            await ucb.case_incidents(new_ref())
        assert missing.value.status == 404

    # Need to know, as the case itself: staff not involved are refused, and it is audited.
    async with UcbClient(api_url, token_for("officer", user="kim")) as kim:
        for read in (kim.case_incidents, kim.case_letters):
            with pytest.raises(UcbApiError) as refused:
                await read(ref)
            assert refused.value.status == 403 and "/access" in refused.value.message
    trail = await records.audit_trail(case_key)
    reads = [(a.actor, a.action, a.details.get("status")) for a in trail if a.action[:4] == "GET "]
    assert ("crm", "GET /v1/cases/{customer_ref}/incidents", 200) in reads
    assert ("kim", "GET /v1/cases/{customer_ref}/incidents", 403) in reads
    assert ("kim", "GET /v1/cases/{customer_ref}/letters", 403) in reads


async def test_change_feed_resumes_from_its_cursor_and_says_nothing_personal(
    api_url: str, stack_records: Records, token_for: Minter, auth_for: Any
) -> None:
    records = stack_records
    ref = new_ref("FEED")
    case_key = await seed_case(records, ref, stage="initial_warning")
    await seed_incidents(records, case_key, ref, 2)
    await seed_task(records, case_key, ref, "initial_warning")
    async with httpx.AsyncClient(base_url=api_url) as http:
        # A read of the case is audited, but it is not a change: not in the feed.
        read = await http.get(f"/v1/cases/{ref}", headers=auth_for("case_system", user="crm"))
        assert read.status_code == 200
        officer = await http.get("/v1/events", headers=auth_for("officer"))
        assert officer.status_code == 403

    async with UcbClient(api_url, token_for("case_system", user="crm")) as ucb:
        first = await ucb.events(limit=2)
        assert [e["action"] for e in first["items"]] == ["incident_reported"] * 2
        assert {e["type"] for e in first["items"]} == {"incident"}
        event = first["items"][0]
        assert set(event) == {
            "cursor",
            "type",
            "action",
            "case_id",
            "case_key",
            "episode",
            "customer_ref",
            "at",
        }
        assert (event["customer_ref"], event["case_key"]) == (ref, case_key)
        assert first["next"] == first["items"][-1]["cursor"]
        rest = await ucb.events(after=first["next"])
        assert [e["action"] for e in rest["items"]] == ["task_created"]
        caught_up = await ucb.events(after=rest["next"])
        assert caught_up == {"items": [], "next": rest["next"]}

        await records.record_event(
            RecordCaseEvent(
                case_key=case_key,
                event_key=f"{case_key}:closed",
                actor="system",
                role="system",
                action="case_closed",
                at=T0 + timedelta(days=90),
                reason="Quiet for the period: a private reason",
            )
        )
        new = await ucb.events(after=rest["next"])
        assert [(e["type"], e["action"]) for e in new["items"]] == [("case", "case_closed")]
        assert "private reason" not in json.dumps(new)
        with pytest.raises(UcbApiError) as bad:
            await ucb.events(after="bm90LWEtY3Vyc29y")
        assert (bad.value.status, bad.value.field) == (422, "after")
    async with UcbClient(api_url, token_for("auditor", user="aud")) as auditor:
        assert len((await auditor.events())["items"]) == 4


async def test_tasks_page_past_one_hundred_with_a_cursor(
    api_url: str, stack_records: Records, token_for: Minter
) -> None:
    records = stack_records
    ref = new_ref("TASKS")
    case_key = await seed_case(records, ref, stage="open")
    for n in range(5):
        await seed_task(records, case_key, ref, "initial_warning", due=T0 + timedelta(hours=n))
    async with UcbClient(api_url, token_for("officer", user="olu")) as ucb:
        seen: list[str] = []
        page = await ucb.list_tasks(limit=2)
        assert page["total"] == 5
        seen += [t["task_id"] for t in page["items"]]
        # A task decided meanwhile does not shift the pages.
        first = seen[0]
        await records.supersede_task(
            SupersedeTask(case_key, first, "initial_warning", "moved past", T0)
        )
        while page.get("next"):
            page = await ucb.list_tasks(limit=2, cursor=page["next"])
            seen += [t["task_id"] for t in page["items"]]
        assert len(seen) == len(set(seen)) == 5
        assert len((await ucb.list_tasks(limit=200))["items"]) == 4
        with pytest.raises(UcbApiError) as both:
            await ucb.list_tasks(offset=1, cursor=page["items"][0]["task_id"])
        assert both.value.status == 422


# The ucb command ---------------------------------------------------------------------------


async def _ucb(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``ucb`` in a thread (it runs its own event loop; the API runs in this one)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_cli_lists_cases_pages_incidents_and_follows_the_feed(
    api_url: str,
    stack_records: Records,
    token_for: Minter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = stack_records
    due, later = new_ref("DUE"), new_ref("LATER")
    due_key = await seed_case(records, due, stage="protocol_in_force", review=T0)
    await seed_case(records, later, stage="protocol_in_force", review=CUTOFF)
    await seed_incidents(records, due_key, due, 3)
    monkeypatch.setenv("UCB_API_URL", api_url)
    monkeypatch.setenv("UCB_TOKEN", token_for("case_system", user="crm"))

    code, out, err = await _ucb(
        capsys,
        "cases",
        "list",
        "--stage",
        "protocol_in_force",
        "--review-due-before",
        "2026-12-01",
    )
    assert code == 0, err
    listed: list[CaseSummary] = json.loads(out)["items"]
    assert [i["customer_ref"] for i in listed] == [due]
    code, out, err = await _ucb(capsys, "cases", "list", "--limit", "1", "--all")
    assert code == 0, err
    assert {i["customer_ref"] for i in json.loads(out)["items"]} == {due, later}
    code, _, err = await _ucb(capsys, "cases", "list", "--review-due-before", "2026-12-01T00:00")
    assert code == 2 and "needs a timezone" in err
    code, _, err = await _ucb(capsys, "cases", "list", "--stage", "nope")
    assert code == 1 and "stage: Input should be" in err and "HTTP 422" in err

    code, out, err = await _ucb(capsys, "case", "incidents", due, "--limit", "2")
    assert code == 0, err
    page = json.loads(out)
    assert len(page["items"]) == 2 and page["next"]
    code, out, err = await _ucb(capsys, "case", "incidents", due, "--cursor", page["next"])
    assert code == 0 and len(json.loads(out)["items"]) == 1, err

    code, out, err = await _ucb(capsys, "events", "--limit", "2")
    assert code == 0, err
    feed = json.loads(out)
    assert [e["action"] for e in feed["items"]] == ["incident_reported"] * 2
    code, out, err = await _ucb(capsys, "events", "--after", feed["next"])
    assert code == 0, err
    assert [e["customer_ref"] for e in json.loads(out)["items"]] == [due]
