"""No case can wedge: faults on the real stack, each ending with the same invariants.

Every test runs the whole stack as subprocesses (tests/faults/harness.py) on a fresh
PostgreSQL database, breaks one part of it while cases run, lets it heal, then checks
against the records, the SMTP outbox and Temporal that nothing accepted was lost,
nothing was done twice and no case is stuck (harness.assert_invariants).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from records.models import Incident, Letter, Task
from tests.faults.harness import (
    ROLE_MAILBOXES,
    ExpectedCase,
    FaultStack,
    assert_invariants,
    outbox_headers,
    poll,
)
from tokens import create_token

pytestmark = pytest.mark.faults

WARNING = frozenset({"initial_warning"})
ABUSIVE_LETTER = frozenset({"abusive_correspondence"})
FORMAL_LETTER = frozenset({"formal_warning"})


def new_ref(prefix: str, index: int) -> str:
    return f"{prefix}-{index:03d}-{uuid.uuid4().hex[:6]}"


def email_of(ref: str) -> str:
    return f"{ref.lower()}@tenants.example.org"


def incident(
    ref: str,
    *,
    category: str = "unreasonable_persistence",
    channel: str = "phone",
    description: str | None = None,
    with_customer: bool = True,
) -> dict[str, Any]:
    """A valid incident body; with the customer's contact details so letters go by e-mail."""
    body: dict[str, Any] = {
        "customer_ref": ref,
        "category": category,
        "channel": channel,
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "description": description or f"Called again about the same closed repair ({ref})",
        "reported_by": "officer-faults",
    }
    if with_customer:
        body["customer"] = {
            "name": f"Customer {ref}",
            "email": email_of(ref),
            "postal_address": "1 Test Street, Testtown",
        }
    return body


def abusive(ref: str) -> dict[str, Any]:
    """An abusive e-mail: the HS 6.3.3 notice (itself the written initial warning), and
    tasks for a police report and the risk flag."""
    return incident(ref, category="verbal_abuse", channel="email")


ABUSIVE_TASKS = frozenset({"police_report", "risk_flag_decision"})


