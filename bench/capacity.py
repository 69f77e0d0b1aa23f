"""`python -m bench.capacity`: four capacity figures, each beside a bare-Temporal baseline.

Issue 12 (performance). Everything runs against a real ``temporal server start-dev`` this
module starts (own temporary dir, free ports, ``--log-level warn`` into a log file that is
read for server-side timeouts), with the records in SQLite:

1. timer storm: N cases with a protocol whose review falls due at the same absolute moment
   (each case is started with that restriction already in force, as a continue-as-new
   carries it; ``--storm-setup immediate`` instead climbs each case through a director's
   approved immediate action with ``review_after_seconds`` aimed at the moment), worked by
   an in-process worker from ``worker.build_worker``: seconds from the due moment until
   every review task is in the records. Baseline: N bare workflows sleeping until the same
   moment, then one no-op activity, on a worker with the same cache and slot settings.
2. worker memory per cached case: RSS of a real worker subprocess (``worker.py``) idle and
   after N cases each got one incident and sit waiting, divided by N. Baseline: a bare
   worker subprocess, same settings, N bare workflows that took one signal and ran one
   activity.
3. replay cost per history event: the saved histories (tests/histories) replayed with the
   worker's workflows, sandbox and encrypting converter, against bare histories of similar
   lengths generated in the run (k signals, one activity each).
4. GET /v1/tasks p50/p99 at M open tasks (seeded by bulk insert straight into the
   records, one case per task: no workflows), 10 concurrent clients over real HTTP to a
   uvicorn subprocess, against GET /healthz under the same load; with the SQLite query plan
   of every statement the task list runs.

The baselines' bare workflow lives in ``bench/bare.py``, a module of its own: the sandbox
re-imports a workflow's module for every run and every replay, as it does CaseWorkflow's
modules, so the baseline pays for that small module only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.bare import TALLY_ENV, BareWorkflow, bare_noop
from bench.bare import ran as bare_ran

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHistory
    from temporalio.worker import Worker

    from records.repository import Records
    from settings import Settings
    from workflows.messages import IncidentReport

DEFAULT_STORM = 300  # 1,000 (setup, storm, baseline) takes over 8 minutes on 2 shared cores
DEFAULT_CASES = 300
DEFAULT_TASKS = 10_000
DEFAULT_CLIENTS = 10
DEFAULT_REQUESTS = 400  # per endpoint and round
ROUNDS = 2  # /v1/tasks and /healthz alternate this many times
START_IN_FLIGHT = 24  # workflow starts (or signal-with-starts) waiting for an answer
FETCH_IN_FLIGHT = 16
STORM_TIMEOUT = 600.0
SETTLE_TIMEOUT = 600.0
BARE_QUEUE = "bench-bare"
DEADLINE = "context deadline exceeded"
ROOT = Path(__file__).parents[1]  # (no resolve(): the sandbox runs this line too)
REVIEW_TERMS_TOPICS = "the repair to the kitchen and the rent account"


# The bare workflow (baselines) ------------------------------------------------------------

# Small helpers ----------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[bench capacity {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def _ratio(ours: float, base: float) -> float:
    return ours / base if base > 0 else float("nan")


def loadavg() -> str:
    return Path("/proc/loadavg").read_text(encoding="utf-8").strip()


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one by default), children excluded."""
    fields_ = Path(f"/proc/{pid or 'self'}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1]
    parts = fields_.split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / ticks  # utime, stime (fields 14, 15)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def _wait_port(port: int, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"port {port}")


async def _gather_limited(limit: int, jobs: list[Any]) -> list[Any]:
    """Await coroutines ``jobs`` with at most ``limit`` at a time, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# The dev server ---------------------------------------------------------------------------


class DevServer:
    """``temporal server start-dev`` on a free port, its log (warn and up) in a file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.log_path = root / "temporal.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> float:
        from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

        attributes = [
            arg
            for name, kind in SEARCH_ATTRIBUTE_TYPES.items()
            for arg in ("--search-attribute", f"{name}={kind}")
        ]
        started = time.monotonic()
        self.process = spawn(
            [
                str(Path(sys.executable).parent / "temporal"),
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db-filename",
                str(self.root / "temporal.sqlite"),
                "--log-level",
                "warn",
                *attributes,
            ],
            None,
            self.log_path,
        )
        await _wait_port(self.port)
        return time.monotonic() - started

    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def problems_since(self, offset: int) -> dict[str, int]:
        """Warn/error lines logged since ``offset``, by kind."""
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
        counts: Counter[str] = Counter()
        for line in text.splitlines():
            if not line.strip():
                continue
            counts["lines"] += 1
            if DEADLINE in line:
                counts["deadline_exceeded"] += 1
                for kind in ("UserTimer", "WorkflowTaskTimeout", "ActivityTimeout"):
                    if kind in line:
                        counts[f"deadline_exceeded:{kind}"] += 1
                if re.search(r"[Uu]pdate", line):
                    counts["deadline_exceeded:update"] += 1
            if "WorkflowTaskTimeout" in line or "workflow task timed out" in line.lower():
                counts["workflow_task_timeout_lines"] += 1
        return dict(counts)

    def stop(self) -> None:
        _stop(self.process)


# Worker settings shared by ours and the baseline ------------------------------------------

WORKER_KNOBS = (
    "max_cached_workflows",
    "max_concurrent_workflow_tasks",
    "max_concurrent_activities",
    "max_concurrent_local_activities",
    "max_concurrent_workflow_task_polls",
    "nonsticky_to_sticky_poll_ratio",
    "max_concurrent_activity_task_polls",
    "sticky_queue_schedule_to_start_timeout",
    "max_activities_per_second",
    "max_task_queue_activities_per_second",
    "tuner",
)


def worker_knobs(worker: Worker) -> dict[str, Any]:
    """The cache and slot settings ``build_worker`` gave its worker (copied to baselines)."""
    config: dict[str, Any] = dict(getattr(worker, "_config", {}))
    return {k: config[k] for k in WORKER_KNOBS if config.get(k) is not None}


def _printable(knobs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.total_seconds() if isinstance(v, timedelta) else v)
        for k, v in knobs.items()
        if isinstance(v, int | float | str | timedelta)
    }


