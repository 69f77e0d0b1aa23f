"""Fault-injection harness: the whole stack as subprocesses a test can kill and cut.

    async with FaultStack(tmp_path, durations={"task_due": 12}) as stack:
        response = await stack.post_incident(body)      # the real API, over HTTP
        await stack.kill_worker(); await stack.start_worker()
        await stack.kill_temporal(); await stack.start_temporal()   # same file, same port
        await stack.cut_smtp(); await stack.restore_smtp()
        await stack.cut_database(); await stack.restore_database()
        report = await assert_invariants(stack, accepted, expected)

What runs, and how each part can fail:

* Temporal: ``temporal server start-dev`` (the venv's binary) persisting to
  ``<tmp>/temporal.sqlite``; SIGKILLed and restarted on the same file and port.
* SMTP: an in-process aiosmtpd sink (devstack.smtp_sink) behind a TcpProxy that is cut.
* Records: a fresh PostgreSQL database (dropped at the end) reached by the worker and
  the API through a TcpProxy that is cut. The test itself reads the records directly.
* Worker(s): ``python worker.py`` (one or more processes), SIGKILLed and restarted.
* API: ``python -m uvicorn --factory api.app:create_app``.

The proxies run on an event loop of their own thread, so they keep forwarding whatever
the test's loop is doing. Every wait is bounded; ``stop()`` kills every process this
harness started (by its process group, which it created) and drops the database, also
when the test failed.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import email.parser
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from devstack.smtp_sink import start_sink
from letters.deliver import message_id
from records.db import make_engine, make_sessionmaker
from records.migrate import upgrade
from records.models import Case, Incident, Letter, Task
from settings import Settings
from starter.ops import stuck_cases
from starter.temporal import connect
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.proxy import TcpProxy
from tests.support import free_port
from tokens import create_token
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

REPO = Path(__file__).resolve().parents[2]
TEMPORAL_CLI = Path(sys.executable).parent / "temporal"

# Short enough for a test, long enough that nothing happens unasked: a test that wants
# escalations sets task_due itself. Letters go again at most 2 s after SMTP is back.
DEFAULT_DURATIONS: dict[str, int] = {
    "task_due": 3600,
    "quiet_period": 7200,
    "closed_case_disregard": 7200,
    "letter_delivery_budget": 900,
    "letter_retry_max_interval": 2,
}
ROLE_MAILBOXES = {
    "officer": "housing-officers@landlord.example",
    "manager": "housing-managers@landlord.example",
    "head_of_service": "heads-of-service@landlord.example",
    "director": "directors@landlord.example",
}
BAD_END_STATES = ("Failed", "Terminated", "TimedOut")
WORKFLOW_TYPES = ("CaseWorkflow", "LetterWorkflow")

T = TypeVar("T")


async def within(seconds: float, awaitable: Awaitable[T], what: str) -> T:
    """``awaitable``, or an AssertionError naming ``what`` after ``seconds``."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise AssertionError(f"{what}: no answer within {seconds:.0f}s") from None


