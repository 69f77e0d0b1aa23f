"""The typed client and the ``ucb`` command against the real API, with a real worker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.worker import Worker

from settings import get_settings
from tests.support import eventually, free_port
from tokens import ApiRole, read_token
from ucbclient.cli import main
from ucbclient.client import Task, UcbApiError, UcbClient

Minter = Callable[..., str]


def new_ref() -> str:
    return f"CLI-{uuid.uuid4().hex[:10]}"


async def test_client_reports_reads_and_decides_a_task(
    api_url: str, worker: Worker, token_for: Minter
) -> None:
    ref = new_ref()
    async with UcbClient(api_url, token_for("officer", user="olu")) as ucb:
        report: dict[str, Any] = {
            "customer_ref": ref,
            "category": "verbal_abuse",
            "channel": "phone",
            "occurred_at": datetime.now(UTC),
            "description": "Email calling the officer useless, with swearing",
            "reported_by": "olu",
        }
        accepted = await ucb.report_incident(
            **report,
            source_reference="CRM-1",
            customer={"name": "Pat", "email": f"{ref.lower()}@example.org"},
        )
        assert accepted["case_id"] == f"ucb-case-{ref}" and accepted["status"] == "accepted"
        resent = await ucb.report_incident(**report, source_reference="CRM-1")
        assert resent["incident_id"] == accepted["incident_id"]

        async def initial_warning() -> Task | None:
            try:
                case = await ucb.get_case(ref)
            except UcbApiError as error:
                if error.status == 404:
                    return None
                raise
            return next((t for t in case["open_tasks"] if t["kind"] == "initial_warning"), None)

        task = await eventually(initial_warning)
        task_id = task["task_id"]
        page = await ucb.list_tasks(kind="initial_warning", customer_ref=ref)
        assert [t["task_id"] for t in page["items"]] == [task_id] and page["total"] == 1
        assert (await ucb.claim_task(task_id))["claimed_by"] == "olu"

        with pytest.raises(UcbApiError) as bad:
            await ucb.complete_task(task_id, {"outcome": "banned", "reason": "x"})
        assert (bad.value.status, bad.value.field) == (422, "outcome")
        assert str(bad.value).startswith("outcome: outcome must be one of")

        decision = {
            "outcome": "issued",
            "method": "in_person",
            "reason": "Told at the desk",
            "customer_reason": "As we told you at the office on 20 November.",
        }
        state = await ucb.complete_task(task_id, decision)
        assert state["stage"] == "initial_warning"
        assert task_id not in [t["task_id"] for t in state["open_tasks"]]
        with pytest.raises(UcbApiError) as again:
            await ucb.complete_task(task_id, decision)
        assert again.value.status == 409 and "already" in again.value.message

        case = await ucb.get_case(ref)
        assert case["stage"] == "initial_warning" and len(case["incidents"]) == 1
        assert "initial_warning:issued" in [h["action"] for h in case["history"]]
        # Verbal abuse raises no flag by itself: a manager decides (risk_flag_decision).
        assert (await ucb.arrangements(ref))["risk_flag"] is False

        async def sent_letter() -> str | None:
            letters = (await ucb.get_case(ref))["letters"]
            return letters[0]["letter_id"] if letters else None

        letter = await ucb.get_letter(await eventually(sent_letter))
        # The warning given in person is confirmed in writing, in the customer's words.
        assert letter["kind"] == "initial_warning"
        assert "As we told you at the office on 20 November." in letter["body_text"]
        assert "Told at the desk" not in letter["body_text"]  # the internal note stays out


async def test_client_errors_name_the_field_and_the_problem(
    api_url: str, token_for: Minter
) -> None:
    async with UcbClient(api_url, token_for("case_system")) as ucb:
        with pytest.raises(UcbApiError) as bad_email:
            await ucb.register_customer(new_ref(), email="not-an-address")
        assert (bad_email.value.status, bad_email.value.field) == (422, "email")
        with pytest.raises(UcbApiError) as nested:
            await ucb.report_incident(
                new_ref(),
                "verbal_abuse",
                "email",
                "2026-11-20T10:00:00Z",
                "Abusive email",
                "crm",
                customer={"email": "nope"},
            )
        assert nested.value.field == "customer.email"
        with pytest.raises(UcbApiError) as missing:
            await ucb.get_case(new_ref())
        assert missing.value.status == 404 and "no case" in missing.value.message
    async with UcbClient(api_url, "not-a-token") as forged:
        with pytest.raises(UcbApiError) as unauthorised:
            await forged.list_tasks()
        assert unauthorised.value.status == 401 and "not valid" in unauthorised.value.message


async def test_client_says_when_the_api_cannot_be_reached() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with UcbClient(url, "any-token") as ucb:
        with pytest.raises(UcbApiError) as error:
            await ucb.get_case("C1")
    assert error.value.status == 0
    assert str(error.value).startswith(f"cannot reach the API at {url}: ")


# The ucb command ---------------------------------------------------------------------------


def test_token_create_prints_a_token_signed_with_the_settings_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "cli-test-secret-" + uuid.uuid4().hex
    monkeypatch.setenv("UCB_SECRET_KEY", secret)
    get_settings.cache_clear()
    try:
        code = main(
            ["token", "create", "--user", "alice", "--role", "manager", "--role", "director"]
        )
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert code == 0 and out.count("\n") == 1
    principal = read_token(secret, out.strip())
    assert principal.user == "alice"
    assert principal.roles == {ApiRole.MANAGER, ApiRole.DIRECTOR}


def test_token_create_refuses_an_unknown_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "--user", "alice", "--role", "boss"]) == 2
    assert "invalid choice: 'boss'" in capsys.readouterr().err


def test_a_missing_token_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("UCB_TOKEN", raising=False)
    assert main(["case", "show", "C1"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no API token" in captured.err and "ucb token create" in captured.err


def _cli_env(monkeypatch: pytest.MonkeyPatch, api_url: str, token: str) -> None:
    monkeypatch.setenv("UCB_API_URL", api_url)
    monkeypatch.setenv("UCB_TOKEN", token)


async def _ucb(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``ucb`` in a thread (it runs its own event loop; the API runs in this one)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_cli_reports_lists_and_completes(
    api_url: str,
    worker: Worker,
    token_for: Minter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _cli_env(monkeypatch, api_url, token_for("officer", user="kim"))
    ref = new_ref()
    code, out, err = await _ucb(
        capsys,
        "report",
        "--customer-ref",
        ref,
        "--category",
        "unreasonable_persistence",
        "--channel",
        "phone",
        "--description",
        "Ninth call today about the same repair",
        "--reported-by",
        "kim",
        "--occurred-at",
        "2026-11-20T10:00:00Z",
        "--source-reference",
        "CRM-9",
    )
    assert code == 0, err
    assert json.loads(out)["case_id"] == f"ucb-case-{ref}"

    async def listed() -> list[dict[str, Any]] | None:
        code, out, err = await _ucb(capsys, "tasks", "list", "--customer-ref", ref)
        assert code == 0, err
        page = json.loads(out)
        return [t for t in page["items"] if t["kind"] == "initial_warning"] or None

    task_id = (await eventually(listed))[0]["task_id"]
    code, out, err = await _ucb(
        capsys,
        "tasks",
        "complete",
        task_id,
        "--outcome",
        "issued",
        "--reason",
        "Ninth call after advice",
        "--customer-reason",
        "You called us nine times after our advice.",
        "--json",
        '{"method": "phone"}',
    )
    assert code == 0, err
    assert json.loads(out)["stage"] == "initial_warning"

    code, out, err = await _ucb(capsys, "case", "show", ref)
    assert code == 0, err
    assert "initial_warning:issued" in [h["action"] for h in json.loads(out)["history"]]


async def test_cli_unknown_category_shows_the_apis_field_message(
    api_url: str,
    token_for: Minter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _cli_env(monkeypatch, api_url, token_for("case_system"))
    code, out, err = await _ucb(
        capsys,
        "report",
        "--customer-ref",
        new_ref(),
        "--category",
        "shouting",
        "--channel",
        "email",
        "--description",
        "Shouted",
        "--reported-by",
        "crm",
    )
    assert code == 1 and out == ""
    assert "category: Input should be" in err and "verbal_abuse" in err and "HTTP 422" in err


async def test_cli_usage_errors_exit_2(
    api_url: str,
    token_for: Minter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _cli_env(monkeypatch, api_url, token_for("officer"))
    code, _, err = await _ucb(capsys, "tasks", "complete", "T1", "--reason", "x")
    assert code == 2 and "--outcome is required" in err
    code, _, err = await _ucb(
        capsys, "tasks", "complete", "T1", "--outcome", "issued", "--reason", "x", "--json", "{"
    )
    assert code == 2 and "not valid JSON" in err
    code, _, err = await _ucb(
        capsys,
        "report",
        "--customer-ref",
        "C1",
        "--category",
        "verbal_abuse",
        "--channel",
        "email",
        "--description",
        "x",
        "--reported-by",
        "crm",
        "--occurred-at",
        "2026-11-20T10:00:00",
    )
    assert code == 2 and "needs a timezone" in err


async def test_break_glass_and_the_auditors_export_through_the_client_and_cli(
    api_url: str,
    worker: Worker,
    token_for: Minter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Need to know from the command line: an uninvolved manager is refused, records why,
    reads the case; the auditor's export shows who, with which roles, and why."""
    ref = new_ref()
    async with UcbClient(api_url, token_for("case_system", user="crm")) as crm:
        await crm.report_incident(
            customer_ref=ref,
            category="unreasonable_persistence",
            channel="phone",
            occurred_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
            description="Tenth call today",
            reported_by="kim",
        )

        async def opened() -> bool:
            try:
                return bool(await crm.get_case(ref))
            except UcbApiError:
                return False

        await eventually(opened)
    _cli_env(monkeypatch, api_url, token_for("manager", user="Mo-Uninvolved"))
    code, out, err = await _ucb(capsys, "case", "show", ref)
    assert code == 1 and "break glass" not in out and "/access" in err, (out, err)
    reason = "Covering the case officer's leave this week"
    code, out, err = await _ucb(capsys, "case", "access", ref, "--reason", reason)
    assert code == 0, err
    assert json.loads(out)["basis"] == "break_glass"
    code, out, err = await _ucb(capsys, "case", "show", ref)
    assert code == 0 and json.loads(out)["case_id"] == f"ucb-case-{ref}", err

    _cli_env(monkeypatch, api_url, token_for("auditor", user="audrey"))
    code, out, err = await _ucb(capsys, "audit", "export", ref)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    [glass] = [r for r in rows if r["action"] == "break_glass"]
    assert (glass["actor"], glass["role"], glass["reason"]) == ("Mo-Uninvolved", "manager", reason)
    code, out, err = await _ucb(capsys, "audit", "export", ref, "--format", "csv")
    assert code == 0 and out.startswith("id,at,case_key,actor,role,action"), (out[:80], err)
    # Only auditors export.
    _cli_env(monkeypatch, api_url, token_for("manager", user="Mo-Uninvolved"))
    code, out, err = await _ucb(capsys, "audit", "export", ref)
    assert (code == 1 and "403" in err) or "auditor" in err, err


