"""`python -m bench stream`: no case can wedge (issue reproduction 0).

Starts the dev stack (its own temporary var dir, free ports) and, over real HTTP:

1. registers ``--others`` customers with e-mail addresses and reports one
   unreasonable-persistence incident for each (an initial-warning task, no letter);
2. baseline: every few seconds one of those customers reports verbal abuse by e-mail,
   which sends the abusive-correspondence letter at once; the time from the POST to
   the letter's .eml in the outbox (matched by its To: address) is the letter latency;
3. streams ``--incidents`` incidents for ONE customer at ``--rate`` per second, with a
   bounded number in flight, while the same letter probe keeps running on the other
   customers (each is probed once);
4. waits (bounded) until the records hold every streamed incident, then prints what
   reached the records (exactly once?), the streamed case's runs with each run's
   history length and size against the continue-as-new bound, the replay time of the
   largest run, and the letter latency during the stream against the baseline.

Figures only: the exit code is non-zero only if incidents were lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import itertools
import os
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Replayer

from api.routes.incidents import incident_id_for
from settings import Settings
from starter.codec import data_converter
from starter.temporal import connect
from tokens import create_token
from worker import workflow_runner
from workflows.case import MAX_RUN_BYTES, MAX_RUN_EVENTS, CaseWorkflow
from workflows.ids import case_workflow_id
from workflows.letter import LetterWorkflow

DEFAULT_INCIDENTS = 10_000
DEFAULT_OTHERS = 200
DEFAULT_RATE = 35.0
IN_FLIGHT = 32  # streamed POSTs waiting for an answer at most

# A benchmark floods intake from one address with one token: no rate limit may apply.
UNTHROTTLED = {
    f"UCB_RATE_LIMIT_{name}": "1000000/minute"
    for name in ("INTAKE", "INTAKE_PER_ADDRESS", "SIGN_IN", "SIGN_IN_PER_ADDRESS")
}
SETUP_IN_FLIGHT = 8
PROBE_EVERY = 5.0  # seconds between letter probes
BASELINE_PROBES = 8
LETTER_TIMEOUT = 180.0  # a probe letter not in the outbox by then counts as missing
RECORD_TIMEOUT = 600.0  # after the last POST, for the records to hold every incident
SETTLE_TIMEOUT = 300.0  # for the other cases to record their first incident
POST_ATTEMPTS = 5
STREAMED_REF = "STREAM-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def _log(message: str) -> None:
    print(f"[bench stream {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# The stack ------------------------------------------------------------------------------


class BenchStack:
    """`python -m devstack` in a temporary var dir, on free ports; its output is drained."""

    def __init__(self, root: Path) -> None:
        self.var_dir = root / "var"
        self.ports = {k: _free_port() for k in ("TEMPORAL", "TEMPORAL_UI", "SMTP", "API")}
        self.secret = secrets.token_urlsafe(32)
        self.env = dict(os.environ)
        self.env.update({f"UCB_{k}_PORT": str(v) for k, v in self.ports.items()})
        self.env.update({"UCB_VAR_DIR": str(self.var_dir), "UCB_SECRET_KEY": self.secret})
        self.env.update(UNTHROTTLED)
        self.env.pop("UCB_DATABASE_URL", None)
        self.process: subprocess.Popen[str] | None = None
        self.tail: deque[str] = deque(maxlen=300)
        self.problems: Counter[str] = Counter()  # first words of warning/error lines
        self._drain: threading.Thread | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['API']}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports['TEMPORAL']}"

    @property
    def outbox(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def records_db(self) -> Path:
        return self.var_dir / "records.sqlite3"

    def token(self, *roles: str) -> str:
        return create_token(self.secret, "bench-stream", list(roles), 4 * 3600)

    def start(self) -> float:
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._keep(line)
            if "ucb-cases is running" in line:
                ready = time.monotonic() - started
                # Keep reading: a full pipe would block the stack's children.
                self._drain = threading.Thread(target=self._read_rest, daemon=True)
                self._drain.start()
                return ready
        raise RuntimeError("the stack did not start:\n" + "".join(self.tail))

    def _read_rest(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._keep(line)

    def _keep(self, line: str) -> None:
        self.tail.append(line)
        if any(word in line for word in ("WARNING", "ERROR", "Traceback", "CRITICAL")):
            child = line.split("]", 1)[0].lstrip("[") if line.startswith("[") else "devstack"
            text = line.split("]", 1)[-1].strip()
            # Group by child and the message's start (timestamps stripped).
            words = [w for w in text.split() if not w[:1].isdigit()]
            self.problems[f"[{child}] " + " ".join(words[:8])] += 1

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# Records (read-only SQLite) -------------------------------------------------------------


class RecordsReader:
    """Read-only queries on the stack's records database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return list(connection.execute(sql, params).fetchall())
        finally:
            connection.close()

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._query, sql, params)

    async def recorded_count(self, customer_ref: str) -> int:
        rows = await self.query(
            "SELECT count(*) FROM incidents WHERE customer_ref = ? AND case_key IS NOT NULL",
            (customer_ref,),
        )
        return int(rows[0][0])

    async def recorded_with_prefix(self, prefix: str) -> int:
        rows = await self.query(
            "SELECT count(*) FROM incidents WHERE customer_ref LIKE ? AND case_key IS NOT NULL",
            (prefix + "%",),
        )
        return int(rows[0][0])