async def poll(
    probe: Callable[[], Awaitable[T | None]], *, seconds: float, what: str, every: float = 0.5
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + seconds
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not reached within {seconds:.0f}s (last {last!r})")
        await asyncio.sleep(every)


class ThreadedProxy:
    """A TcpProxy served by an event loop on its own thread, controlled from any loop."""

    def __init__(self, name: str, target_host: str, target_port: int) -> None:
        self.name = name
        self.proxy = TcpProxy(target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"proxy-{name}", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self.proxy.port

    async def _run(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        future = asyncio.run_coroutine_threadsafe(make(), self._loop)
        await within(30, asyncio.wrap_future(future), f"proxy {self.name}")

    async def start(self) -> None:
        await self._run(self.proxy.start)

    async def cut(self) -> None:
        await self._run(self.proxy.cut)

    async def restore(self) -> None:
        await self._run(self.proxy.restore)

    async def close(self) -> None:
        try:
            await self._run(self.proxy.stop)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 5)
            if not self._thread.is_alive():
                self._loop.close()


# Every child still running, so that even an interpreter exit without stop() (Ctrl-C
# through the session) leaves none behind.
_LIVE: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_LIVE.values()):
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@dataclass
class Child:
    """One subprocess in a session (process group) of its own, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.{self.starts}.log"

    def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        self.starts += 1
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE[self.process.pid] = self.process

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL this child's own process group (it leads it), then reap it."""
        process = self.process
        if process is None:
            return
        if process.poll() is not None:
            _LIVE.pop(process.pid, None)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        _LIVE.pop(process.pid, None)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@dataclass
class Outage:
    part: str
    started: float
    ended: float | None = None

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started


@dataclass(frozen=True)
class ExpectedCase:
    """What one customer's case must hold once the stack is healthy again."""

    email: str | None = None
    tasks: frozenset[str] = frozenset()
    letters: frozenset[str] = frozenset()


class FaultStack:
    """Temporal, SMTP, records, worker(s) and API, each under the test's control."""

    def __init__(
        self,
        root: Path,
        *,
        durations: Mapping[str, int] | None = None,
        workers: int = 1,
        role_mailboxes: bool = False,
    ) -> None:
        self.root = root
        self.logs = root / "logs"
        self.outbox = root / "outbox"
        self.var = root / "var"
        self.temporal_db = root / "temporal.sqlite"
        self.durations = {**DEFAULT_DURATIONS, **(durations or {})}
        self.worker_count = workers
        self.role_mailboxes = dict(ROLE_MAILBOXES) if role_mailboxes else {}
        self.secret = secrets.token_urlsafe(32)
        self.task_queue = f"ucb-faults-{uuid.uuid4().hex[:8]}"
        self.temporal_port = free_port()
        self.api_port = free_port()
        self.smtp_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.database_url = ""  # direct, for the test's own reads
        self.children: dict[str, Child] = {}
        self.kills: Counter[str] = Counter()
        self.restarts: Counter[str] = Counter()
        self.outages: list[Outage] = []
        self._db_proxy: ThreadedProxy | None = None
        self._smtp_proxy: ThreadedProxy | None = None
        self._smtp: Controller | None = None
        self._engine: AsyncEngine | None = None
        self._client: Client | None = None
        self._http: httpx.AsyncClient | None = None
        self.started_at = time.monotonic()

    # lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> FaultStack:
        try:
            await self.start()
        except BaseException:
            self.dump_logs()
            await self.stop()
            raise
        return self

    async def __aexit__(self, kind: object, error: object, tb: object) -> None:
        if error is not None:
            self.dump_logs()
        await self.stop()

    async def start(self) -> None:
        for directory in (self.logs, self.outbox, self.var):
            directory.mkdir(parents=True, exist_ok=True)
        self.database_url = await within(20, _create_postgres_database(), "create database")
        url = make_url(self.database_url)
        self._db_proxy = ThreadedProxy("postgres", url.host or "127.0.0.1", url.port or 5432)
        await self._db_proxy.start()
        proxied_db = url.set(host="127.0.0.1", port=self._db_proxy.port)
        sink_port = free_port()
        self._smtp = start_sink(self.outbox, "127.0.0.1", sink_port)
        self._smtp_proxy = ThreadedProxy("smtp", "127.0.0.1", sink_port)
        self._smtp_proxy.proxy.port = self.smtp_port
        await self._smtp_proxy.start()

        env = {k: v for k, v in os.environ.items() if not k.startswith("UCB_")}
        env.update(
            {
                "UCB_ENVIRONMENT": "test",
                "UCB_VAR_DIR": str(self.var),
                "UCB_TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
                "UCB_TASK_QUEUE": self.task_queue,
                "UCB_DATABASE_URL": proxied_db.render_as_string(hide_password=False),
                "UCB_SMTP_HOST": "127.0.0.1",
                "UCB_SMTP_PORT": str(self.smtp_port),
                "UCB_SECRET_KEY": self.secret,
                "UCB_DURATIONS": json.dumps(self.durations),
                # Unsignalled intake rows are withdrawn after this long (production: 600 s).
                "UCB_INTAKE_GRACE_SECONDS": "8",
                "UCB_ROLE_MAILBOXES": json.dumps(self.role_mailboxes),
                "UCB_PUBLIC_URL": self.api_url,
                # Fault runs drive many calls from one address: no rate limit applies.
                **{
                    f"UCB_RATE_LIMIT_{name}": "1000000/minute"
                    for name in ("INTAKE", "INTAKE_PER_ADDRESS", "SIGN_IN", "SIGN_IN_PER_ADDRESS")
                },
                "PYTHONUNBUFFERED": "1",
            }
        )
        search_attributes = [
            arg
            for name, kind in SEARCH_ATTRIBUTE_TYPES.items()
            for arg in ("--search-attribute", f"{name}={kind}")
        ]
        temporal_argv = [
            str(TEMPORAL_CLI),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.temporal_port),
            "--headless",
            "--db-filename",
            str(self.temporal_db),
            "--log-level",
            "error",
            *search_attributes,
        ]
        self.children["temporal"] = Child("temporal", temporal_argv, env, self.logs)
        for index in range(self.worker_count):
            name = self.worker_name(index)
            self.children[name] = Child(name, [sys.executable, "worker.py"], env, self.logs)
        self.children["api"] = Child(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "api.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.api_port),
                "--log-level",
                "warning",
                "--no-proxy-headers",
            ],
            env,
            self.logs,
        )
        self.children["temporal"].start()
        await within(60, asyncio.to_thread(upgrade, self.database_url), "migrate the records")
        self._engine = make_engine(self.database_url)
        await self._wait_temporal()
        for index in range(self.worker_count):
            await self.start_worker(index, count=False)
        self.children["api"].start()
        self._http = httpx.AsyncClient(base_url=self.api_url, timeout=httpx.Timeout(60))
        await poll(self._api_healthy, seconds=60, what="the API answers /healthz")

    async def stop(self) -> None:
        """Kill every process, stop the proxies and the sink, drop the database."""
        for child in reversed(list(self.children.values())):
            with contextlib.suppress(Exception):
                child.kill()
        steps: list[Callable[[], Awaitable[None]]] = []
        if self._http is not None:
            steps.append(self._http.aclose)
        for proxy in (self._db_proxy, self._smtp_proxy):
            if proxy is not None:
                steps.append(proxy.close)
        if self._engine is not None:
            steps.append(self._engine.dispose)
        for step in steps:
            with contextlib.suppress(Exception):
                await step()
        if self._smtp is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._smtp.stop)
        if self.database_url:
            with contextlib.suppress(Exception):
                await within(30, _drop_postgres_database(self.database_url), "drop database")
        self._http = self._engine = self._client = self._smtp = None
        self._db_proxy = self._smtp_proxy = None

    def dump_logs(self, lines: int = 40) -> None:
        for child in self.children.values():
            print(f"----- {child.name} (start {child.starts}) -----\n{child.tail(lines)}")

    # parts ------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """Settings as the children have them, but with the records reached directly."""
        return Settings(
            environment="test",
            temporal_address=f"127.0.0.1:{self.temporal_port}",
            task_queue=self.task_queue,
            database_url=self.database_url,
            secret_key=self.secret,
            durations=self.durations,
        )

    @property
    def http(self) -> httpx.AsyncClient:
        assert self._http is not None, "the stack is not started"
        return self._http

    @property
    def engine(self) -> AsyncEngine:
        assert self._engine is not None, "the stack is not started"
        return self._engine

    async def client(self) -> Client:
        if self._client is None:
            self._client = await within(10, connect(self.settings), "connect to Temporal")
        return self._client

    def token(self, *roles: str, user: str = "faults", ttl: int = 3600) -> str:
        return create_token(self.secret, user, list(roles), ttl)

    def auth(self, *roles: str, user: str = "faults") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles, user=user)}"}

    @staticmethod
    def worker_name(index: int) -> str:
        return f"worker{index}"

    async def _api_healthy(self) -> bool:
        api = self.children["api"]
        if not api.alive:
            raise AssertionError(f"the API exited:\n{api.tail()}")
        try:
            response = await self.http.get("/healthz", timeout=5)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _wait_temporal(self) -> None:
        temporal = self.children["temporal"]

        async def answers() -> bool:
            if not temporal.alive:
                raise AssertionError(f"Temporal exited:\n{temporal.tail()}")
            try:
                client = await self.client()
                await asyncio.wait_for(client.count_workflows(), 5)
            except Exception:
                return False
            return True

        await poll(answers, seconds=90, what="Temporal answers", every=0.3)

    async def start_worker(self, index: int = 0, *, count: bool = True) -> None:
        """Start (or restart) a worker and wait until it polls its task queue."""
        worker = self.children[self.worker_name(index)]
        worker.start()
        if count:
            self.restarts[worker.name.rstrip("0123456789")] += 1

        async def polling() -> bool:
            if not worker.alive:
                raise AssertionError(f"{worker.name} exited:\n{worker.tail()}")
            return "worker polling task queue" in worker.log_text()

        await poll(polling, seconds=60, what=f"{worker.name} polls", every=0.2)

    async def kill_worker(self, index: int = 0) -> None:
        worker = self.children[self.worker_name(index)]
        assert worker.alive, f"{worker.name} was not running:\n{worker.tail()}"
        await asyncio.to_thread(worker.kill)
        self.kills["worker"] += 1

    def workers_alive(self) -> bool:
        return all(self.children[self.worker_name(i)].alive for i in range(self.worker_count))

    async def kill_temporal(self) -> None:
        temporal = self.children["temporal"]
        assert temporal.alive, f"Temporal was not running:\n{temporal.tail()}"
        await asyncio.to_thread(temporal.kill)
        self.kills["temporal"] += 1
        self.outages.append(Outage("temporal", time.monotonic()))

    async def start_temporal(self) -> None:
        """Restart the dev server on the same persistence file and port."""
        self.children["temporal"].start()
        self.restarts["temporal"] += 1
        await self._wait_temporal()
        self._end_outage("temporal")

    async def kill_api(self) -> None:
        api = self.children["api"]
        assert api.alive, f"the API was not running:\n{api.tail()}"
        await asyncio.to_thread(api.kill)
        self.kills["api"] += 1

    async def start_api(self) -> None:
        self.children["api"].start()
        self.restarts["api"] += 1
        await poll(self._api_healthy, seconds=60, what="the API answers /healthz")

    async def cut_smtp(self) -> None:
        assert self._smtp_proxy is not None
        await self._smtp_proxy.cut()
        self.outages.append(Outage("smtp", time.monotonic()))

    async def restore_smtp(self) -> None:
        assert self._smtp_proxy is not None
        await self._smtp_proxy.restore()
        self._end_outage("smtp")

    async def cut_database(self) -> None:
        assert self._db_proxy is not None
        await self._db_proxy.cut()
        self.outages.append(Outage("database", time.monotonic()))

    async def restore_database(self) -> None:
        assert self._db_proxy is not None
        await self._db_proxy.restore()
        self._end_outage("database")

    def _end_outage(self, part: str) -> None:
        for outage in reversed(self.outages):
            if outage.part == part and outage.ended is None:
                outage.ended = time.monotonic()
                return

    def outage_seconds(self) -> float:
        return sum(o.seconds for o in self.outages)

    # the API --------------------------------------------------------------------

    async def post_incident(
        self, body: object, *, roles: tuple[str, ...] = ("case_system",)
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/incidents", json=body, headers=self.auth(*roles, user="crm")
        )

    async def post_many(
        self, bodies: Iterable[dict[str, Any]], *, concurrency: int = 8
    ) -> list[tuple[dict[str, Any], httpx.Response]]:
        """POST every body (``concurrency`` at a time); answers in the bodies' order."""
        gate = asyncio.Semaphore(concurrency)

        async def one(body: dict[str, Any]) -> tuple[dict[str, Any], httpx.Response]:
            async with gate:
                return body, await self.post_incident(body)

        return list(await asyncio.gather(*(one(b) for b in bodies)))

    # Temporal ---------------------------------------------------------------------

    async def busy_workflows(self) -> list[str]:
        """Running workflows with an activity or a workflow task pending (work in flight)."""
        client = await self.client()
        query = f"ExecutionStatus = 'Running' AND TaskQueue = '{self.task_queue}'"
        busy = []
        async for execution in client.list_workflows(query):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            raw = (await handle.describe()).raw_description
            if raw.pending_activities or raw.HasField("pending_workflow_task"):
                busy.append(execution.id)
        return busy

    async def wait_quiescent(self, seconds: float = 60) -> None:
        """Until no running workflow has work in flight (only timers and signals wait)."""

        async def idle() -> bool:
            return not await self.busy_workflows()

        await poll(idle, seconds=seconds, what="no work in flight", every=0.5)

    # the records, read directly -----------------------------------------------------

    async def rows(self, model: type[T]) -> list[T]:
        async with make_sessionmaker(self.engine)() as session:
            return list((await session.scalars(select(model))).all())