def bare_worker(client: Client, task_queue: str, knobs: dict[str, Any]) -> Worker:
    from temporalio.worker import Worker

    from worker import workflow_runner

    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow],
        activities=[bare_noop],
        workflow_runner=workflow_runner(),
        **knobs,
    )


def bench_settings(root: Path, server: DevServer, task_queue: str) -> Settings:
    from settings import Settings

    return Settings(
        environment="test",
        var_dir=root,
        database_url=f"sqlite+aiosqlite:///{root / 'records.sqlite3'}",
        temporal_address=server.address,
        task_queue=task_queue,
        smtp_host="127.0.0.1",
        smtp_port=_free_port(),  # no mail is sent on these paths
    )


def bench_incident(ref: str, category: Any, description: str, **facts: Any) -> IncidentReport:
    """An incident by e-mail, happening and reported now, by the bench."""
    from policy.categories import Channel
    from workflows.messages import IncidentReport

    now = datetime.now(UTC)
    return IncidentReport(
        incident_id=str(uuid.uuid4()),
        customer_ref=ref,
        category=category,
        channel=Channel.EMAIL,
        occurred_at=now,
        description=description,
        reported_by="bench",
        reported_at=now,
        **facts,
    )


async def migrated_records(settings: Settings) -> tuple[Records, Any]:
    from records.db import make_engine, make_sessionmaker
    from records.migrate import upgrade
    from records.repository import Records

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url)
    return Records(make_sessionmaker(engine)), engine


def _sqlite_path(settings: Settings) -> str:
    return settings.database_url.split(":///", 1)[1]