# Outbox ---------------------------------------------------------------------------------


class Outbox:
    """The SMTP sink's .eml files: arrival time (from the sink's file name) per recipient."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: set[str] = set()
        self.arrivals: dict[str, list[float]] = {}
        self._parser = BytesHeaderParser(policy=email.policy.default)

    def scan(self) -> None:
        if not self.path.exists():
            return
        for eml in self.path.glob("*.eml"):
            if eml.name in self.seen:
                continue
            self.seen.add(eml.name)
            with eml.open("rb") as handle:
                headers = self._parser.parse(handle)
            recipient = str(headers.get("To", "")).strip().lower()
            stamp = datetime.strptime(eml.name.split("-", 1)[0], "%Y%m%dT%H%M%S%fZ")
            arrived = stamp.replace(tzinfo=UTC).timestamp()
            self.arrivals.setdefault(recipient, []).append(arrived)

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.scan)
            await asyncio.sleep(0.1)

    def first_after(self, recipient: str, after: float) -> float | None:
        times = [t for t in self.arrivals.get(recipient.lower(), []) if t >= after - 1.0]
        return min(times) if times else None


# HTTP -----------------------------------------------------------------------------------


@dataclass
class PostTally:
    """What the API answered to the streamed POSTs."""

    accepted: int = 0
    rejected: Counter[int] = field(default_factory=Counter)  # final non-202 status
    failed: int = 0  # no answer after every attempt
    retries: int = 0
    retry_reasons: Counter[str] = field(default_factory=Counter)  # what each resend followed
    latencies: list[float] = field(default_factory=list)  # seconds, per 202 attempt
    first_sent: float = 0.0
    last_answered: float = 0.0


def _incident(customer_ref: str, category: str, source_reference: str) -> dict[str, Any]:
    return {
        "customer_ref": customer_ref,
        "category": category,
        "channel": "email",
        "occurred_at": _now_iso(),
        "description": f"bench stream incident {source_reference}",
        "reported_by": "bench-stream",
        "source_reference": source_reference,
    }


async def post_incident(
    http: httpx.AsyncClient, body: dict[str, Any], tally: PostTally | None = None
) -> int:
    """POST one incident, resending it (same source_reference: idempotent) on 5xx or no
    answer. Returns the final status (0: no answer)."""
    status = 0
    for attempt in range(POST_ATTEMPTS):
        if attempt and tally is not None:
            tally.retries += 1
        started = time.monotonic()
        try:
            response = await http.post("/v1/incidents", json=body)
        except httpx.HTTPError as error:
            status = 0
            if tally is not None:
                tally.retry_reasons[type(error).__name__] += 1
            await asyncio.sleep(1 + attempt)
            continue
        status = response.status_code
        if status == 202:
            if tally is not None:
                tally.latencies.append(time.monotonic() - started)
            return status
        if status < 500:
            return status
        if tally is not None:
            tally.retry_reasons[str(status)] += 1
        await asyncio.sleep(float(response.headers.get("Retry-After", 1 + attempt)))
    return status


# Letter probes --------------------------------------------------------------------------


@dataclass
class Probe:
    customer_ref: str
    email: str
    sent_at: float  # epoch seconds, before the POST
    status: int = 0
    latency: float | None = None  # seconds from POST to the .eml; None: never arrived


class Prober:
    """One probe incident at a time to the next unused other customer (its letter is new)."""

    def __init__(self, http: httpx.AsyncClient, outbox: Outbox, others: list[str]) -> None:
        self.http = http
        self.outbox = outbox
        self.others = others
        self.next_index = 0
        self.extra = 0

    @staticmethod
    def email_for(customer_ref: str) -> str:
        return f"{customer_ref.lower()}@example.org"

    async def _customer(self) -> str:
        if self.next_index < len(self.others):
            ref = self.others[self.next_index]
            self.next_index += 1
            return ref
        # Every other customer already had its letter: a new customer (and case).
        self.extra += 1
        ref = f"PROBE-{self.extra:04d}"
        response = await self.http.put(
            f"/v1/customers/{ref}", json={"name": ref, "email": self.email_for(ref)}
        )
        response.raise_for_status()
        return ref

    async def probe(self) -> Probe:
        ref = await self._customer()
        probe = Probe(ref, self.email_for(ref), time.time())
        probe.status = await post_incident(
            self.http, _incident(ref, "verbal_abuse", f"probe-{ref}")
        )
        if probe.status != 202:
            return probe
        deadline = time.monotonic() + LETTER_TIMEOUT
        while time.monotonic() < deadline:
            arrived = self.outbox.first_after(probe.email, probe.sent_at)
            if arrived is not None:
                probe.latency = max(0.0, arrived - probe.sent_at)
                return probe
            await asyncio.sleep(0.1)
        return probe

    async def run_every(
        self, interval: float, stop: asyncio.Event, limit: int | None
    ) -> list[Probe]:
        """Start a probe every ``interval`` seconds until ``stop`` (or ``limit`` probes);
        then wait for their letters."""
        tasks: list[asyncio.Task[Probe]] = []
        started = time.monotonic()
        while not stop.is_set() and (limit is None or len(tasks) < limit):
            tasks.append(asyncio.create_task(self.probe()))
            wake = started + interval * len(tasks)
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, wake - time.monotonic()))
            except TimeoutError:
                pass
        return list(await asyncio.gather(*tasks))


def _latency_line(label: str, probes: list[Probe]) -> tuple[str, list[float]]:
    values = [p.latency for p in probes if p.latency is not None]
    missing = sum(1 for p in probes if p.latency is None)
    if not values:
        return f"{label}: no letter arrived ({len(probes)} probes)", values
    return (
        f"{label}: n={len(values)} p50 {_pct(values, 0.5):.2f}s  p95 {_pct(values, 0.95):.2f}s"
        f"  max {max(values):.2f}s  (probes without a letter: {missing})",
        values,
    )


# Setup and stream -----------------------------------------------------------------------


async def register_others(http: httpx.AsyncClient, others: list[str]) -> None:
    """Each other customer: e-mail address on file, then an incident that opens its case."""
    gate = asyncio.Semaphore(SETUP_IN_FLIGHT)

    async def one(ref: str) -> None:
        async with gate:
            response = await http.put(
                f"/v1/customers/{ref}", json={"name": ref, "email": Prober.email_for(ref)}
            )
            response.raise_for_status()
            status = await post_incident(
                http, _incident(ref, "unreasonable_persistence", f"open-{ref}")
            )
            if status != 202:
                raise RuntimeError(f"opening the case of {ref} answered {status}")

    await asyncio.gather(*(one(ref) for ref in others))


async def stream_incidents(
    http: httpx.AsyncClient, count: int, rate: float, tally: PostTally
) -> None:
    """``count`` incidents for the streamed customer at ``rate``/s, IN_FLIGHT at most."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        try:
            body = _incident(STREAMED_REF, "unreasonable_persistence", f"s-{i}")
            status = await post_incident(http, body, tally)
            if status == 202:
                tally.accepted += 1
            elif status == 0:
                tally.failed += 1
            else:
                tally.rejected[status] += 1
            tally.last_answered = time.monotonic()
        finally:
            gate.release()

    tally.first_sent = time.monotonic()
    for i in range(count):
        await asyncio.sleep(max(0.0, tally.first_sent + i / rate - time.monotonic()))
        await gate.acquire()
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)