# ---------------------------------------------------------------------------------
# Invariants


@dataclass
class InvariantReport:
    """What one look at the records, the outbox and Temporal found."""

    cases: int = 0
    incidents: int = 0
    accepted: int = 0
    letters: int = 0
    letters_sent: int = 0
    letter_messages: int = 0
    resent_after_uncertain: int = 0
    letters_delivered_twice: int = 0
    notifications: int = 0
    notifications_duplicated: int = 0
    tasks: int = 0
    escalations: int = 0
    workflows: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    kills: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    outage_seconds: float = 0.0
    settled_after: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.stuck or self.violations)

    def summary(self) -> str:
        return (
            f"cases={self.cases} incidents={self.incidents} (accepted {self.accepted}) "
            f"letters={self.letters} (sent {self.letters_sent}, outbox {self.letter_messages}, "
            f"resent_after_uncertain {self.resent_after_uncertain}, twice "
            f"{self.letters_delivered_twice}) tasks={self.tasks} escalations={self.escalations} "
            f"notifications={self.notifications} (duplicated {self.notifications_duplicated}) "
            f"workflows={self.workflows} kills={self.kills} restarts={self.restarts} "
            f"outage_seconds={self.outage_seconds:.1f} settled_after={self.settled_after:.1f}s "
            f"lost={len(self.lost)} duplicated={len(self.duplicated)} stuck={len(self.stuck)} "
            f"violations={len(self.violations)}"
        )

    def details(self, limit: int = 15) -> str:
        out = []
        for name in ("lost", "duplicated", "stuck", "violations"):
            items: list[str] = getattr(self, name)
            if items:
                out.append(f"{name} ({len(items)}):")
                out.extend(f"  {item}" for item in items[:limit])
                if len(items) > limit:
                    out.append(f"  ... {len(items) - limit} more")
        return "\n".join(out)