class Workload:
    """What the test sent and what the stack accepted: the invariants' expectations."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.abusive_refs: set[str] = set()
        self.plain_refs: set[str] = set()
        self.decided: dict[str, ExpectedCase] = {}

    def expect(self, ref: str, *, tasks: frozenset[str], letters: frozenset[str]) -> None:
        """What a decision taken in the test adds to a case."""
        known = self.decided.get(ref, ExpectedCase())
        self.decided[ref] = ExpectedCase(tasks=known.tasks | tasks, letters=known.letters | letters)

    def accept(self, body: dict[str, Any], incident_id: str) -> None:
        self.accepted.append(incident_id)
        ref = body["customer_ref"]
        if body["category"] == "verbal_abuse" and body["channel"] == "email":
            self.abusive_refs.add(ref)
        else:
            self.plain_refs.add(ref)

    def take(self, body: dict[str, Any], response: httpx.Response) -> bool:
        """Note an answer; an accepted (202) incident must end up recorded."""
        if response.status_code != 202:
            return False
        self.accept(body, response.json()["incident_id"])
        return True

    @property
    def expected(self) -> dict[str, ExpectedCase]:
        """Per customer: an abusive e-mail brings the notice and its two tasks; plain
        incidents alone bring an initial-warning task (after a notice, the warning was
        given already, so which warning task follows depends on the order of arrival)."""
        cases: dict[str, ExpectedCase] = {}
        for ref in self.abusive_refs | self.plain_refs | set(self.decided):
            if ref in self.abusive_refs:
                tasks, letters = ABUSIVE_TASKS, ABUSIVE_LETTER
            else:
                tasks, letters = WARNING, frozenset()
            extra = self.decided.get(ref, ExpectedCase())
            cases[ref] = ExpectedCase(
                email=email_of(ref), tasks=tasks | extra.tasks, letters=letters | extra.letters
            )
        return cases


@asynccontextmanager
async def running(tmp_path: Path, **options: Any) -> AsyncIterator[FaultStack]:
    started = time.monotonic()
    async with FaultStack(tmp_path, **options) as stack:
        print(f"\n[faults] stack up in {time.monotonic() - started:.1f}s")
        yield stack
    print(f"[faults] test wall time {time.monotonic() - started:.1f}s")


async def tasks_of_kind(stack: FaultStack, kind: str) -> list[Task]:
    return [t for t in await stack.rows(Task) if t.kind == kind]


async def letters_of_kind(stack: FaultStack, kind: str) -> list[Letter]:
    return [x for x in await stack.rows(Letter) if x.kind == kind]


def assert_503(response: httpx.Response, what: str) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers.get("retry-after", "").isdigit(), f"{what}: no Retry-After"


# ---------------------------------------------------------------------------------
# (a) the worker is SIGKILLed again and again while a couple of hundred cases run

CUSTOMERS_A = 200
KILLS_A = 5


async def test_worker_killed_repeatedly_while_cases_run(tmp_path: Path) -> None:
    async with running(tmp_path) as stack:
        work = Workload()
        bodies = []
        for i in range(CUSTOMERS_A):
            ref = new_ref("KILL", i)
            bodies.append(abusive(ref) if i % 2 == 0 else incident(ref))
            if i % 3 == 0:  # a second incident: recorded, acted on once
                bodies.append(incident(ref, channel="letter", with_customer=False))
        random.Random(7).shuffle(bodies)
        rng = random.Random(11)

        in_flight: list[str] = []

        async def killer() -> None:
            await asyncio.sleep(1.5)
            for _ in range(KILLS_A):
                await stack.kill_worker()
                unrecorded = [i for i in await stack.rows(Incident) if i.case_key is None]
                unsent = [x for x in await stack.rows(Letter) if x.status != "sent"]
                in_flight.append(f"{len(unrecorded)} incidents/{len(unsent)} letters")
                await stack.start_worker()
                await asyncio.sleep(rng.uniform(2, 4))

        killing = asyncio.create_task(killer())
        answers = await stack.post_many(bodies)
        await asyncio.wait_for(killing, 180)
        for body, response in answers:
            assert response.status_code == 202, response.text
            work.take(body, response)
        assert stack.kills["worker"] == KILLS_A and stack.restarts["worker"] == KILLS_A
        print(f"[faults] waiting at each kill: {', '.join(in_flight)}")
        assert not in_flight[0].startswith("0 incidents/0 "), "the first kill found no work"

        report = await assert_invariants(stack, work.accepted, work.expected, settle=180)
        assert report.cases == CUSTOMERS_A and report.incidents == len(bodies)
        assert report.letters >= CUSTOMERS_A // 2


# ---------------------------------------------------------------------------------
# (b) Temporal is killed and restarted on its file while escalation timers fall due

CUSTOMERS_B = 20
TASK_DUE_B = 20


async def test_temporal_restarted_while_escalations_fall_due(tmp_path: Path) -> None:
    durations = {"task_due": TASK_DUE_B}
    async with running(tmp_path, durations=durations, role_mailboxes=True) as stack:
        work = Workload()
        bodies = [incident(new_ref("TMP", i)) for i in range(CUSTOMERS_B)]
        for body, response in await stack.post_many(bodies):
            assert work.take(body, response), response.text

        async def all_tasks() -> list[Task] | None:
            found = await tasks_of_kind(stack, "initial_warning")
            return found if len(found) == CUSTOMERS_B else None

        started = time.monotonic()
        tasks = await poll(all_tasks, seconds=90, what="every case has its initial warning task")
        print(f"[faults] {len(tasks)} tasks open after {time.monotonic() - started:.1f}s")
        assert all(t.escalations == 0 for t in tasks)
        last_due = max(t.due_at for t in tasks)

        # Only timers wait: what is due next must come from Temporal's own timers.
        await stack.wait_quiescent()
        assert all(t.escalations == 0 for t in await tasks_of_kind(stack, "initial_warning"))
        await stack.kill_temporal()
        refused = [f"WHILE-TEMPORAL-DOWN-{i}-{uuid.uuid4().hex[:8]}" for i in range(4)]

        async def refused_call(i: int) -> float:
            """New customers and existing ones: answered 503, never half-accepted."""
            ref = new_ref("TMPDOWN", i) if i % 2 else bodies[i]["customer_ref"]
            started = time.monotonic()
            response = await stack.post_incident(incident(ref, description=refused[i]))
            assert_503(response, "POST /v1/incidents while Temporal is down")
            return time.monotonic() - started

        async def impatient_call(i: int) -> None:
            """A caller that gives up after 2 s: whatever it sent must not be recorded."""
            ref = new_ref("TMPGONE", i) if i % 2 else bodies[i]["customer_ref"]
            marker = f"GAVE-UP-WHILE-TEMPORAL-DOWN-{i}-{uuid.uuid4().hex[:8]}"
            refused.append(marker)
            with contextlib.suppress(httpx.TimeoutException):
                response = await stack.http.post(
                    "/v1/incidents",
                    json=incident(ref, description=marker),
                    headers=stack.auth("case_system", user="crm"),
                    timeout=2,
                )
                assert_503(response, "POST /v1/incidents while Temporal is down")

        took, _ = await asyncio.gather(
            asyncio.gather(*(refused_call(i) for i in range(len(refused)))),
            asyncio.gather(*(impatient_call(i) for i in range(2))),
        )
        print(f"[faults] 503s while Temporal was down answered in {max(took):.1f}s at most")
        assert max(took) < 30, f"a 503 took {max(took):.1f}s"
        # Keep Temporal down until every escalation timer has fallen due, and for >= 15 s.
        outage = stack.outages[-1]
        due_in = (last_due - datetime.now(UTC)).total_seconds() + 2
        await asyncio.sleep(max(due_in, 15 - outage.seconds, 0))
        assert all(t.escalations == 0 for t in await tasks_of_kind(stack, "initial_warning"))
        restarted_at = datetime.now(UTC)
        started = time.monotonic()
        await stack.start_temporal()
        print(f"[faults] Temporal answers {time.monotonic() - started:.1f}s after its restart")

        async def escalated() -> list[Task] | None:
            found = await tasks_of_kind(stack, "initial_warning")
            return found if all(t.escalations >= 1 for t in found) else None

        started = time.monotonic()
        tasks = await poll(escalated, seconds=90, what="every overdue task escalated")
        print(f"[faults] every task escalated {time.monotonic() - started:.1f}s after that")
        for task in tasks:
            assert task.escalated_to in ("manager", "head_of_service", "director")
            assert task.escalated_at is not None and task.escalated_at >= restarted_at - timedelta(
                seconds=1
            )

        async def told() -> bool:
            managers = [
                h for h in outbox_headers(stack.outbox) if h["To"] == ROLE_MAILBOXES["manager"]
            ]
            return len(managers) >= CUSTOMERS_B

        await poll(told, seconds=60, what="the managers' mailbox told of every escalation")
        after = incident(bodies[0]["customer_ref"], with_customer=False)
        response = await stack.post_incident(after)
        assert work.take(after, response), response.text

        report = await assert_invariants(
            stack, work.accepted, work.expected, forbidden_markers=refused
        )
        assert report.cases == CUSTOMERS_B and report.escalations >= CUSTOMERS_B


# ---------------------------------------------------------------------------------
# (c) the mail server is down for ~15 s: cases do not wait on it; letters go once after

CUSTOMERS_C = 30
DECIDED_C = 15
NEW_DURING_C = 10
SMTP_OUTAGE = 15.0


async def test_smtp_down_cases_carry_on_and_letters_go_once(tmp_path: Path) -> None:
    async with running(tmp_path) as stack:
        work = Workload()
        refs = [new_ref("MAIL", i) for i in range(CUSTOMERS_C)]
        for body, response in await stack.post_many([abusive(ref) for ref in refs]):
            assert work.take(body, response), response.text

        async def noticed() -> bool:
            letters = await letters_of_kind(stack, "abusive_correspondence")
            return len([x for x in letters if x.status == "sent"]) == CUSTOMERS_C

        await poll(noticed, seconds=90, what="first letters sent")
        # The notice was the initial warning: a second incident asks for a formal one.
        for body, response in await stack.post_many([incident(ref) for ref in refs]):
            assert work.take(body, response), response.text

        async def settled() -> list[Task] | None:
            tasks = await tasks_of_kind(stack, "formal_warning")
            return tasks if len(tasks) == CUSTOMERS_C else None

        tasks = await poll(settled, seconds=90, what="formal warning tasks open")

        await stack.cut_smtp()
        officer = stack.auth("officer", user="olu")
        decision = {
            "outcome": "issued",
            "reason": "Warned in writing",
            "customer_reason": "You called us nine times in a day.",
        }
        slowest = 0.0
        for task in tasks[:DECIDED_C]:
            started = time.monotonic()
            response = await stack.http.post(
                f"/v1/tasks/{task.task_id}/complete", json=decision, headers=officer, timeout=30
            )
            took = time.monotonic() - started
            slowest = max(slowest, took)
            assert response.status_code == 200, response.text
            assert took < 5, f"completing a task took {took:.1f}s while SMTP was down"
            ref = task.customer_ref
            work.expect(ref, tasks=frozenset({"formal_warning"}), letters=FORMAL_LETTER)
        new = [abusive(new_ref("MAILNEW", i)) for i in range(NEW_DURING_C)]
        for body, response in await stack.post_many(new):
            assert work.take(body, response), response.text
        print(f"[faults] slowest task completion while SMTP down: {slowest:.2f}s")
        await asyncio.sleep(max(0, SMTP_OUTAGE - stack.outages[-1].seconds))
        held = [x for x in await stack.rows(Letter) if x.status not in ("sent", "stored")]
        assert held, "no letter waited for the mail server: the outage did not bite"
        await stack.restore_smtp()
        restored = time.monotonic()

        async def all_sent() -> bool:
            letters = await stack.rows(Letter)
            expected = CUSTOMERS_C + DECIDED_C + NEW_DURING_C
            return len(letters) == expected and all(x.status == "sent" for x in letters)

        await poll(all_sent, seconds=60, what="every letter sent after SMTP is back")
        print(f"[faults] letters all sent {time.monotonic() - restored:.1f}s after SMTP is back")

        report = await assert_invariants(stack, work.accepted, work.expected)
        assert report.letters == CUSTOMERS_C + DECIDED_C + NEW_DURING_C


# ---------------------------------------------------------------------------------
# (d) the records database is cut for ~15 s while cases run

CUSTOMERS_D = 40
DB_OUTAGE = 15.0


async def test_records_cut_answers_503_and_cases_resume(tmp_path: Path) -> None:
    async with running(tmp_path, workers=2) as stack:
        work = Workload()
        bodies = [
            abusive(new_ref("DB", i)) if i % 2 else incident(new_ref("DB", i))
            for i in range(CUSTOMERS_D)
        ]
        for body, response in await stack.post_many(bodies):
            assert work.take(body, response), response.text

        await stack.cut_database()  # while those cases are still being worked
        unfinished = [i for i in await stack.rows(Incident) if i.case_key is None]
        sent = [x for x in await stack.rows(Letter) if x.status == "sent"]
        tasks = await stack.rows(Task)
        print(
            f"[faults] at the cut: {len(unfinished)} incidents not yet under a case, "
            f"{len(tasks)}/{CUSTOMERS_D} tasks, {len(sent)}/{CUSTOMERS_D // 2} letters sent"
        )
        pending = unfinished or len(tasks) < CUSTOMERS_D or len(sent) < CUSTOMERS_D // 2
        assert pending, "the cut came after the cases had done all their work"
        officer = stack.auth("officer", user="olu")
        refused: list[str] = []
        calls = 0
        while stack.outages[-1].seconds < DB_OUTAGE:
            marker = f"WHILE-DB-DOWN-{calls}-{uuid.uuid4().hex[:8]}"
            ref = new_ref("DBDOWN", calls) if calls % 2 else bodies[calls]["customer_ref"]
            started = time.monotonic()
            response = await stack.post_incident(incident(ref, description=marker))
            assert time.monotonic() - started < 10, "a 503 must come quickly"
            assert_503(response, "POST /v1/incidents while the records are down")
            refused.append(marker)
            listed = await stack.http.get("/v1/tasks", headers=officer)
            assert_503(listed, "GET /v1/tasks while the records are down")
            calls += 1
            await asyncio.sleep(0.5)
        await stack.restore_database()
        after = incident(bodies[0]["customer_ref"], with_customer=False)
        response = await stack.post_incident(after)
        assert work.take(after, response), response.text

        report = await assert_invariants(
            stack, work.accepted, work.expected, forbidden_markers=refused
        )
        assert report.cases == CUSTOMERS_D and calls >= 10


# ---------------------------------------------------------------------------------
# (e) a burst of malformed and hostile calls mixed with valid ones

HOSTILE_VALID = 30
EMOJI_INCIDENTS = 40


def hostile_calls(
    stack: FaultStack, http: httpx.AsyncClient
) -> list[tuple[str, Callable[[], Any]]]:
    """(name, coroutine factory) for every malformed or hostile call."""
    intake = stack.auth("case_system", user="crm")
    ref = new_ref("HOSTILE", 0)

    def post(name: str, body: Any, headers: dict[str, str] | None = None) -> tuple[str, Any]:
        return name, lambda: http.post("/v1/incidents", json=body, headers=headers or intake)

    def raw(name: str, content: bytes, content_type: str = "application/json") -> tuple[str, Any]:
        headers = {**intake, "content-type": content_type}
        return name, lambda: http.post("/v1/incidents", content=content, headers=headers)

    def with_email(address: str) -> dict[str, Any]:
        body = incident(ref)
        body["customer"]["email"] = address
        return body

    forged = create_token("not-the-secret-" + "x" * 32, "mallory", ["case_system"], 3600)
    expired = create_token(stack.secret, "crm", ["case_system"], -60)
    valid = incident(ref)
    return [
        raw("bad JSON", b'{"customer_ref": "X", "category": '),
        raw("not UTF-8", b'{"customer_ref": "\xff\xfe"}'),
        raw("deeply nested JSON", b'{"customer": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        raw("JSON as text/plain", json.dumps(valid).encode(), "text/plain"),
        raw("4 MB body", json.dumps({**valid, "description": "A" * 4_000_000}).encode()),
        post("a list, not an object", [valid, valid]),
        post("null", None),
        post("unknown field", {**valid, "is_admin": True}),
        post("oversized description", {**valid, "description": "x" * 10_001}),
        post("oversized emoji description", {**valid, "description": "😡" * 10_001}),
        post("NUL in description", {**valid, "description": "abc\x00def"}),
        post("terminal escapes in description", {**valid, "description": "\x1b[2J\x07boom"}),
        post("NUL in reported_by", {**valid, "reported_by": "o\x00fficer"}),
        post("control character in name", {**valid, "customer": {"name": "\x1b]0;pwn\x07"}}),
        post("whitespace-only description", {**valid, "description": " \n\t "}),
        post("description a number", {**valid, "description": 12345}),
        post("victim@[example.org", with_email("victim@[example.org")),
        post(
            "header injection in e-mail", with_email("victim@example.org\r\nBcc: all@example.org")
        ),
        post("e-mail without domain", with_email("victim@")),
        post("display-name e-mail", with_email("Victim <victim@example.org>")),
        post("overlong e-mail", with_email("a" * 300 + "@example.org")),
        post("special-use e-mail domain", with_email("victim@printer.local")),
        post("huge customer_ref", {**valid, "customer_ref": "A" * 100_000}),
        post("path traversal customer_ref", {**valid, "customer_ref": "../../etc/passwd"}),
        post("empty customer_ref", {**valid, "customer_ref": ""}),
        post("newline in customer_ref", {**valid, "customer_ref": "ABC\n123"}),
        post("unicode customer_ref", {**valid, "customer_ref": "ÅBC-١٢٣"}),
        post("unknown category", {**valid, "category": "mild_annoyance"}),
        post("naive occurred_at", {**valid, "occurred_at": "2026-01-01T10:00:00"}),
        post("occurred_at 1900", {**valid, "occurred_at": "1900-01-01T10:00:00Z"}),
        post("occurred_at far future", {**valid, "occurred_at": "2999-01-01T10:00:00Z"}),
        post("occurred_at garbage", {**valid, "occurred_at": "yesterday-ish"}),
        post("overlong source_reference", {**valid, "source_reference": "s" * 101}),
        post("overlong name", {**valid, "customer": {"name": "n" * 201}}),
        post("warned_by_officer unknown", {**valid, "warned_by_officer": "carrier pigeon"}),
        post("contractor role", valid, stack.auth("contractor")),
        post("auditor role", valid, stack.auth("auditor")),
        post("operator role", valid, stack.auth("operator")),
        post("no token", valid, {"x-nothing": "1"}),
        post("forged token", valid, {"Authorization": f"Bearer {forged}"}),
        post("expired token", valid, {"Authorization": f"Bearer {expired}"}),
        post("garbage token", valid, {"Authorization": "Bearer not.a.token"}),
        (
            "PUT customer with bad e-mail",
            lambda: http.put(
                f"/v1/customers/{ref}", json={"email": "victim@[example.org"}, headers=intake
            ),
        ),
        (
            "invalid UTF-8 in the path",
            lambda: http.get("/v1/cases/%ED%A0%80%FF", headers=intake),
        ),
        (
            "invalid UTF-8 in the query",
            lambda: http.get("/v1/tasks?customer_ref=%FF%FE", headers=stack.auth("officer")),
        ),
        (
            "binary bearer token",
            lambda: http.post(
                "/v1/incidents", json=valid, headers={b"Authorization": b"Bearer \xff\xfe\x01"}
            ),
        ),
        (
            "GET case of a huge ref",
            lambda: http.get("/v1/cases/" + "A" * 20_000, headers=intake),
        ),
        (
            "GET tasks with a huge limit",
            lambda: http.get(
                "/v1/tasks?limit=100000000000000000000", headers=stack.auth("officer")
            ),
        ),
        (
            "complete an unknown task with a bad body",
            lambda: http.post(
                "/v1/tasks/nope/complete",
                json={"outcome": "x" * 100},
                headers=stack.auth("officer"),
            ),
        ),
        (
            "support for an unknown case",
            lambda: http.post(
                f"/v1/cases/{new_ref('NOCASE', 0)}/support",
                json={"vulnerabilities": ["anxiety"]},
                headers=stack.auth("officer"),
            ),
        ),
    ]


async def test_hostile_burst_never_500_and_valid_calls_recorded(tmp_path: Path) -> None:
    async with running(tmp_path) as stack:
        work = Workload()
        refs = [new_ref("OK", i) for i in range(HOSTILE_VALID // 2)]
        valid = [
            abusive(refs[i // 2]) if i % 4 == 0 else incident(refs[i // 2])
            for i in range(HOSTILE_VALID)
        ]
        # No keep-alive: one call's fate (a reset connection) cannot fall on another call.
        burst = httpx.AsyncClient(
            base_url=stack.api_url,
            timeout=60,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        hostile = hostile_calls(stack, burst)
        intake = stack.auth("case_system", user="crm")
        gate = asyncio.Semaphore(8)

        async def call(name: str, make: Callable[[], Any]) -> tuple[str, tuple[int, str]]:
            async with gate:
                try:
                    response = await make()
                except httpx.HTTPError as error:  # no answer at all: as bad as a 500
                    return name, (-1, f"{type(error).__name__}: {error}")
                return name, (response.status_code, response.text)

        def post_valid(body: dict[str, Any]) -> Any:
            return burst.post("/v1/incidents", json=body, headers=intake)

        jobs = [call(name, make) for name, make in hostile]
        jobs += [call(f"valid {i}", partial(post_valid, b)) for i, b in enumerate(valid)]
        random.Random(3).shuffle(jobs)
        try:
            answers = dict(await asyncio.gather(*jobs))
        finally:
            await burst.aclose()
        print(
            "[faults] hostile answers: "
            + ", ".join(
                f"{n}={status}"
                for n, (status, _) in sorted(answers.items())
                if not n.startswith("valid ")
            )
        )

        failed = {
            n: (status, text[:200])
            for n, (status, text) in answers.items()
            if status >= 500 or status < 0
        }
        assert not failed, f"server errors or no answer: {failed}"
        for i, body in enumerate(valid):
            status, text = answers[f"valid {i}"]
            assert status == 202, text
            work.accept(body, json.loads(text)["incident_id"])
        for name, _make in hostile:
            status, text = answers[name]
            assert 400 <= status < 500, f"{name}: {status} {text[:200]}"

        # 40 concurrent incidents for one customer, each 10,000 emoji long.
        ref = new_ref("EMOJI", 0)
        bodies = [
            incident(ref, description="😡" * 10_000, with_customer=i == 0)
            for i in range(EMOJI_INCIDENTS)
        ]
        emoji = await stack.post_many(bodies, concurrency=EMOJI_INCIDENTS)
        for body, response in emoji:
            assert work.take(body, response), response.text
        started = time.monotonic()
        support = await stack.http.post(
            f"/v1/cases/{ref}/support",
            json={"vulnerabilities": ["anxiety"], "reasonable_adjustments": "Written contact only"},
            headers=stack.auth("officer", user="olu"),
            timeout=60,
        )
        took = time.monotonic() - started
        assert support.status_code == 200, support.text
        assert took < 10, f"support took {took:.1f}s on a busy case"
        print(f"[faults] support on the emoji case answered in {took:.2f}s")

        report = await assert_invariants(stack, work.accepted, work.expected)
        assert report.incidents == HOSTILE_VALID + EMOJI_INCIDENTS


class ServerError(AssertionError):
    """The API answered 5xx where the caller was at fault."""


class PhantomIncident(AssertionError):
    """An incident row that no case holds and no caller was told about."""


async def test_lone_surrogate_in_json_is_refused_not_500(
    api_url: str, auth_for: Callable[..., dict[str, str]]
) -> None:
    """A lone surrogate escape in JSON (``"\\ud800"``) is refused with 422, not 500: the
    validation answer no longer echoes the input it cannot encode."""
    body = json.dumps(incident(new_ref("SURROGATE", 0), description="x"))
    body = body.replace('"description": "x"', '"description": "\\ud800"')
    assert '"\\ud800"' in body
    headers = {**auth_for("case_system", user="crm"), "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        response = await http.post("/v1/incidents", content=body.encode(), headers=headers)
    if response.status_code >= 500:
        raise ServerError(f"{response.status_code} {response.text[:200]}")
    assert response.status_code == 422, response.text[:200]


async def test_api_killed_while_intake_waits_on_temporal_leaves_no_phantom(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as stack:
        await stack.kill_temporal()
        ref = new_ref("APIKILL", 0)
        body = incident(ref, description=f"Sent while the API died ({uuid.uuid4().hex})")
        call = asyncio.create_task(stack.post_incident(body))

        async def stored() -> bool:
            return bool(await stack.rows(Incident))

        await poll(stored, seconds=10, what="intake stored the incident", every=0.1)
        await stack.kill_api()  # while signal-with-start retries against a dead Temporal
        with contextlib.suppress(httpx.HTTPError):
            answer = await call
            raise AssertionError(f"the caller got an answer: {answer.status_code}")
        await stack.start_temporal()
        await stack.start_api()
        resent = await stack.post_incident(body)  # no answer came: the caller sends it again
        assert resent.status_code == 202, resent.text
        accepted = resent.json()["incident_id"]

        async def recorded() -> bool:
            rows = {r.incident_id: r for r in await stack.rows(Incident)}
            return accepted in rows and rows[accepted].case_key is not None

        await poll(recorded, seconds=60, what="the resent incident recorded under its case")

        async def no_phantom() -> bool:
            rows = await stack.rows(Incident)
            return all(r.incident_id == accepted for r in rows)

        # The worker's sweep withdraws what intake stored but never handed to a case.
        try:
            await poll(no_phantom, seconds=30, what="the unsignalled incident withdrawn")
        except AssertionError:
            phantoms = [(r.incident_id, r.case_key) for r in await stack.rows(Incident)]
            raise PhantomIncident(f"rows no case holds, no caller told of: {phantoms}") from None