def _count(db: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    import sqlite3

    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(connection.execute(sql, params).fetchone()[0])
    finally:
        connection.close()


async def count(db: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    return await asyncio.to_thread(_count, db, sql, params)


# 1. Timer storm ---------------------------------------------------------------------------


def _storm_durations(lead: int) -> dict[str, int]:
    """Short review periods allowed; nothing else falls due during the bench."""
    long = 30 * 86_400
    return {
        "task_due": long,
        "quiet_period": long,
        "closed_case_disregard": long,
        "review_period_default": long,
        "review_period_min": 1,
        "review_period_max": max(long, lead * 2),
    }


def _storm_profile(lead: int) -> Any:
    from policy.profiles import load_profile

    return load_profile("housing_solutions", _storm_durations(lead))


async def _start_carried(client: Client, settings: Settings, ref: str, due: datetime) -> None:
    """A case started with a protocol in force whose review falls due at ``due`` (what a
    continue-as-new carries): it opens its records row, mirrors its stage and waits."""
    from policy.protocol import ProtocolTerms
    from workflows.case import CaseWorkflow
    from workflows.ids import case_workflow_id
    from workflows.messages import CaseInput, CaseState, Restriction

    now = datetime.now(UTC)
    terms = ProtocolTerms(
        contact_methods=["letter", "email"],
        single_point_of_contact="the Customer Relations Manager",
        contact_times="one email a week, answered on Mondays",
        topics=REVIEW_TERMS_TOPICS,
    )
    state = CaseState(
        customer_ref=ref,
        initial_warning_given=True,
        formal_warning_given=True,
        involved=["bench-hos"],
        protocol=Restriction(
            protocol_id=str(uuid.uuid4()),
            terms=terms,
            authorised_by="bench-hos",
            authorised_at=now,
            review_after_seconds=max(1, int((due - now).total_seconds())),
            next_review_at=due,
            customer_reason="Forty emails in two weeks about the same closed repair.",
            reasonable_adjustments="none needed: no support needs disclosed",
        ),
    )
    lead = int((due - now).total_seconds()) + 1
    await client.start_workflow(
        CaseWorkflow.run,
        CaseInput(customer_ref=ref, profile=_storm_profile(lead), carried=state),
        id=case_workflow_id(ref),
        task_queue=settings.task_queue,
        task_timeout=timedelta(seconds=10),  # as intake starts cases (starter.temporal)
    )


async def _start_immediate(client: Client, settings: Settings, ref: str, due: datetime) -> None:
    """The full path: an incident asking for immediate action, then a director approves it
    with the review set to fall due at ``due`` (whole seconds from the decision)."""
    from policy.categories import Category
    from policy.protocol import ProtocolTerms
    from starter.temporal import report_incident
    from workflows.case import CaseWorkflow
    from workflows.messages import Decision

    handle = await report_incident(
        client,
        settings,
        bench_incident(
            ref,
            Category.UNREASONABLE_DEMANDS,
            "bench capacity incident",
            immediate_action_requested=True,
        ),
    )
    task = None
    for _ in range(600):
        state = await handle.query(CaseWorkflow.state)
        task = next((t for t in state.open_tasks if t.kind == "immediate_action"), None)
        if task is not None:
            break
        await asyncio.sleep(0.2)
    if task is None:
        raise RuntimeError(f"{ref}: no immediate_action task")
    seconds = max(1, round((due - datetime.now(UTC)).total_seconds()))
    await handle.execute_update(
        CaseWorkflow.decide,
        Decision(
            task_id=task.task_id,
            outcome="approved",
            decided_by="bench-director",
            role="director",
            reason="bench: immediate action",
            customer_reason="Your demands on our staff.",
            terms=ProtocolTerms(contact_methods=["letter"], topics=REVIEW_TERMS_TOPICS),
            reasonable_adjustments="none needed: no support needs disclosed",
            review_after_seconds=seconds,
        ),
        id=task.task_id,
    )


async def _timeouts_in_histories(
    client: Client, ids: list[str], due_ts: float
) -> tuple[int, int, dict[str, int], int, str, list[WorkflowHistory]]:
    """WorkflowTaskTimedOut events over every run's history, also counted by timeout type
    and by whether they came before (setup) or after (storm) the due moment; the longest
    history."""
    from temporalio.api.enums.v1 import EventType, TimeoutType

    async def fetch(workflow_id: str) -> WorkflowHistory:
        return await client.get_workflow_handle(workflow_id).fetch_history()

    histories: list[WorkflowHistory] = await _gather_limited(
        FETCH_IN_FLIGHT, [fetch(i) for i in ids]
    )
    timed_out = 0
    cases_hit = 0
    kinds: Counter[str] = Counter()
    for history in histories:
        n = 0
        for e in history.events:
            if e.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                continue
            n += 1
            kind = TimeoutType.Name(e.workflow_task_timed_out_event_attributes.timeout_type)
            phase = "setup" if e.event_time.ToDatetime(UTC).timestamp() < due_ts else "storm"
            kinds[f"{phase}:{kind.removeprefix('TIMEOUT_TYPE_').lower()}"] += 1
        timed_out += n
        cases_hit += bool(n)
    longest = max(histories, key=lambda h: len(h.events))
    return timed_out, cases_hit, dict(kinds), len(longest.events), longest.workflow_id, [longest]


async def storm(
    client: Client,
    bare_client: Client,
    server: DevServer,
    root: Path,
    n: int,
    setup: str,
    replayer: Any,
    per_case_hint: float | None = None,
) -> dict[str, Any]:
    """Ours, then the bare baseline, each a storm of ``n`` timers due at one moment."""
    from worker import build_worker

    settings = bench_settings(root / "storm", server, f"bench-storm-{uuid.uuid4().hex[:6]}")
    settings.durations = _storm_durations(3600)  # the starter's profile (immediate setup)
    records, engine = await migrated_records(settings)
    db = _sqlite_path(settings)
    out: dict[str, Any] = {"n": n, "setup": setup}
    worker = build_worker(client, settings, records)
    knobs = worker_knobs(worker)
    out["worker_settings"] = _printable(knobs)
    refs = [f"STORM-{i:05d}" for i in range(n)]
    # The due moment: after every case is set up. A carried case's setup (open its row,
    # mirror its stage) costs about half a memory case's first incident, when that was
    # measured in this run; an immediate-action case about three times one.
    per_case = per_case_hint if per_case_hint else 0.25
    per_case *= 0.5 if setup == "carried" else 3.0
    due = datetime.now(UTC) + timedelta(seconds=max(15.0, 10.0 + n * per_case))
    starter = _start_carried if setup == "carried" else _start_immediate
    async with worker:
        started = time.monotonic()
        await _gather_limited(START_IN_FLIGHT, [starter(client, settings, r, due) for r in refs])
        # Set up: every case has its records row and has mirrored the restriction.
        while await count(db, "SELECT count(*) FROM cases WHERE next_review_at IS NOT NULL") < n:
            if datetime.now(UTC) >= due:
                break
            await asyncio.sleep(0.25)
        ready = await count(db, "SELECT count(*) FROM cases WHERE next_review_at IS NOT NULL")
        out["setup_seconds"] = round(time.monotonic() - started, 1)
        out["ready_before_due"] = ready
        out["idle_before_due_seconds"] = round((due - datetime.now(UTC)).total_seconds(), 1)
        _log(f"storm: {ready}/{n} cases set up in {out['setup_seconds']}s ({setup})")
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 1))
        offset = server.log_offset()
        cpu_us, cpu_server = cpu_seconds(), cpu_seconds(server.process.pid if server.process else 0)
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        due_ts = due.timestamp()
        first = None
        tasks = 0
        while time.time() - due_ts < STORM_TIMEOUT:
            tasks = await count(db, "SELECT count(*) FROM tasks WHERE kind = 'protocol_review'")
            if tasks and first is None:
                first = time.time() - due_ts
            if tasks >= n:
                break
            await asyncio.sleep(0.2)
        all_tasks = time.time() - due_ts
        out["review_tasks"] = tasks
        out["first_task_seconds"] = round(first or float("nan"), 2)
        out["all_tasks_seconds"] = round(all_tasks, 2)
        # ...and until every case has recorded the review as due (its next step).
        sql = "SELECT count(*) FROM audit_events WHERE action = 'protocol_review_due'"
        while time.time() - due_ts < STORM_TIMEOUT and await count(db, sql) < n:  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(0.2)
        out["all_due_events_seconds"] = round(time.time() - due_ts, 2)
        out["cpu_seconds_bench_process_with_worker"] = round(cpu_seconds() - cpu_us, 1)
        out["cpu_seconds_dev_server"] = round(
            cpu_seconds(server.process.pid if server.process else 0) - cpu_server, 1
        )
        await asyncio.sleep(2)
        out["server_log"] = server.problems_since(offset)
    _log(f"storm ours: all {n} review tasks {all_tasks:.1f}s after the due moment")
    from workflows.ids import case_workflow_id

    ids = [case_workflow_id(r) for r in refs]
    timed_out, hit, kinds, longest_len, longest_id, longest = await _timeouts_in_histories(
        client, ids, due_ts
    )
    out["workflow_task_timed_out_events"] = timed_out
    out["workflow_task_timeouts_by_kind"] = kinds
    out["cases_with_a_task_timeout"] = hit
    out["longest_run_events"] = longest_len
    started = time.monotonic()
    try:
        result = await replayer.replay_workflow(longest[0], raise_on_replay_failure=False)
        out["longest_run_replays"] = result.replay_failure is None
    except Exception as error:  # e.g. the workflow code changed on disk during the run
        out["longest_run_replays"] = f"{type(error).__name__}: {error}"[:300]
    out["longest_run_replay_ms"] = round((time.monotonic() - started) * 1000, 1)
    out["longest_run_id"] = longest_id
    await engine.dispose()

    # Baseline: bare sleeps until one moment, then one no-op activity each.
    queue = f"{BARE_QUEUE}-storm-{uuid.uuid4().hex[:6]}"
    bare = bare_worker(bare_client, queue, knobs)
    base: dict[str, Any] = {}
    del bare_ran[:]
    async with bare:
        due = datetime.now(UTC) + timedelta(seconds=max(10.0, 5.0 + n * 0.01))
        started = time.monotonic()
        bare_ids = [f"bench-bare-storm-{uuid.uuid4().hex[:8]}-{i}" for i in range(n)]

        async def start(workflow_id: str) -> None:
            await bare_client.start_workflow(
                BareWorkflow.run,
                due.timestamp(),
                id=workflow_id,
                task_queue=queue,
                task_timeout=timedelta(seconds=10),
            )

        await _gather_limited(START_IN_FLIGHT, [start(i) for i in bare_ids])
        base["setup_seconds"] = round(time.monotonic() - started, 1)
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() - 1))
        offset = server.log_offset()
        cpu_us, cpu_server = cpu_seconds(), cpu_seconds(server.process.pid if server.process else 0)
        due_ts = due.timestamp()
        while time.time() - due_ts < STORM_TIMEOUT and len(bare_ran) < n:  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(0.1)
        times = [t for _tag, t in bare_ran]
        base["activities"] = len(times)
        base["first_activity_seconds"] = round(min(times) - due_ts, 2) if times else None
        base["all_activities_seconds"] = round(max(times) - due_ts, 2) if times else None
        base["cpu_seconds_bench_process_with_worker"] = round(cpu_seconds() - cpu_us, 1)
        base["cpu_seconds_dev_server"] = round(
            cpu_seconds(server.process.pid if server.process else 0) - cpu_server, 1
        )
        await asyncio.sleep(2)
        base["server_log"] = server.problems_since(offset)
    timed_out, hit, kinds, _len, _id, _h = await _timeouts_in_histories(
        bare_client, bare_ids, due_ts
    )
    base["workflow_task_timed_out_events"] = timed_out
    base["workflow_task_timeouts_by_kind"] = kinds
    out["baseline"] = base
    ours_s = float(out["all_tasks_seconds"])
    out["ratio"] = round(_ratio(ours_s, float(base["all_activities_seconds"] or 0)), 2)
    _log(f"storm bare: all {n} activities {base['all_activities_seconds']}s after the moment")
    return out