def outbox_headers(outbox: Path) -> list[Any]:
    """Every stored message's headers (bodies are not parsed: hundreds of files)."""
    parser = email.parser.BytesHeaderParser()
    return [parser.parsebytes(path.read_bytes()) for path in sorted(outbox.glob("*.eml"))]


async def check_invariants(
    stack: FaultStack,
    accepted: Iterable[str],
    expected: Mapping[str, ExpectedCase],
    *,
    forbidden_markers: Iterable[str] = (),
    temporal: bool = True,
) -> InvariantReport:
    """One look; ``report.ok`` says whether every invariant holds right now."""
    accepted_ids = set(accepted)
    markers = list(forbidden_markers)
    report = InvariantReport(
        accepted=len(accepted_ids),
        kills=dict(stack.kills),
        restarts=dict(stack.restarts),
        outage_seconds=stack.outage_seconds(),
    )
    cases = await stack.rows(Case)
    incidents = await stack.rows(Incident)
    letters = await stack.rows(Letter)
    tasks = await stack.rows(Task)
    report.cases, report.incidents, report.letters = len(cases), len(incidents), len(letters)
    report.tasks = len(tasks)
    report.escalations = sum(t.escalations for t in tasks)
    case_by_key = {c.case_key: c for c in cases}

    # (1) every accepted incident recorded exactly once, under its customer's case.
    by_id = Counter(i.incident_id for i in incidents)
    for incident_id in sorted(accepted_ids - set(by_id)):
        report.lost.append(f"incident {incident_id}: accepted (202) but not in the records")
    for incident_id, n in by_id.items():
        if n > 1:
            report.duplicated.append(f"incident {incident_id}: {n} rows")
    for incident in incidents:
        if incident.incident_id not in accepted_ids:
            report.duplicated.append(
                f"incident {incident.incident_id} of {incident.customer_ref}: in the records "
                "but never accepted"
            )
        if incident.case_key is None:
            if incident.incident_id in accepted_ids:
                report.lost.append(f"incident {incident.incident_id}: not recorded under a case")
        elif (case := case_by_key.get(incident.case_key)) is None or (
            case.customer_ref != incident.customer_ref
        ):
            report.violations.append(
                f"incident {incident.incident_id}: under case {incident.case_key}, which is "
                f"not {incident.customer_ref}'s"
            )
        for marker in markers:
            if marker in incident.description:
                report.duplicated.append(
                    f"incident {incident.incident_id}: holds {marker!r}, from a call that was "
                    "not accepted"
                )
    if len(incidents) != len(accepted_ids):
        report.violations.append(
            f"{len(incidents)} incident rows for {len(accepted_ids)} accepted incidents"
        )

    # (4) every expected customer has one case, holding its due tasks.
    cases_of = Counter(c.customer_ref for c in cases)
    for ref in sorted(set(cases_of) - set(expected)):
        report.violations.append(f"case for {ref}, a customer no accepted incident named")
    tasks_of: dict[str, list[Task]] = {}
    for task in tasks:
        tasks_of.setdefault(task.case_key, []).append(task)
    letters_of: dict[str, list[Letter]] = {}
    for letter in letters:
        letters_of.setdefault(letter.case_key, []).append(letter)
    latest = {}
    for case in sorted(cases, key=lambda c: c.episode):
        latest[case.customer_ref] = case
    for ref, want in sorted(expected.items()):
        if cases_of[ref] != 1:
            (report.lost if cases_of[ref] == 0 else report.duplicated).append(
                f"{ref}: {cases_of[ref]} case rows (expected 1)"
            )
            continue
        case = latest[ref]
        kinds = Counter(t.kind for t in tasks_of.get(case.case_key, []))
        for kind in sorted(want.tasks - set(kinds)):
            report.lost.append(f"{ref}: no {kind} task in the records")
        open_kinds = Counter(
            t.kind
            for t in tasks_of.get(case.case_key, [])
            if t.status == "open" and t.kind != "letter_undeliverable"
        )
        for kind, n in open_kinds.items():
            if n > 1:
                report.duplicated.append(f"{ref}: {n} open {kind} tasks")
        letter_kinds = Counter(x.kind for x in letters_of.get(case.case_key, []))
        for kind in sorted(want.letters - set(letter_kinds)):
            report.lost.append(f"{ref}: no {kind} letter in the records")
        for letter in letters_of.get(case.case_key, []):
            if want.email is not None and letter.recipient not in (want.email, None):
                report.violations.append(
                    f"letter {letter.letter_id}: addressed to {letter.recipient!r}"
                )

    # (2) every letter sent (or stored), and in the outbox once (twice only if resent).
    headers = outbox_headers(stack.outbox)
    outbox_ids = Counter(str(h["Message-ID"]).strip() for h in headers)
    recipients: dict[str, set[str]] = {}
    for h in headers:
        recipients.setdefault(str(h["Message-ID"]).strip(), set()).add(str(h["To"]))
    letter_ids = set()
    for letter in letters:
        mid = message_id(letter.letter_id)
        letter_ids.add(mid)
        report.resent_after_uncertain += bool(letter.resent_after_uncertain)
        if letter.status not in ("sent", "stored"):
            report.lost.append(
                f"letter {letter.letter_id}: {letter.status} after {letter.attempts} attempt(s)"
            )
            continue
        report.letters_sent += 1
        if letter.delivery != "email":
            continue
        copies = outbox_ids[mid]
        report.letter_messages += copies
        if copies == 0:
            report.lost.append(f"letter {letter.letter_id}: sent, but not in the outbox")
        elif copies == 2 and letter.resent_after_uncertain:
            report.letters_delivered_twice += 1
        elif copies > 1:
            report.duplicated.append(
                f"letter {letter.letter_id}: {copies} copies in the outbox "
                f"(resent_after_uncertain={letter.resent_after_uncertain})"
            )
        if copies and recipients[mid] != {letter.recipient}:
            report.violations.append(
                f"letter {letter.letter_id}: delivered to {sorted(recipients[mid])}, "
                f"recorded for {letter.recipient!r}"
            )
    notification_ids = {
        message_id(f"escalation:{t.task_id}:{level}")
        for t in tasks
        for level in range(1, t.escalations + 1)
    }
    for mid, copies in outbox_ids.items():
        if mid in letter_ids:
            continue
        if mid in notification_ids:
            report.notifications += copies
            report.notifications_duplicated += copies - 1
        else:
            report.violations.append(f"message {mid} in the outbox is no letter or escalation")

    if temporal and not (report.lost or report.duplicated):
        await _check_temporal(stack, report, expected)
    return report