async def report_progress(
    stop: asyncio.Event, records: RecordsReader, tally: PostTally, count: int
) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 15)
        except TimeoutError:
            recorded = await records.recorded_count(STREAMED_REF)
            _log(f"accepted {tally.accepted}/{count}, recorded {recorded}")


# Temporal -------------------------------------------------------------------------------


@dataclass
class RunFigures:
    run_id: str
    status: str
    started: datetime
    events: int
    size_bytes: int


async def list_runs(client: Client, workflow_id: str, expected: int) -> list[RunFigures]:
    """Every run of the workflow, oldest first, with its history length and size."""
    executions = []
    for _ in range(30):  # visibility may lag a little behind the last continue-as-new
        executions = [wf async for wf in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        if len(executions) >= expected:
            break
        await asyncio.sleep(1)
    runs = []
    for execution in executions:
        handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
        info = (await handle.describe()).raw_description.workflow_execution_info
        status = execution.status.name if execution.status else "UNKNOWN"
        runs.append(
            RunFigures(
                execution.run_id,
                status,
                execution.start_time,
                int(info.history_length),
                int(info.history_size_bytes),
            )
        )
    return sorted(runs, key=lambda r: r.started)


async def replay_seconds(
    client: Client, settings: Settings, workflow_id: str, runs: list[RunFigures]
) -> tuple[dict[str, list[float]], dict[str, float], list[str]]:
    """Replay every run (the largest three times): seconds per replay, fetch seconds,
    and runs that failed to replay."""
    replayer = Replayer(
        workflows=[CaseWorkflow, LetterWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=data_converter(settings),
    )
    largest = max(runs, key=lambda r: (r.events, r.size_bytes)).run_id
    timings: dict[str, list[float]] = {}
    fetches: dict[str, float] = {}
    failures: list[str] = []
    for run in runs:
        started = time.monotonic()
        history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        fetches[run.run_id] = time.monotonic() - started
        for _ in range(3 if run.run_id == largest else 1):
            started = time.monotonic()
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            timings.setdefault(run.run_id, []).append(time.monotonic() - started)
            if result.replay_failure is not None:
                failures.append(f"{run.run_id}: {result.replay_failure!r}")
                break
    return timings, fetches, failures


# Main -----------------------------------------------------------------------------------


@dataclass
class Options:
    incidents: int
    others: int
    rate: float


async def measure(stack: BenchStack, options: Options) -> int:
    """Everything after the stack is up; prints the figures, returns the exit code."""
    headers = {"Authorization": f"Bearer {stack.token('case_system')}"}
    records = RecordsReader(stack.records_db)
    outbox = Outbox(stack.outbox)
    settings = Settings(temporal_address=stack.temporal_address)
    client = await connect(settings)
    others = [f"OTHER-{i:04d}" for i in range(options.others)]
    stop_watch = asyncio.Event()
    watcher = asyncio.create_task(outbox.watch(stop_watch))
    limits = httpx.Limits(max_connections=IN_FLIGHT + 8, max_keepalive_connections=IN_FLIGHT)
    async with (
        httpx.AsyncClient(base_url=stack.api, headers=headers, timeout=60, limits=limits) as http,
        httpx.AsyncClient(base_url=stack.api, headers=headers, timeout=60) as probe_http,
    ):
        # 1. the other cases
        started = time.monotonic()
        await register_others(http, others)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while await records.recorded_with_prefix("OTHER-") < options.others:
            if time.monotonic() > deadline:
                raise RuntimeError("the other cases did not record their first incident")
            await asyncio.sleep(0.5)
        others_ready = time.monotonic() - started
        _log(f"{options.others} other cases open in {others_ready:.1f}s")

        # 2. baseline letter latency, nothing streaming
        prober = Prober(probe_http, outbox, others)
        baseline = await prober.run_every(PROBE_EVERY, asyncio.Event(), BASELINE_PROBES)
        _log("baseline probes done")

        # 3. the stream, with probes alongside
        tally = PostTally()
        stream_done = asyncio.Event()
        probes_task = asyncio.create_task(prober.run_every(PROBE_EVERY, stream_done, None))
        progress = asyncio.create_task(
            report_progress(stream_done, records, tally, options.incidents)
        )
        # When each probe letter arrived matters for "letters keep arriving throughout".
        await stream_incidents(http, options.incidents, options.rate, tally)
        stream_seconds = tally.last_answered - tally.first_sent
        stream_done.set()
        await progress

        # 4. until the records hold every streamed incident
        deadline = time.monotonic() + RECORD_TIMEOUT
        recorded = await records.recorded_count(STREAMED_REF)
        while recorded < tally.accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            recorded = await records.recorded_count(STREAMED_REF)
        all_recorded_after = time.monotonic() - tally.first_sent
        during = await probes_task
    stop_watch.set()
    await watcher

    # Exactly once?
    expected = {incident_id_for(STREAMED_REF, f"s-{i}") for i in range(options.incidents)}
    rows = await records.query(
        "SELECT incident_id FROM incidents WHERE customer_ref = ? AND case_key IS NOT NULL",
        (STREAMED_REF,),
    )
    ids = [str(r[0]) for r in rows]
    distinct = set(ids)
    audit_rows = await records.query(
        "SELECT count(*), count(DISTINCT event_key) FROM audit_events "
        "WHERE action = 'incident_reported' AND case_key IN "
        "(SELECT case_key FROM cases WHERE customer_ref = ?)",
        (STREAMED_REF,),
    )
    tasks = await records.query(
        "SELECT kind, count(*) FROM tasks WHERE customer_ref = ? GROUP BY kind", (STREAMED_REF,)
    )
    workflow_id = case_workflow_id(STREAMED_REF)
    state = await client.get_workflow_handle(workflow_id).query(CaseWorkflow.state)
    acted_twice = max(0, state.incident_count - len(distinct & expected))
    duplicated = (len(ids) - len(distinct)) + acted_twice
    missing = len(expected - distinct)
    unexpected = len(distinct - expected)

    # Runs, their sizes, replay
    runs = await list_runs(client, workflow_id, state.runs)
    largest = max(runs, key=lambda r: (r.events, r.size_bytes))
    biggest_bytes = max(r.size_bytes for r in runs)
    timings, fetches, failures = await replay_seconds(client, settings, workflow_id, runs)

    # Print --------------------------------------------------------------------------
    o = options
    print(f"bench stream: {o.incidents} incidents for one customer at {o.rate:g}/s target")
    print(f"  ({IN_FLIGHT} in flight at most) while {o.others} other cases run; {_now_iso()}")
    print()
    print("intake")
    achieved = tally.accepted / stream_seconds if stream_seconds > 0 else float("nan")
    print(f"  POSTs answered in          : {stream_seconds:.1f}s ({achieved:.1f} accepted/s)")
    print(f"  accepted (202)             : {tally.accepted}")
    print(f"  refused (final status)     : {dict(tally.rejected) or 0}")
    print(f"  no answer after retries    : {tally.failed}")
    print(
        f"  resends (same source ref)  : {tally.retries}"
        + (f" {dict(tally.retry_reasons)}" if tally.retry_reasons else "")
    )
    lat = tally.latencies
    print(
        f"  POST latency               : p50 {_pct(lat, 0.5) * 1000:.0f}ms  "
        f"p95 {_pct(lat, 0.95) * 1000:.0f}ms  max {max(lat, default=0) * 1000:.0f}ms"
    )
    print("records")
    print(f"  recorded (distinct ids)    : {len(distinct)} of {o.incidents}")
    print(f"  missing / unexpected ids   : {missing} / {unexpected}")
    print(
        f"  duplicated                 : {duplicated} (repeated rows {len(ids) - len(distinct)}, "
        f"acted on twice {acted_twice})"
    )
    print(
        f"  case's incident_count      : {state.incident_count}  "
        f"(audit incident_reported rows {audit_rows[0][0]}, distinct {audit_rows[0][1]})"
    )
    print(f"  streamed case's tasks      : {dict((str(k), int(n)) for k, n in tasks)}")
    print(
        f"  all recorded after         : {all_recorded_after:.1f}s from the first POST "
        f"({all_recorded_after - stream_seconds:+.1f}s after the last answer)"
    )
    print(f"runs of {workflow_id} (bound: {MAX_RUN_EVENTS} events or {MAX_RUN_BYTES} bytes)")
    print(f"  runs                       : {len(runs)} (case state says {state.runs})")
    for number, run in enumerate(runs, 1):
        replays = timings.get(run.run_id, [])
        replayed = f"  replay {replays[0]:.2f}s" if replays else "  replay -"
        print(
            f"  run {number:>3} {run.status:<18} {run.events:>6} events {run.size_bytes:>9} bytes"
            f"{replayed}  fetch {fetches.get(run.run_id, 0):.2f}s"
        )
    print(
        f"  largest run                : {largest.events} events "
        f"({largest.events / MAX_RUN_EVENTS:.2f}x the event bound), {largest.size_bytes} bytes "
        f"({largest.size_bytes / MAX_RUN_BYTES:.3f}x the byte bound)"
    )
    print(
        f"  largest size of any run    : {biggest_bytes} bytes "
        f"({biggest_bytes / MAX_RUN_BYTES:.3f}x the byte bound)"
    )
    replays = timings.get(largest.run_id, [])
    if replays:
        each = ", ".join(f"{t:.2f}s" for t in replays)
        print(
            f"  replay of the largest run  : {each} (median {statistics.median(replays):.2f}s;"
            f" history fetch {fetches[largest.run_id]:.2f}s)"
        )
    else:
        print("  replay of the largest run  : not replayed")
    print(f"  runs failing to replay     : {len(failures)}")
    for failure in failures:
        print(f"    {failure}")
    print("other cases' letters (POST verbal abuse -> .eml in the outbox)")
    base_line, base = _latency_line("  baseline, before the stream", baseline)
    during_line, under = _latency_line("  during the stream          ", during)
    print(base_line)
    print(during_line)
    if base and under:
        print(
            f"  during / baseline          : p50 {_pct(under, 0.5) / _pct(base, 0.5):.2f}x  "
            f"p95 {_pct(under, 0.95) / _pct(base, 0.95):.2f}x  max {max(under) / max(base):.2f}x"
        )
    arrivals = sorted(p.sent_at + p.latency for p in during if p.latency is not None)
    if len(arrivals) > 1:
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        print(
            f"  letters arriving           : {len(arrivals)} over {stream_seconds:.0f}s of stream"
            f", largest gap {max(gaps):.1f}s (a probe every {PROBE_EVERY:g}s)"
        )
    if prober.extra:
        print(f"  (probes on new customers, every other one already probed: {prober.extra})")
    print(f"stack warnings/errors logged: {sum(stack.problems.values())}")
    for text, count in stack.problems.most_common(8):
        print(f"  {count:>6} x {text}")
    lost = missing + (o.incidents - tally.accepted)
    if lost or duplicated or unexpected:
        print(f"FAILED: {lost} incidents lost, {duplicated} duplicated, {unexpected} unexpected")
        return 1
    return 0


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench stream", description=__doc__)
    parser.add_argument("--incidents", type=int, default=DEFAULT_INCIDENTS)
    parser.add_argument("--others", type=int, default=DEFAULT_OTHERS)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="incidents per second")
    args = parser.parse_args(argv)
    if args.incidents < 1 or args.others < 1 or args.rate <= 0:
        parser.error("--incidents, --others and --rate must be positive")
    return Options(args.incidents, args.others, args.rate)


def main(argv: list[str]) -> int:
    """Start the stack, measure, stop the stack; the exit code says lost/duplicated."""
    options = parse(argv)
    with tempfile.TemporaryDirectory(prefix="ucb-bench-stream-") as tmp:
        stack = BenchStack(Path(tmp))
        ready = stack.start()
        _log(f"stack ready in {ready:.1f}s (var dir {stack.var_dir})")
        try:
            return asyncio.run(measure(stack, options))
        except BaseException:
            print("".join(list(stack.tail)[-60:]), file=sys.stderr)
            raise
        finally:
            stack.stop()