# 2. Worker memory per cached case ---------------------------------------------------------


async def _scrape(port: int, name: str) -> float | None:
    """A gauge from a worker's Prometheus endpoint (None: not there)."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return None
    writer.write(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    body = (await reader.read()).decode("utf-8", "replace")
    writer.close()
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(name) and not line.startswith("#")
    ]
    return sum(values) if values else None


async def _steady_rss(pid: int, seconds: float = 3.0) -> int:
    """RSS once it stops moving (the last of a few samples a second apart)."""
    samples = [rss_kib(pid)]
    for _ in range(int(seconds)):
        await asyncio.sleep(1)
        samples.append(rss_kib(pid))
    return samples[-1]


async def _quiesce(pid: int, within: float = 120) -> None:
    """Until the process uses under 5% of a core for a whole second (its work is done)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(1)
        if cpu_seconds(pid) - before < 0.05:
            return


def _log_has(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:]


async def _wait_line(
    path: Path, text: str, process: subprocess.Popen[bytes], within: float
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited: {_log_tail(path)}")
        if _log_has(path, text):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{text!r} not in {path}")


def spawn(command: list[str], env: dict[str, str] | None, log: Path) -> subprocess.Popen[bytes]:
    """A child of the repository's root, its output into ``log`` (a file: never blocks)."""
    with log.open("wb") as handle:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


async def memory(
    client: Client, bare_client: Client, server: DevServer, root: Path, n: int
) -> dict[str, Any]:
    """RSS per cached case in a real worker process, and per bare workflow in a bare one."""
    from policy.categories import Category, Channel
    from starter.temporal import report_incident
    from worker import build_worker
    from workflows.messages import IncidentReport

    work = root / "memory"
    settings = bench_settings(work, server, f"bench-memory-{uuid.uuid4().hex[:6]}")
    records, engine = await migrated_records(settings)
    knobs = worker_knobs(build_worker(client, settings, records))
    await engine.dispose()
    db = _sqlite_path(settings)
    metrics_port = _free_port()
    env = dict(os.environ)
    env.update(
        {
            "UCB_ENVIRONMENT": "test",
            "UCB_TEMPORAL_ADDRESS": server.address,
            "UCB_TASK_QUEUE": settings.task_queue,
            "UCB_DATABASE_URL": settings.database_url,
            "UCB_VAR_DIR": str(work),
            "UCB_WORKER_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    out: dict[str, Any] = {"n": n, "cache": knobs.get("max_cached_workflows")}
    log_path = work / "worker.log"
    process = spawn(
        [sys.executable, "worker.py"],
        env,
        log_path,
    )
    try:
        await _wait_line(log_path, "worker polling task queue", process, 120)
        await asyncio.sleep(2)
        out["rss_idle_kib"] = await _steady_rss(process.pid)
        now = datetime.now(UTC)

        async def one(i: int) -> None:
            ref = f"MEM-{i:05d}"
            await report_incident(
                client,
                settings,
                IncidentReport(
                    incident_id=str(uuid.uuid4()),
                    customer_ref=ref,
                    category=Category.UNREASONABLE_PERSISTENCE,
                    channel=Channel.EMAIL,
                    occurred_at=now,
                    description="bench capacity incident",
                    reported_by="bench",
                    reported_at=now,
                ),
            )

        started = time.monotonic()
        await _gather_limited(START_IN_FLIGHT, [one(i) for i in range(n)])
        sql = "SELECT count(*) FROM tasks WHERE status = 'open'"
        while await count(db, sql) < n:
            if time.monotonic() - started > SETTLE_TIMEOUT or process.poll() is not None:
                raise RuntimeError("the memory cases did not settle")
            await asyncio.sleep(0.5)
        await _quiesce(process.pid)
        out["settle_seconds"] = round(time.monotonic() - started, 1)
        out["rss_cached_kib"] = await _steady_rss(process.pid)
        out["sticky_cache_size"] = await _scrape(metrics_port, "temporal_sticky_cache_size")
    finally:
        _stop(process)
    out["per_case_kib"] = round((out["rss_cached_kib"] - out["rss_idle_kib"]) / n, 1)
    _log(f"memory ours: {out['per_case_kib']} KiB per cached case")

    # Baseline: a bare worker process, same settings, bare workflows with one signal + activity.
    queue = f"{BARE_QUEUE}-memory-{uuid.uuid4().hex[:6]}"
    tally = work / "bare-tally.txt"
    tally.write_text("")
    bare_port = _free_port()
    env = dict(os.environ)
    env.update({TALLY_ENV: str(tally), "PYTHONUNBUFFERED": "1"})
    base: dict[str, Any] = {}
    log_path = work / "bare-worker.log"
    process = spawn(
        [
            sys.executable,
            "-m",
            "bench.capacity",
            "bare-worker",
            server.address,
            queue,
            json.dumps(_printable(knobs)),
            str(bare_port),
        ],
        env,
        log_path,
    )
    try:
        await _wait_line(log_path, "bare worker polling", process, 120)
        await asyncio.sleep(2)
        base["rss_idle_kib"] = await _steady_rss(process.pid)

        async def bare(i: int) -> None:
            await bare_client.start_workflow(
                BareWorkflow.run,
                0.0,
                id=f"bench-bare-mem-{queue}-{i}",
                task_queue=queue,
                start_signal="poke",
                task_timeout=timedelta(seconds=10),
            )

        started = time.monotonic()
        await _gather_limited(START_IN_FLIGHT, [bare(i) for i in range(n)])
        while len(tally.read_text().splitlines()) < n:
            if time.monotonic() - started > SETTLE_TIMEOUT or process.poll() is not None:
                raise RuntimeError("the bare memory workflows did not settle")
            await asyncio.sleep(0.5)
        await _quiesce(process.pid)
        base["settle_seconds"] = round(time.monotonic() - started, 1)
        base["rss_cached_kib"] = await _steady_rss(process.pid)
        base["sticky_cache_size"] = await _scrape(bare_port, "temporal_sticky_cache_size")
    finally:
        _stop(process)
    base["per_case_kib"] = round((base["rss_cached_kib"] - base["rss_idle_kib"]) / n, 1)
    out["baseline"] = base
    out["ratio"] = round(_ratio(out["per_case_kib"], base["per_case_kib"]), 2)
    _log(f"memory bare: {base['per_case_kib']} KiB per cached workflow")
    return out


async def run_bare_worker(address: str, queue: str, knobs_json: str, metrics_port: int) -> None:
    """The baseline worker process (``python -m bench.capacity bare-worker ...``)."""
    from temporalio.client import Client
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"127.0.0.1:{metrics_port}", unit_suffix=True)
        )
    )
    client = await Client.connect(address, runtime=runtime)
    knobs: dict[str, Any] = json.loads(knobs_json)
    if "sticky_queue_schedule_to_start_timeout" in knobs:
        knobs["sticky_queue_schedule_to_start_timeout"] = timedelta(
            seconds=knobs["sticky_queue_schedule_to_start_timeout"]
        )
    worker = bare_worker(client, queue, knobs)
    print("bare worker polling", queue, flush=True)
    await worker.run()


