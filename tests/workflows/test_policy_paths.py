"""Every path of the Appendix 1 process map, for both profiles, with short durations."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from policy.categories import Category, Channel
from policy.protocol import ProtocolTerms
from records.repository import Records
from settings import Settings
from tests.support import eventually, messages_to
from tests.workflows.helpers import (
    FACTORS,
    TERMS,
    Handle,
    authorise,
    decide,
    incident,
    new_ref,
    open_task,
    rejected,
    report,
    state_when,
)
from workflows.case import CaseWorkflow
from workflows.messages import AppealRequest, Decision, SupportRecord

LONG = 3600
BOTH_PROFILES = pytest.mark.parametrize("profile", ["housing_solutions", "magna"])


def shorten(settings: Settings, profile: str, **durations: int) -> None:
    settings.policy_profile = profile  # type: ignore[assignment]
    settings.durations = {
        "task_due": LONG,
        "quiet_period": LONG,
        "closed_case_disregard": LONG,
        "review_period_default": LONG,
        "review_period_min": 1,
        "review_period_max": LONG,
        **durations,
    }


async def customer(records: Records, ref: str) -> str:
    address = f"{ref.lower()}@example.org"
    await records.upsert_customer(ref, datetime.now(UTC), name="Pat", email=address)
    return address


def kinds(outbox: Path, address: str) -> list[str]:
    return [m["Subject"] for m in messages_to(outbox, address)]


async def climb_to_protocol(client: Client, settings: Settings, ref: str) -> Handle:
    """Initial warning -> formal warning -> assessment -> protocol authorised."""
    handle = await report(client, settings, incident(ref))
    await decide(handle, "initial_warning", "issued", "officer", method="letter")
    await report(client, settings, incident(ref))
    await decide(handle, "formal_warning", "issued", "officer")
    await report(client, settings, incident(ref))
    state = await decide(handle, "behaviour_assessment", "unacceptable", "manager", factors=FACTORS)
    assert state.stage == "protocol_authorisation"
    return handle


@BOTH_PROFILES
async def test_persistent_emailer_from_warning_to_protocol_appeal_review_and_end(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
    profile: str,
) -> None:
    shorten(settings, profile)
    ref = new_ref("PE")
    address = await customer(stack_records, ref)
    handle = await climb_to_protocol(client, settings, ref)
    state = await authorise(handle, by="hos-ann", review_after_seconds=3)
    assert state.stage == "protocol_in_force" and state.protocol is not None

    # the Head of Service who authorised cannot decide the appeal, even as a Director
    await handle.execute_update(
        CaseWorkflow.log_appeal,
        AppealRequest("ap-1", "I only wanted my repair done", "officer-7", datetime.now(UTC)),
    )
    await rejected(
        decide(handle, "appeal_decision", "upheld", "director", by="hos-ann"), "not involved"
    )
    state = await decide(handle, "appeal_decision", "upheld", "director", by="dir-zoe")
    assert state.protocol is not None

    review = await open_task(handle, "protocol_review", within=30)
    expected_role = "head_of_service"
    assert review.role == expected_role
    state = await decide(handle, "protocol_review", "end", expected_role)
    assert state.stage == "closed" and state.protocol is None

    subjects = kinds(smtp_outbox[0], address)
    assert len(subjects) == 5, subjects  # each letter of the path arrived exactly once
    case = await stack_records.latest_case(ref)
    assert case is not None and case.stage == "closed"
    letters = await stack_records.letters(case.case_key)
    assert [(x.kind, x.status) for x in letters] == [
        ("initial_warning", "sent"),
        ("formal_warning", "sent"),
        ("protocol", "sent"),
        ("appeal_outcome", "sent"),
        ("review_outcome", "sent"),
    ]
    trail = await stack_records.audit_trail(case.case_key)
    decided = [a for a in trail if ":" in a.action]
    assert [a.action for a in decided] == [
        "initial_warning:issued",
        "formal_warning:issued",
        "behaviour_assessment:unacceptable",
        "protocol_authorisation:authorised",
        "appeal_decision:upheld",
        "protocol_review:end",
    ]
    assert all(a.actor and a.role and a.reason and a.at for a in decided)
    protocols = await stack_records.protocols(ref)
    assert [p.status for p in protocols] == ["ended"]


@BOTH_PROFILES
async def test_physical_violence_flags_reports_to_police_and_takes_tenancy_action(
    client: Client, worker: Worker, settings: Settings, stack_records: Records, profile: str
) -> None:
    shorten(settings, profile)
    ref = new_ref("PV")
    address = await customer(stack_records, ref)
    handle = await report(
        client, settings, incident(ref, Category.PHYSICAL_VIOLENCE, Channel.IN_PERSON)
    )
    state = await state_when(handle, lambda s: len(s.open_tasks) == 2)
    assert state.risk_flag and state.direct_contact_ended
    assert {t.kind: t.role for t in state.open_tasks} == {
        "police_report": "officer",
        "tenancy_action": "director",
    }
    await rejected(decide(handle, "police_report", "not_reported", "officer"), "always reported")
    await decide(handle, "police_report", "reported", "officer", reference="CAD-1234")
    state = await decide(handle, "tenancy_action", "nosp_served", "director")
    assert state.stage == "direct_contact_ended"
    await rejected(
        handle.execute_update(
            CaseWorkflow.log_appeal,
            AppealRequest("ap-2", "unfair", "officer-7", datetime.now(UTC)),
        ),
        "legal appeal route",
    )
    assert [a.action for a in await stack_records.audit_trail(state.case_key)].count(
        "risk_flag_set"
    ) == 1
    assert len(messages_to(Path(settings.var_dir), address)) == 0  # sanity: not our outbox


@BOTH_PROFILES
async def test_appeal_overturned_removes_the_protocol(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
    profile: str,
) -> None:
    shorten(settings, profile)
    ref = new_ref("AO")
    address = await customer(stack_records, ref)
    handle = await climb_to_protocol(client, settings, ref)
    await authorise(handle, review_after_seconds=LONG)
    await handle.execute_update(
        CaseWorkflow.log_appeal,
        AppealRequest("ap-3", "I have a disability", "crm", datetime.now(UTC)),
    )
    state = await decide(handle, "appeal_decision", "overturned", "director", by="dir-raj")
    assert state.protocol is None and state.stage == "formal_warning"
    assert [p.status for p in await stack_records.protocols(ref)] == ["overturned"]
    assert len(kinds(smtp_outbox[0], address)) == 4


@BOTH_PROFILES
async def test_review_continued_twice_then_ended(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
    profile: str,
) -> None:
    shorten(settings, profile)
    ref = new_ref("RV")
    address = await customer(stack_records, ref)
    handle = await climb_to_protocol(client, settings, ref)
    await authorise(handle, review_after_seconds=2)

    async def listed_by_review_date() -> list[str] | None:
        query = f"WorkflowId = '{handle.id}' AND NextReviewAt > '2026-01-01T00:00:00Z'"
        return [wf.id async for wf in client.list_workflows(query)] or None

    assert await eventually(listed_by_review_date) == [handle.id]
    for _ in range(2):
        state = await decide(
            handle, "protocol_review", "continue", "head_of_service", review_after_seconds=2
        )
        assert state.protocol is not None and state.stage == "protocol_in_force"
    state = await decide(handle, "protocol_review", "end", "head_of_service")
    assert state.stage == "closed"
    assert (await stack_records.protocols(ref))[0].reviews == 3
    assert len(kinds(smtp_outbox[0], address)) == 3 + 3  # warnings+protocol, 3 reviews


@BOTH_PROFILES
async def test_immediate_action_signed_off_by_a_director_skips_the_warnings(
    client: Client, worker: Worker, settings: Settings, stack_records: Records, profile: str
) -> None:
    shorten(settings, profile)
    ref = new_ref("IA")
    await customer(stack_records, ref)
    handle = await report(
        client,
        settings,
        incident(ref, Category.UNREASONABLE_DEMANDS, immediate_action_requested=True),
    )
    await open_task(handle, "immediate_action")
    await rejected(
        decide(handle, "immediate_action", "approved", "manager", terms=TERMS), "director"
    )
    await rejected(
        decide(
            handle,
            "immediate_action",
            "approved",
            "director",
            terms=ProtocolTerms(contact_methods=[]),
            reasonable_adjustments="none needed",
        ),
        "at least one form of contact",
    )
    state = await decide(
        handle,
        "immediate_action",
        "approved",
        "director",
        terms=TERMS,
        reasonable_adjustments="none needed: no support needs disclosed",
    )
    assert state.stage == "protocol_in_force" and state.protocol and state.protocol.immediate
    assert [t.kind for t in state.open_tasks] == []  # the pending initial warning is moot
    tasks = {t.kind: t.status for t in await stack_records.tasks(state.case_key)}
    assert tasks == {"immediate_action": "decided", "initial_warning": "superseded"}
    trail = await stack_records.audit_trail(state.case_key)
    assert [a.reason for a in trail if a.action == "task_superseded"] == [
        "a protocol is now in force"
    ]


async def test_vulnerable_customer_is_written_to_through_their_advocate(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
) -> None:
    shorten(settings, "magna")
    ref = new_ref("VU")
    address = await customer(stack_records, ref)
    handle = await report(client, settings, incident(ref))
    await open_task(handle, "initial_warning")
    await rejected(
        handle.execute_update(CaseWorkflow.record_support, SupportRecord("", "officer")),
        "recorded_by",
    )
    state = await handle.execute_update(
        CaseWorkflow.record_support,
        SupportRecord(
            recorded_by="officer-7",
            role="officer",
            vulnerabilities=["mental health"],
            advocate_name="Alex Advocate",
            advocate_email=f"advocate-{ref.lower()}@example.org",
            contact_via_advocate=True,
            reasonable_adjustments="Letters through the advocate; plain English",
            referral_consent=True,
            mediation_offered=True,
        ),
    )
    assert state.support.contact_via_advocate and state.support.referral_consent
    await decide(handle, "initial_warning", "issued", "officer", method="letter")
    outbox = smtp_outbox[0]
    assert messages_to(outbox, address) == []
    [letter] = messages_to(outbox, f"advocate-{ref.lower()}@example.org")
    assert "Alex Advocate" in letter.get_payload(0).get_payload(decode=True).decode()  # type: ignore[union-attr]


async def test_housing_solutions_has_no_mediation_or_referral(
    client: Client, worker: Worker, settings: Settings
) -> None:
    shorten(settings, "housing_solutions")
    handle = await report(client, settings, incident(new_ref("HS")))
    await rejected(
        handle.execute_update(
            CaseWorkflow.record_support,
            SupportRecord("officer-7", "officer", mediation_offered=True),
        ),
        "no mediation",
    )


@BOTH_PROFILES
async def test_quiet_case_closes_reopens_within_twelve_months_and_keeps_its_history(
    client: Client, worker: Worker, settings: Settings, stack_records: Records, profile: str
) -> None:
    shorten(settings, profile, quiet_period=2, closed_case_disregard=LONG)
    ref = new_ref("RO")
    await customer(stack_records, ref)
    handle = await report(client, settings, incident(ref))
    await decide(handle, "initial_warning", "issued", "officer", method="in_person")
    state = await state_when(handle, lambda s: s.stage == "closed", within=20)
    assert [x.kind for x in state.letters] == ["case_closed"]
    await report(client, settings, incident(ref))
    await open_task(handle, "formal_warning")  # history counts: warned already
    state_after = await state_when(handle, lambda s: s.reopened == 1)
    assert state_after.episode == 1 and state_after.closed_at is None


@BOTH_PROFILES
async def test_after_the_twelve_month_rule_a_fresh_case_does_not_weigh_the_old_one(
    client: Client, worker: Worker, settings: Settings, stack_records: Records, profile: str
) -> None:
    shorten(settings, profile, quiet_period=1, closed_case_disregard=2)
    ref = new_ref("FR")
    await customer(stack_records, ref)
    handle = await report(client, settings, incident(ref))
    await decide(handle, "initial_warning", "issued", "officer", method="phone")
    result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.closed_at is not None and result.initial_warning_given

    fresh = await report(client, settings, incident(ref))
    task = await open_task(fresh, "initial_warning")  # not a formal warning: old case ignored
    state = await state_when(fresh, lambda s: s.episode == 2)
    assert state.case_key.endswith("/2") and task.kind == "initial_warning"
    assert not state.initial_warning_given


@BOTH_PROFILES
async def test_bad_decisions_are_rejected_and_change_nothing(
    client: Client, worker: Worker, settings: Settings, profile: str
) -> None:
    shorten(settings, profile)
    handle = await report(client, settings, incident(new_ref("BD")))
    task = await open_task(handle, "initial_warning")
    before = (await handle.fetch_history()).events

    def attempt(**changes: str) -> Decision:
        sound = Decision(
            task_id=task.task_id,
            outcome="issued",
            decided_by="officer-1",
            role="officer",
            reason="persisted after being asked to stop",
            method="letter",
        )
        return replace(sound, **changes)  # type: ignore[arg-type]

    for bad, message in [
        (attempt(task_id="no-such-task"), "no open task"),
        (attempt(role="contractor"), "decided by"),
        (attempt(outcome="sacked"), "not one of"),
        (attempt(reason=" "), "why"),
        (attempt(method="carrier pigeon"), "method"),
    ]:
        await rejected(
            handle.execute_update(CaseWorkflow.decide, bad, id=f"{task.task_id}-{message}"), message
        )
    assert len((await handle.fetch_history()).events) == len(before), "nothing reached history"

    await handle.execute_update(CaseWorkflow.decide, attempt(), id=task.task_id)
    await rejected(
        handle.execute_update(CaseWorkflow.decide, attempt(), id=f"{task.task_id}-again"),
        "already been decided",
    )
    # the same update id again is deduplicated by Temporal: same answer, applied once
    state = await handle.execute_update(CaseWorkflow.decide, attempt(), id=task.task_id)
    assert state.initial_warning_given and len(state.letters) == 1


async def test_overdue_task_escalates_to_the_next_role_up(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    shorten(settings, "housing_solutions", task_due=1)
    handle = await report(client, settings, incident(new_ref("ES")))
    state = await state_when(
        handle, lambda s: bool(s.open_tasks) and s.open_tasks[0].escalated_to == "manager"
    )
    tasks = await stack_records.tasks(state.case_key)
    assert [(t.kind, t.escalated_to) for t in tasks] == [("initial_warning", "manager")]
    # the manager it was escalated to may now decide it
    state = await decide(handle, "initial_warning", "issued", "manager", method="letter")
    assert state.initial_warning_given


async def test_escalation_emails_the_next_roles_mailbox_without_personal_data(
    client: Client, settings: Settings, stack_records: Records, smtp_outbox: tuple[Path, int]
) -> None:
    from worker import build_worker

    shorten(settings, "housing_solutions", task_due=1)
    mailbox = f"managers-{new_ref().lower()}@landlord.example"
    settings.role_mailboxes = {"manager": mailbox}
    ref = new_ref("EM")
    await customer(stack_records, ref)
    async with build_worker(client, settings, stack_records):
        handle = await report(client, settings, incident(ref))
        task = await open_task(handle, "initial_warning")
        await state_when(handle, lambda s: s.open_tasks[0].escalated_to == "manager")

        async def delivered() -> list[Message] | None:
            return messages_to(smtp_outbox[0], mailbox) or None

        [message] = await eventually(delivered)
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert f"/inbox/tasks/{task.task_id}" in text and ref in text
    assert "Pat" not in text and "closed repair" not in text  # no name, no description


async def test_thousands_of_incidents_continue_as_new_and_every_one_is_kept(
    client: Client, worker: Worker, settings: Settings, stack_records: Records
) -> None:
    shorten(settings, "housing_solutions")
    ref = new_ref("CAN")
    handle = await report(client, settings, incident(ref))
    first_run = (await handle.describe()).run_id
    total = 1500
    for start in range(1, total, 100):
        await asyncio.gather(
            *(
                handle.signal("report_incident", incident(ref))
                for _ in range(min(100, total - start))
            )
        )
    latest = client.get_workflow_handle_for(CaseWorkflow.run, handle.id)
    try:
        # generous: on a shared, loaded machine 1,500 incidents can take a while
        state = await state_when(latest, lambda s: s.incident_count == total, within=300)
    except AssertionError:
        now = await latest.query(CaseWorkflow.state)
        description = await latest.describe()
        recorded = len(await stack_records.incidents(now.case_key))
        raise AssertionError(
            f"incident_count={now.incident_count} recorded={recorded} "
            f"malformed={now.malformed_signals} status={description.status} "
            f"history_length={description.raw_description.workflow_execution_info.history_length}"
        ) from None

    async def continued_as_new() -> str | None:
        run_id = (await latest.describe()).run_id
        return run_id if run_id != first_run else None

    # the last run may still be draining when the count is reached; it continues as new then
    assert await eventually(continued_as_new, within=60)
    assert len(await stack_records.incidents(state.case_key)) == total
    assert [t.kind for t in state.open_tasks] == ["initial_warning"]