async def _check_temporal(
    stack: FaultStack, report: InvariantReport, expected: Mapping[str, ExpectedCase]
) -> None:
    """(3) no workflow failed, terminated or timed out; nothing stuck; letters all done."""
    client = await stack.client()
    queue = f"TaskQueue = '{stack.task_queue}'"
    for kind in WORKFLOW_TYPES:
        for status in ("Running", "Completed", *BAD_END_STATES):
            query = f"WorkflowType = '{kind}' AND ExecutionStatus = '{status}' AND {queue}"
            count = (await within(20, client.count_workflows(query), "count workflows")).count
            report.workflows[f"{kind}:{status}"] = count
            if status in BAD_END_STATES and count:
                ids = [e.id async for e in client.list_workflows(query, limit=10)]
                report.stuck.append(f"{count} {kind} {status}: {ids}")
    running_letters = report.workflows["LetterWorkflow:Running"]
    if running_letters:
        report.stuck.append(f"{running_letters} LetterWorkflow still running")
    running_cases = report.workflows["CaseWorkflow:Running"]
    if running_cases != len(expected):
        report.stuck.append(f"{running_cases} CaseWorkflow running for {len(expected)} customers")
    for kind in WORKFLOW_TYPES:
        found = await within(
            60, stuck_cases(await stack.client(), stack.settings, workflow_type=kind), "stuck"
        )
        report.stuck.extend(
            f"stuck_cases: {c.workflow_id} {c.problem} attempt {c.attempt} "
            f"{c.activity_type or ''} {c.failure_type or ''}"
            for c in found.cases
        )
        if found.truncated:
            report.violations.append(f"stuck_cases({kind}) scanned only {found.scanned}")


