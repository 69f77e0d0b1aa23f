"""Every path of the Appendix 1 process map, for both profiles, with short durations."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from policy.categories import Category, Channel
from policy.protocol import ProtocolTerms
from records.repository import Records
from settings import Settings
from starter.temporal import case_handle
from tests.support import eventually, messages_to
from tests.workflows.helpers import (
    FACTORS,
    TERMS,
    Handle,
    authorise,
    climb_to_assessment,
    decide,
    incident,
    new_ref,
    open_task,
    rejected,
    report,
    state_when,
)
from workflows.case import CaseWorkflow
from workflows.messages import AppealRequest, Decision, RiskFlagReviewRequest, SupportRecord

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


async def letters_arrived(outbox: Path, address: str, count: int) -> list[str] | None:
    """The subjects of the letters to ``address`` once at least ``count`` arrived."""
    subjects = kinds(outbox, address)
    return subjects if len(subjects) >= count else None


async def climb_to_protocol(client: Client, settings: Settings, ref: str) -> Handle:
    """Initial warning -> formal warning -> assessment -> protocol authorised."""
    handle = await climb_to_assessment(client, settings, ref)
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

    # The update answers once the letter is stored and its delivery started, not sent.
    subjects = await eventually(lambda: letters_arrived(smtp_outbox[0], address, 5))
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


ENDED_TERMS = ProtocolTerms(
    contact_methods=["letter", "third_party"], appointment_only=True, visits_in_pairs=True
)
CUSTOMER_WORDS = "On 20 November you pushed our officer at the office counter."
INTERNAL_NOTE = "Internal-note-Heron-51: CCTV reviewed by the Director"


def letter_text(message: Message) -> str:
    part = message.get_payload(0)
    assert isinstance(part, Message)
    return str(part.get_payload(decode=True).decode())  # type: ignore[union-attr]


@BOTH_PROFILES
async def test_violence_is_a_directors_urgent_decision_with_review_and_appeal(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
    profile: str,
) -> None:
    shorten(settings, profile, urgent_task_due=600)
    ref = new_ref("PV")
    address = await customer(stack_records, ref)
    outbox = smtp_outbox[0]
    handle = await report(
        client, settings, incident(ref, Category.PHYSICAL_VIOLENCE, Channel.IN_PERSON)
    )
    # The stage is derived at the end of the pass that opened the tasks: wait for both.
    state = await state_when(handle, lambda s: len(s.open_tasks) == 3 and s.stage != "open")
    # At once: the risk flag and interim staff-safety measures; nobody's contact is ended yet.
    assert state.risk_flag and state.interim_measures and not state.direct_contact_ended
    assert state.stage == "direct_contact_decision" and state.protocol is None
    tasks = {t.kind: t for t in state.open_tasks}
    assert {k: t.role for k, t in tasks.items()} == {
        "end_direct_contact": "director",
        "police_report": "officer",
        "tenancy_action": "director",
    }
    urgent = tasks["end_direct_contact"]
    assert (urgent.due_at - urgent.created_at).total_seconds() == 600  # urgent, not 5 days

    async def interim_on_record() -> bool:
        case = await stack_records.latest_case(ref)
        return case is not None and case.interim_measures

    assert await eventually(interim_on_record)  # contractors see the interim measures
    assert kinds(outbox, address) == []  # no letter before a person has decided
    await rejected(
        handle.execute_update(
            CaseWorkflow.log_appeal, AppealRequest("ap-1", "unfair", "crm", datetime.now(UTC))
        ),
        "no restriction is in force",
    )
    await rejected(decide(handle, "police_report", "not_reported", "officer"), "always reported")
    await decide(handle, "police_report", "reported", "officer", reference="CAD-1234")
    # The Director's decision needs terms, adjustments and a reason for the customer.
    await rejected(decide(handle, "end_direct_contact", "ended", "director"), "terms")
    await rejected(
        decide(
            handle,
            "end_direct_contact",
            "ended",
            "director",
            terms=ENDED_TERMS,
            reasonable_adjustments="Letters copied to the support worker",
            customer_reason=" ",
        ),
        "customer_reason",
    )
    state = await decide(
        handle,
        "end_direct_contact",
        "ended",
        "director",
        by="director-1",
        terms=ENDED_TERMS,
        reasonable_adjustments="Letters copied to the support worker",
        review_after_seconds=LONG,
        customer_reason=CUSTOMER_WORDS,
        reason=INTERNAL_NOTE,
    )
    restriction = state.protocol
    assert restriction is not None and restriction.kind == "direct_contact_ended"
    assert state.direct_contact_ended and state.stage == "direct_contact_ended"
    assert not state.interim_measures
    assert (restriction.next_review_at - restriction.authorised_at).total_seconds() == LONG

    async def letter() -> list[Message] | None:
        return messages_to(outbox, address) or None

    [sent] = await eventually(letter)
    assert sent["Subject"] == "We are ending direct contact with you"
    text = letter_text(sent)
    assert CUSTOMER_WORDS in text and INTERNAL_NOTE not in text
    assert restriction.next_review_at.strftime("%d %B %Y") in text
    # Ended contact is appealable like any restriction; overturned, it is lifted.
    await handle.execute_update(
        CaseWorkflow.log_appeal,
        AppealRequest("ap-2", "It was not me", "crm", datetime.now(UTC)),
    )
    await rejected(
        decide(handle, "appeal_decision", "overturned", "director", by="DIRECTOR-1"),
        "not involved",
    )
    [record] = await stack_records.protocols(ref)
    assert (record.kind, record.status) == ("direct_contact_ended", "in_force")
    state = await decide(handle, "appeal_decision", "overturned", "director", by="director-2")
    assert state.protocol is None and not state.direct_contact_ended
    assert [p.status for p in await stack_records.protocols(ref)] == ["overturned"]
    actions = [a.action for a in await stack_records.audit_trail(state.case_key)]
    assert actions.count("risk_flag_set") == 1
    assert actions.count("interim_measures_applied") == 1


@BOTH_PROFILES
async def test_a_restriction_allows_one_further_assessment_under_hs_and_more_under_magna(
    client: Client, worker: Worker, settings: Settings, stack_records: Records, profile: str
) -> None:
    shorten(settings, profile)
    ref = new_ref("AP")
    await customer(stack_records, ref)
    handle = await climb_to_protocol(client, settings, ref)
    await authorise(handle, review_after_seconds=LONG)
    appeal = AppealRequest("ap-1", "I have a disability", "crm", datetime.now(UTC))
    await handle.execute_update(CaseWorkflow.log_appeal, appeal)
    await decide(handle, "appeal_decision", "upheld", "director", by="dir-raj")
    again = handle.execute_update(
        CaseWorkflow.log_appeal, AppealRequest("ap-2", "Still unfair", "crm", datetime.now(UTC))
    )
    if profile == "housing_solutions":
        await rejected(again, "further assessment")
    else:
        state = await again
        assert any(t.kind == "appeal_decision" for t in state.open_tasks)


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
    subjects = await eventually(lambda: letters_arrived(smtp_outbox[0], address, 4))
    assert len(subjects) == 4, subjects


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
    subjects = await eventually(lambda: letters_arrived(smtp_outbox[0], address, 3 + 3))
    assert len(subjects) == 3 + 3, subjects  # warnings+protocol, 3 reviews


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
        "immediate action is now in force"
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
    advocate = f"advocate-{ref.lower()}@example.org"

    async def both() -> tuple[Message, Message] | None:
        to_advocate, to_customer = messages_to(outbox, advocate), messages_to(outbox, address)
        return (to_advocate[0], to_customer[0]) if to_advocate and to_customer else None

    # The letter goes to the advocate, and (unless a decision says otherwise) a copy to
    # the customer, saying whom the letter went to.
    sent, copy = await eventually(both)
    assert "Dear Alex Advocate" in letter_text(sent) and "Your copy" not in letter_text(sent)
    copy_text = letter_text(copy)
    assert "Your copy" in copy_text and "Alex Advocate" in copy_text and "Dear Pat" in copy_text
    await asyncio.sleep(1)
    assert len(messages_to(outbox, advocate)) == len(messages_to(outbox, address)) == 1


async def test_a_letter_with_no_address_becomes_a_staff_task_and_no_copy_if_so_decided(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
) -> None:
    shorten(settings, "housing_solutions")
    ref = new_ref("NA")
    address = await customer(stack_records, ref)
    handle = await report(client, settings, incident(ref))
    await open_task(handle, "initial_warning")
    await handle.execute_update(
        CaseWorkflow.record_support,
        SupportRecord(
            recorded_by="officer-7",
            role="officer",
            advocate_name="Alex Advocate",  # a name only: nowhere to send the letter
            contact_via_advocate=True,
            copy_to_customer=False,
        ),
    )
    await decide(handle, "initial_warning", "issued", "officer", method="letter")
    problem = await open_task(handle, "letter_undeliverable", within=30)
    assert "no address" in problem.context["explanation"]
    assert problem.context["problem"] == "LetterUndeliverable"
    await asyncio.sleep(1)
    assert messages_to(smtp_outbox[0], address) == []  # no copy: the decision said so
    assert not list(settings.post_room.glob(f"{ref}-*"))  # nothing unaddressed to the post


@BOTH_PROFILES
async def test_referral_for_support_needs_the_customers_consent(
    client: Client, worker: Worker, settings: Settings, stack_records: Records, profile: str
) -> None:
    shorten(settings, profile)
    ref = new_ref("RS")
    await customer(stack_records, ref)
    handle = await climb_to_assessment(client, settings, ref)
    await decide(handle, "behaviour_assessment", "refer_for_support", "manager", factors=FACTORS)
    await open_task(handle, "support_referral")
    await rejected(decide(handle, "support_referral", "referred", "officer"), "consent")
    # HS 6.5.4 "support mechanisms, mediation or advocacy": both profiles record them.
    await handle.execute_update(
        CaseWorkflow.record_support,
        SupportRecord("officer-7", "officer", referral_consent=True, mediation_offered=True),
    )
    state = await decide(handle, "support_referral", "referred", "officer")
    assert not any(t.kind == "support_referral" for t in state.open_tasks)
    assert state.support.referral_consent and state.support.mediation_offered


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
    # HS 6.5.1: the warning given in person is confirmed in writing; then the closure.
    assert [x.kind for x in state.letters] == ["initial_warning", "case_closed"]
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
            customer_reason="You kept calling after we asked you to stop.",
        )
        return replace(sound, **changes)  # type: ignore[arg-type]

    for bad, message in [
        (attempt(task_id="no-such-task"), "no open task"),
        (attempt(role="contractor"), "decided by"),
        (attempt(outcome="sacked"), "not one of"),
        (attempt(reason=" "), "why"),
        (attempt(method="carrier pigeon"), "method"),
        (attempt(customer_reason=""), "customer_reason"),
    ]:
        await rejected(
            handle.execute_update(CaseWorkflow.decide, bad, id=f"{task.task_id}-{message}"), message
        )
    # Rejected updates never reach history (the case may still be finishing its own pass,
    # so other events can follow): no update was accepted, and the task is still open.
    after = (await handle.fetch_history()).events
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    assert [e for e in after if e.event_type == accepted] == [], "nothing reached history"
    assert after[: len(before)] == before
    state = await handle.query(CaseWorkflow.state)
    assert [t.task_id for t in state.open_tasks if t.kind == "initial_warning"] == [task.task_id]

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
    latest = case_handle(client, handle.id)
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


@BOTH_PROFILES
async def test_a_person_governs_the_risk_flag_and_it_comes_up_for_review(
    client: Client, worker: Worker, settings: Settings, stack_records: Records, profile: str
) -> None:
    shorten(settings, profile, risk_flag_review=3)
    ref = new_ref("RF")
    await customer(stack_records, ref)
    # An unsubstantiated allegation raises no flag by itself: a manager decides.
    handle = await report(client, settings, incident(ref, Category.UNSUBSTANTIATED_ALLEGATIONS))
    task = await open_task(handle, "risk_flag_decision")
    assert task.role == "manager"
    state = await handle.query(CaseWorkflow.state)
    assert not state.risk_flag
    state = await decide(handle, "risk_flag_decision", "applied", "manager", review_after_seconds=2)
    assert state.risk_flag and state.risk_flag_review_at is not None
    # The flag comes up for review by itself; removed, it is down.
    await open_task(handle, "risk_flag_decision", within=30)
    state = await decide(handle, "risk_flag_decision", "removed", "manager")
    assert not state.risk_flag and state.risk_flag_review_at is None
    # Staff may ask for it to be decided now; the request itself changes nothing.
    request = RiskFlagReviewRequest("officer-3", "officer", "He followed an officer home")
    state = await handle.execute_update(CaseWorkflow.request_risk_flag_review, request)
    assert not state.risk_flag
    assert any(t.kind == "risk_flag_decision" for t in state.open_tasks)
    await rejected(
        handle.execute_update(CaseWorkflow.request_risk_flag_review, request), "already waiting"
    )
    trail = await stack_records.audit_trail(state.case_key)
    actions = [a.action for a in trail]
    assert actions.count("risk_flag_decision:applied") == 1
    assert actions.count("risk_flag_decision:removed") == 1
    requested = next(a for a in trail if a.action == "risk_flag_review_requested")
    assert (requested.actor, requested.role) == ("officer-3", "officer")


@BOTH_PROFILES
async def test_magna_appeals_any_decision_but_legal_action_hs_only_a_restriction(
    client: Client,
    worker: Worker,
    settings: Settings,
    stack_records: Records,
    smtp_outbox: tuple[Path, int],
    profile: str,
) -> None:
    shorten(settings, profile)
    ref = new_ref("AW")
    address = await customer(stack_records, ref)
    handle = await report(client, settings, incident(ref))
    await decide(handle, "initial_warning", "issued", "officer", method="letter")
    await report(client, settings, incident(ref))
    await decide(handle, "formal_warning", "issued", "officer")
    appeal = AppealRequest("ap-w", "I was not rude", "crm", datetime.now(UTC), "formal_warning")
    if profile == "housing_solutions":  # HS 6.5.5: an appeal against a protocol only
        await rejected(handle.execute_update(CaseWorkflow.log_appeal, appeal), "against")
        return
    no_flag = AppealRequest("ap-f", "No risk", "crm", datetime.now(UTC), "risk_flag")
    await rejected(handle.execute_update(CaseWorkflow.log_appeal, no_flag), "no risk flag")
    await handle.execute_update(CaseWorkflow.log_appeal, appeal)
    await rejected(
        decide(
            handle,
            "appeal_decision",
            "varied",
            "director",
            by="dir-2",
            terms=TERMS,
            reasonable_adjustments="none",
        ),
        "only a restriction",
    )
    state = await decide(handle, "appeal_decision", "overturned", "director", by="dir-2")
    assert state.initial_warning_given and not state.formal_warning_given
    assert state.stage == "initial_warning"

    async def appeal_letter() -> Message | None:
        sent = [m for m in messages_to(smtp_outbox[0], address) if "appeal" in m["Subject"]]
        return sent[0] if sent else None

    text = letter_text(await eventually(appeal_letter))
    assert "our formal warning" in text and "withdrawn" in text
    assert "Customer words: appeal_decision overturned." in text
    # The warning withdrawn, the next incident asks for a formal warning again.
    await report(client, settings, incident(ref))
    await open_task(handle, "formal_warning")


@BOTH_PROFILES
async def test_ended_contact_replaces_a_protocol_is_reviewed_by_a_director_and_the_flag_stays(
    client: Client, worker: Worker, settings: Settings, stack_records: Records, profile: str
) -> None:
    shorten(settings, profile, quiet_period=2)
    ref = new_ref("RP")
    await customer(stack_records, ref)
    handle = await climb_to_protocol(client, settings, ref)
    await authorise(handle, review_after_seconds=LONG)
    await report(client, settings, incident(ref, Category.THREAT_OF_VIOLENCE, Channel.PHONE))
    state = await decide(
        handle,
        "end_direct_contact",
        "ended",
        "director",
        terms=ENDED_TERMS,
        reasonable_adjustments="Letters copied to the support worker",
        review_after_seconds=2,
        customer_reason=CUSTOMER_WORDS,
    )
    assert state.protocol is not None and state.protocol.kind == "direct_contact_ended"
    # One restriction at a time: the protocol it replaces is no longer in force.
    records = {p.kind: p.status for p in await stack_records.protocols(ref)}
    assert records == {"protocol": "replaced", "direct_contact_ended": "in_force"}
    # Ended contact, signed off by a Director, is reviewed by a Director.
    review = await open_task(handle, "protocol_review", within=30)
    assert review.role == "director"
    state = await decide(handle, "protocol_review", "end", "director")
    assert state.protocol is None and not state.direct_contact_ended
    # The risk flag raised by the threat is still in force: the case stays open.
    await asyncio.sleep(4)  # past the quiet period
    state = await handle.query(CaseWorkflow.state)
    assert state.risk_flag and state.closed_at is None