# 3. Replay cost per history event ---------------------------------------------------------


def saved_histories() -> list[WorkflowHistory]:
    from temporalio.client import WorkflowHistory

    folder = Path(__file__).resolve().parents[1] / "tests" / "histories"
    histories = []
    for path in sorted(folder.rglob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        histories.append(WorkflowHistory.from_json(document["workflowId"], document))
    return histories


def case_replayer() -> Any:
    from temporalio.worker import Replayer

    from settings import Settings
    from starter.codec import data_converter
    from worker import workflow_runner
    from workflows.case import CaseWorkflow
    from workflows.letter import LetterWorkflow

    return Replayer(
        workflows=[CaseWorkflow, LetterWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=data_converter(Settings(environment="test")),
    )


async def _per_event_ms(replayer: Any, histories: list[WorkflowHistory]) -> list[float]:
    """ms per event of each history: the better of two passes through one replay iterator
    (time between its results; the first result of a pass, a warm-up, is left out)."""
    best = [float("inf")] * len(histories)
    for _ in range(2):
        order = [histories[-1], *histories]  # the warm-up pays the iterator's start

        async def each(items: list[WorkflowHistory] = order) -> Any:
            for history in items:
                yield history

        async with replayer.workflow_replay_iterator(each()) as results:
            index = -1
            previous = time.perf_counter()
            async for result in results:
                now = time.perf_counter()
                if result.replay_failure is not None:
                    raise RuntimeError(f"{result.history.workflow_id}: {result.replay_failure!r}")
                if index >= 0:
                    best[index] = min(best[index], now - previous)
                index += 1
                previous = now
    return [b * 1000 / len(h.events) for b, h in zip(best, histories, strict=True)]


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


async def replay(bare_client: Client) -> dict[str, Any]:
    """Saved case histories against bare histories of similar lengths, ms per event."""
    from temporalio.worker import Replayer

    from worker import workflow_runner

    saved = saved_histories()
    lengths = sorted(len(h.events) for h in saved)
    ours = await _per_event_ms(case_replayer(), saved)
    out: dict[str, Any] = {
        "histories": len(saved),
        "events": {"min": lengths[0], "median": statistics.median(lengths), "max": lengths[-1]},
        "ms_per_event": _spread(ours),
    }
    # Bare histories: k signals, one activity each (about 10 events a signal).
    queue = f"{BARE_QUEUE}-replay-{uuid.uuid4().hex[:6]}"
    targets = sorted(
        {max(6, int(x)) for x in (lengths[0], *statistics.quantiles(lengths, n=6), lengths[-1])}
    )
    histories: list[WorkflowHistory] = []
    async with bare_worker(bare_client, queue, {}):
        for target in targets:
            k = max(0, (target - 6) // 10)
            handle = await bare_client.start_workflow(
                BareWorkflow.run, 0.0, id=f"bench-bare-replay-{queue}-{k}", task_queue=queue
            )
            for i in range(k):
                await handle.signal(BareWorkflow.poke)
                while await handle.query(BareWorkflow.done) < i + 1:  # noqa: ASYNC110 - polling another process
                    await asyncio.sleep(0.01)
            await handle.signal(BareWorkflow.finish)
            await handle.result()
            histories.append(await handle.fetch_history())
    bare_replayer = Replayer(workflows=[BareWorkflow], workflow_runner=workflow_runner())
    base = await _per_event_ms(bare_replayer, histories)
    out["baseline"] = {
        "histories": len(histories),
        "events": sorted(len(h.events) for h in histories),
        "ms_per_event": _spread(base),
    }
    out["ratio_median"] = round(_ratio(statistics.median(ours), statistics.median(base)), 2)
    _log(f"replay: ours {out['ms_per_event']} ms/event, bare {out['baseline']['ms_per_event']}")
    return out


# 4. GET /v1/tasks under load --------------------------------------------------------------

DECIDER_ROLES = ["officer", "manager", "head_of_service", "director"]
TASK_KINDS = [
    ("initial_warning", "officer"),
    ("formal_warning", "officer"),
    ("behaviour_assessment", "manager"),
    ("protocol_authorisation", "head_of_service"),
    ("protocol_review", "head_of_service"),
    ("immediate_action", "director"),
    ("appeal_decision", "director"),
]


async def seed_tasks(settings: Settings, m: int) -> dict[str, int]:
    """``m`` open tasks, one case each (and as many decided tasks), by bulk insert."""
    from sqlalchemy import insert

    from records.models import Case, Task

    records, engine = await migrated_records(settings)
    del records
    now = datetime.now(UTC)
    cases, tasks = [], []
    for i in range(m):
        ref = f"LOAD-{i:06d}"
        key = f"ucb-case-{ref}:1"
        cases.append(
            {
                "case_key": key,
                "workflow_id": f"ucb-case-{ref}",
                "run_key": uuid.uuid4().hex,
                "episode": 1,
                "customer_ref": ref,
                "profile": "housing_solutions",
                "stage": "protocol_in_force",
                "risk_flag": False,
                "opened_at": now - timedelta(days=30),
                "updated_at": now,
            }
        )
        for status in ("open", "decided"):
            kind, role = TASK_KINDS[(i + (status == "decided")) % len(TASK_KINDS)]
            tasks.append(
                {
                    "task_id": str(uuid.uuid4()),
                    "case_key": key,
                    "customer_ref": ref,
                    "kind": kind,
                    "role": role,
                    "status": status,
                    "created_at": now - timedelta(days=10, seconds=i),
                    "due_at": now + timedelta(seconds=(i * 7919) % 2_000_000),
                    "escalated_to": "manager" if i % 11 == 0 else None,
                    "escalations": 1 if i % 11 == 0 else 0,
                    "context": {"behaviour_summary": "repeated emails", "incident_id": "x"},
                    "decided_at": now if status == "decided" else None,
                    "outcome": "issued" if status == "decided" else None,
                }
            )
    async with engine.begin() as connection:
        for start in range(0, len(cases), 2000):
            await connection.execute(insert(Case), cases[start : start + 2000])
        for start in range(0, len(tasks), 2000):
            await connection.execute(insert(Task), tasks[start : start + 2000])
    await engine.dispose()
    return {"cases": len(cases), "open_tasks": m, "decided_tasks": m}


async def query_plans(settings: Settings) -> list[dict[str, Any]]:
    """Every statement GET /v1/tasks runs (captured from the repository), with its plan."""
    import sqlite3

    from sqlalchemy import event

    from records.db import make_engine, make_sessionmaker
    from records.repository import Records

    engine = make_engine(settings.database_url)
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        captured.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    records = Records(make_sessionmaker(engine))
    rows, _total = await records.open_tasks_for(DECIDER_ROLES, limit=21, offset=0)
    await records.support_for([t.customer_ref for t in rows[:20]])
    await engine.dispose()
    connection = sqlite3.connect(_sqlite_path(settings))
    plans = []
    try:
        for statement, params in captured:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            values = tuple(str(p) if isinstance(p, datetime) else p for p in (params or ()))
            plan = connection.execute("EXPLAIN QUERY PLAN " + statement, values).fetchall()
            started = time.perf_counter()
            connection.execute(statement, values).fetchall()
            took = (time.perf_counter() - started) * 1000
            plans.append(
                {
                    "sql": " ".join(statement.split()),
                    "plan": [str(row[-1]) for row in plan],
                    "ms": round(took, 2),
                }
            )
    finally:
        connection.close()
    return plans


async def _hammer(
    base_url: str, path: str, token: str, clients: int, requests: int
) -> tuple[list[float], Counter[int]]:
    """``requests`` GETs of ``path`` from ``clients`` concurrent clients: latencies (s)."""
    import httpx

    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    left = [requests]

    async def client_loop() -> None:
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            while left[0] > 0:
                left[0] -= 1
                started = time.perf_counter()
                response = await http.get(path)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] += 1

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return latencies, statuses


async def api_load(
    server: DevServer, root: Path, m: int, clients: int, requests: int
) -> dict[str, Any]:
    from tokens import create_token

    work = root / "api"
    settings = bench_settings(work, server, "bench-api")
    started = time.monotonic()
    seeded = await seed_tasks(settings, m)
    out: dict[str, Any] = {"m": m, "clients": clients, "seeded": seeded}
    out["seed_seconds"] = round(time.monotonic() - started, 1)
    out["query_plans"] = await query_plans(settings)
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    port = _free_port()
    env = dict(os.environ)
    env.update(
        {
            "UCB_TEMPORAL_ADDRESS": server.address,
            "UCB_DATABASE_URL": settings.database_url,
            "UCB_VAR_DIR": str(work),
            "UCB_SECRET_KEY": secret,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(
        {
            f"UCB_RATE_LIMIT_{n}": "1000000/minute"
            for n in ("INTAKE", "INTAKE_PER_ADDRESS", "SIGN_IN", "SIGN_IN_PER_ADDRESS")
        }
    )
    env.pop("UCB_ENVIRONMENT", None)
    log_path = work / "api.log"
    base_url = f"http://127.0.0.1:{port}"
    token = create_token(secret, "bench-capacity", DECIDER_ROLES, 3600)
    tasks_path = "/v1/tasks"
    # As devstack runs the API (one uvicorn process).
    process = spawn(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-proxy-headers",
        ],
        env,
        log_path,
    )
    try:
        await _wait_port(port)
        for path in (tasks_path, "/healthz"):  # warm-up (and a check of the answers)
            lat, statuses = await _hammer(base_url, path, token, 2, 20)
            if set(statuses) != {200}:
                raise RuntimeError(f"GET {path}: {dict(statuses)}; {log_path.read_text()}")
        series: dict[str, list[float]] = {tasks_path: [], "/healthz": []}
        cpu: dict[str, float] = {tasks_path: 0.0, "/healthz": 0.0}
        walls: dict[str, float] = {tasks_path: 0.0, "/healthz": 0.0}
        server_pid = server.process.pid if server.process else 0
        cpu_server: dict[str, float] = {tasks_path: 0.0, "/healthz": 0.0}
        for _ in range(ROUNDS):
            for path in (tasks_path, "/healthz"):
                api_cpu, tmp_cpu, wall = (
                    cpu_seconds(process.pid),
                    cpu_seconds(server_pid),
                    time.monotonic(),
                )
                lat, statuses = await _hammer(base_url, path, token, clients, requests)
                walls[path] += time.monotonic() - wall
                cpu[path] += cpu_seconds(process.pid) - api_cpu
                cpu_server[path] += cpu_seconds(server_pid) - tmp_cpu
                if set(statuses) != {200}:
                    raise RuntimeError(f"GET {path}: {dict(statuses)}")
                series[path] += lat
    finally:
        _stop(process)
    for path, lat in series.items():
        name = "tasks" if path == tasks_path else "healthz"
        out[name] = {
            "requests": len(lat),
            "p50_ms": round(_pct(lat, 0.5) * 1000, 1),
            "p99_ms": round(_pct(lat, 0.99) * 1000, 1),
            "per_second": round(len(lat) / walls[path], 1),
            "api_cpu_share": round(cpu[path] / walls[path], 2),  # cores used by uvicorn
            "dev_server_cpu_share": round(cpu_server[path] / walls[path], 2),
        }
    out["ratio_p99"] = round(_ratio(out["tasks"]["p99_ms"], out["healthz"]["p99_ms"]), 2)
    out["ratio_p50"] = round(_ratio(out["tasks"]["p50_ms"], out["healthz"]["p50_ms"]), 2)
    _log(f"api: /v1/tasks {out['tasks']}, /healthz {out['healthz']}")
    return out


# Run and print ----------------------------------------------------------------------------


@dataclass
class Options:
    storm: int = DEFAULT_STORM
    cases: int = DEFAULT_CASES
    tasks: int = DEFAULT_TASKS
    clients: int = DEFAULT_CLIENTS
    requests: int = DEFAULT_REQUESTS
    storm_setup: str = "carried"
    only: list[str] = field(default_factory=lambda: ["replay", "api", "memory", "storm"])


async def run(args: Any) -> dict[str, Any]:
    """Every figure asked for in ``args`` (an ``Options`` or argparse namespace with the
    same fields), against one dev server; returns JSON-serialisable results."""
    from temporalio.client import Client

    from starter.temporal import connect

    options = Options(
        **{k: getattr(args, k) for k in Options.__dataclass_fields__ if hasattr(args, k)}
    )
    results: dict[str, Any] = {
        "loadavg_before": loadavg(),
        "started": datetime.now(UTC).isoformat(),
    }
    wall = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ucb-bench-capacity-") as tmp:
        root = Path(tmp)
        server = DevServer(root)
        try:
            results["dev_server_ready_seconds"] = round(await server.start(), 2)
            from settings import Settings

            client = await connect(Settings(environment="test", temporal_address=server.address))
            bare_client = await Client.connect(server.address)  # the default converter
            replayer = case_replayer()
            memory_hint: float | None = None
            for figure in options.only:
                began = time.monotonic()
                _log(f"{figure} (load {loadavg()})")
                if figure == "replay":
                    results["replay"] = await replay(bare_client)
                elif figure == "api":
                    results["api"] = await api_load(
                        server, root, options.tasks, options.clients, options.requests
                    )
                elif figure == "memory":
                    results["memory"] = await memory(
                        client, bare_client, server, root, options.cases
                    )
                    memory_hint = results["memory"]["settle_seconds"] / options.cases
                elif figure == "storm":
                    results["storm"] = await storm(
                        client,
                        bare_client,
                        server,
                        root,
                        options.storm,
                        options.storm_setup,
                        replayer,
                        memory_hint,
                    )
                results.setdefault("seconds", {})[figure] = round(time.monotonic() - began, 1)
        finally:
            server.stop()
    results["total_seconds"] = round(time.monotonic() - wall, 1)
    results["loadavg_after"] = loadavg()
    return results


def report(results: dict[str, Any]) -> None:
    """Print the table (figure, ours, baseline, ratio) and the details behind it."""
    rows: list[tuple[str, str, str, str]] = []
    if "storm" in results:
        s = results["storm"]
        b = s["baseline"]
        rows.append(
            (
                f"timer storm, {s['n']} reviews due at once -> all review tasks",
                f"{s['all_tasks_seconds']:.1f} s",
                f"{b['all_activities_seconds']} s ({s['n']} sleeps + 1 activity)",
                f"{s['ratio']:.2f}x",
            )
        )
    if "memory" in results:
        m = results["memory"]
        rows.append(
            (
                f"worker memory per cached case (0 -> {m['n']} open)",
                f"{m['per_case_kib']:.1f} KiB",
                f"{m['baseline']['per_case_kib']:.1f} KiB",
                f"{m['ratio']:.2f}x",
            )
        )
    if "replay" in results:
        r = results["replay"]
        o, b = r["ms_per_event"], r["baseline"]["ms_per_event"]
        rows.append(
            (
                "replay cost per history event (min-max, median)",
                f"{o['min']:.2f}-{o['max']:.2f} ms ({o['median']:.2f})",
                f"{b['min']:.2f}-{b['max']:.2f} ms ({b['median']:.2f})",
                f"{r['ratio_median']:.2f}x",
            )
        )
    if "api" in results:
        a = results["api"]
        rows.append(
            (
                f"GET /v1/tasks p50/p99, {a['m']} open tasks, {a['clients']} clients",
                f"{a['tasks']['p50_ms']:.0f} / {a['tasks']['p99_ms']:.0f} ms",
                f"/healthz {a['healthz']['p50_ms']:.0f} / {a['healthz']['p99_ms']:.0f} ms",
                f"{a['ratio_p50']:.2f}x / {a['ratio_p99']:.2f}x",
            )
        )
    print(f"bench capacity, {results['started']}  ({os.cpu_count()} cores)")
    print(f"load average before: {results['loadavg_before']}")
    width = max((len(r[0]) for r in rows), default=10)
    print(f"{'figure':<{width}} | {'ucb-cases':<24} | {'bare baseline':<36} | ratio")
    for figure, ours, base, ratio in rows:
        print(f"{figure:<{width}} | {ours:<24} | {base:<36} | {ratio}")
    if "storm" in results:
        s = results["storm"]
        b = s["baseline"]
        print(f"storm ({s['setup']} setup): worker settings {s['worker_settings']}")
        print(
            f"  set up in {s['setup_seconds']}s, ready before due {s['ready_before_due']}/{s['n']}"
            f" ({s['idle_before_due_seconds']}s to spare); first task {s['first_task_seconds']}s,"
            f" every review_due audit row {s['all_due_events_seconds']}s after the due moment"
        )
        print(
            f"  CPU s during the storm: bench process (our worker) "
            f"{s['cpu_seconds_bench_process_with_worker']}, "
            f"dev server {s['cpu_seconds_dev_server']}"
            f"; baseline: {b['cpu_seconds_bench_process_with_worker']}, "
            f"{b['cpu_seconds_dev_server']}"
        )
        print(f"  server log during ours : {s['server_log']}")
        print(f"  server log during bare : {b['server_log']}")
        print(
            f"  WorkflowTaskTimedOut events: ours {s['workflow_task_timed_out_events']} "
            f"({s['cases_with_a_task_timeout']} cases), bare {b['workflow_task_timed_out_events']}"
            f"; by phase and type: ours {s.get('workflow_task_timeouts_by_kind')}, "
            f"bare {b.get('workflow_task_timeouts_by_kind')}"
        )
        print(
            f"  longest run of a storm case: {s['longest_run_events']} events, replay "
            f"{s['longest_run_replay_ms']} ms (replays: {s['longest_run_replays']})"
        )
    if "memory" in results:
        m = results["memory"]
        b = m["baseline"]
        print(
            f"memory: worker cache {m['cache']}; ours RSS {m['rss_idle_kib']} -> "
            f"{m['rss_cached_kib']} KiB (sticky cache {m['sticky_cache_size']}, settled in "
            f"{m['settle_seconds']}s); bare {b['rss_idle_kib']} -> {b['rss_cached_kib']} KiB "
            f"(sticky cache {b['sticky_cache_size']}, {b['settle_seconds']}s)"
        )
    if "replay" in results:
        r = results["replay"]
        print(
            f"replay: {r['histories']} saved histories, events {r['events']}; bare histories "
            f"events {r['baseline']['events']}"
        )
    if "api" in results:
        a = results["api"]
        print(
            f"api: seeded {a['seeded']} in {a['seed_seconds']}s; /v1/tasks {a['tasks']}; "
            f"/healthz {a['healthz']}"
        )
        for plan in a["query_plans"]:
            print(f"  {plan['ms']:>7.2f} ms  {plan['sql'][:150]}")
            for line in plan["plan"]:
                print(f"             {line}")
    print(f"load average after : {results['loadavg_after']}  (total {results['total_seconds']}s)")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--storm", type=int, default=DEFAULT_STORM, help="cases in the storm")
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="cached cases")
    parser.add_argument("--tasks", type=int, default=DEFAULT_TASKS, help="open tasks")
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    parser.add_argument("--storm-setup", choices=["carried", "immediate"], default="carried")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["replay", "api", "memory", "storm"],
        default=["replay", "api", "memory", "storm"],
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    if argv[:1] == ["bare-worker"]:
        address, queue, knobs, port = argv[1:5]
        asyncio.run(run_bare_worker(address, queue, knobs, int(port)))
        return 0
    args = parse(argv)
    results = asyncio.run(run(args))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