async def assert_invariants(
    stack: FaultStack,
    accepted: Iterable[str],
    expected: Mapping[str, ExpectedCase],
    *,
    forbidden_markers: Iterable[str] = (),
    settle: float = 120,
) -> InvariantReport:
    """Wait (at most ``settle`` seconds) until every invariant holds; fail saying which not.

    (1) every accepted incident recorded exactly once under its customer's case, and
        nothing else recorded (calls that were refused never show up);
    (2) every letter row sent (or stored) and in the SMTP outbox once by Message-ID
        (twice only if its row says resent_after_uncertain);
    (3) no workflow Failed/Terminated/TimedOut, no letter workflow left running, one
        running case per customer and ``stuck_cases`` reports nothing;
    (4) every customer has exactly one case holding its due tasks (and expected letters),
        with no task kind open twice.
    """
    accepted_ids = set(accepted)
    started = time.monotonic()
    deadline = started + settle
    while True:
        report = await check_invariants(
            stack, accepted_ids, expected, forbidden_markers=forbidden_markers
        )
        if report.ok or time.monotonic() >= deadline:
            break
        await asyncio.sleep(1.0)
    report.settled_after = time.monotonic() - started
    print(f"\n[faults] {report.summary()}")
    if not report.ok:
        stack.dump_logs(lines=25)
        raise AssertionError(
            f"invariants do not hold after {settle:.0f}s:\n{report.summary()}\n{report.details()}"
        )
    return report