async def test_the_management_report_through_the_client_and_cli(
    api_url: str,
    worker: Worker,
    token_for: Minter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A manager reads the report's figures as JSON and CSV; an officer is refused."""
    ref = new_ref()
    async with UcbClient(api_url, token_for("case_system", user="crm")) as crm:
        await crm.report_incident(
            customer_ref=ref,
            category="threat_of_violence",
            channel="in_person",
            occurred_at=datetime.now(UTC),
            description="Threatened the officer at the front desk",
            reported_by="kim",
        )
    async with UcbClient(api_url, token_for("manager", user="mo")) as manager:

        async def counted() -> dict[str, Any] | None:
            report = await manager.management_report()
            return report if report["staff_safety"]["threats"] >= 1 else None

        report = await eventually(counted)
        by_category = {c["label"]: c["count"] for c in report["incidents"]["by_category"]}
        assert by_category.get("threat_of_violence", 0) >= 1

    _cli_env(monkeypatch, api_url, token_for("director", user="dee"))
    code, out, err = await _ucb(capsys, "reports", "--section", "staff_safety")
    assert code == 0, err
    section = json.loads(out)
    assert section["section"] == "staff_safety" and section["figures"]["threats"] >= 1
    code, out, err = await _ucb(capsys, "reports", "--section", "staff_safety", "--csv")
    assert code == 0, err
    assert "Threats" in out or "threats" in out.lower(), out
    _cli_env(monkeypatch, api_url, token_for("officer", user="kim"))
    code, out, err = await _ucb(capsys, "reports")
    assert code == 1 and "403" in err, err
