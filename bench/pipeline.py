"""`python -m bench.pipeline`: the incident pipeline against bare Temporal (issue 12).

One run starts ONE dev stack (its own temporary var dir, free ports; bench/stream.py's
``BenchStack``) and, on the SAME Temporal dev server, a bare baseline worker
(bench/baseline.py, a subprocess on its own task queue: default converter, no codec).
Every figure is measured for both in the same run, the baseline first, and printed with
the ratio ucb-cases / bare:

1. throughput: N incidents (``--incidents``, e.g. 200 and 800) for N distinct customers
   registered beforehand with an e-mail address, verbal abuse by e-mail (the
   abusive-correspondence letter goes at once), ``--in-flight`` POSTs in flight. An
   incident is done once its row is in the records (case_key set, read-only SQLite, seen
   by a poll every 0.1 s) AND its letter's .eml is in the outbox (stamped by the SMTP sink
   on arrival); its done time is the later of the two. Incidents/s = N / (last done -
   first POST). Bare: N signal-with-starts of ``BareCase`` (``--in-flight`` at once), done
   when the second no-op activity ran (its own clock reading, written to a done file);
2. incident -> letter latency over ``--sequential`` incidents one after the other
   (distinct customers): POST until the .eml's arrival stamp. Bare: signal-with-start
   until the second no-op activity ran (timed in the activity);
3. task completion -> answer over ``--tasks`` initial-warning tasks (an unreasonable-
   persistence incident each): ``POST /v1/tasks/{id}/complete`` (issued, by letter) until
   the HTTP answer, one at a time; between two, the letter is awaited (untimed) so
   each decision finds the stack idle. Bare: ``execute_update`` of ``decide`` (two no-op
   activities) on ``BareCase`` workflows opened the same way.

For each measured phase the CPU seconds (utime + stime from /proc) of every process are
read before and after: the stack's children (found by walking /proc from the devstack's
pid), the baseline worker and this process (the bare client), and given per incident or
per task. One case's history (and its letter's) is counted: activities, workflow tasks,
events per incident.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.baseline import BareCase
from bench.stream import BenchStack, Outbox, _free_port, _pct, post_incident

DEFAULT_INCIDENTS = (200, 800)
DEFAULT_SEQUENTIAL = 100
DEFAULT_TASKS = 50
DEFAULT_IN_FLIGHT = 20
SETUP_IN_FLIGHT = 8
WARM_UP = 10  # incidents through each pipeline before anything is measured
RECORDS_POLL = 0.1  # seconds between read-only queries of the records
DONE_POLL = 0.1  # seconds between outbox / done-file scans while counting throughput
WAIT_POLL = 0.01  # ... while waiting for one done line (reading a small file: cheap)
# ... while waiting for one letter: a scan lists the whole outbox (this process shares the
# machine's cores with the stack it measures); arrival is the sink's stamp, not the scan's.
OUTBOX_POLL = 0.05
LETTER_TIMEOUT = 60.0
# A throughput phase stops counting after this long (from the first POST): on a machine
# too busy for it, the figure is then done / elapsed over a partial run, flagged PARTIAL.
THROUGHPUT_MIN_WAIT = 180.0
THROUGHPUT_WAIT_PER_INCIDENT = 2.0
SETTLE_LIMIT = 30.0  # seconds at most waiting for the stack to go quiet between phases
QUIET_CORES = 0.08  # the stack counts as quiet below this many cores busy
GOAL_THROUGHPUT = 0.8  # ours / bare at the largest N, at least
GOAL_LETTER_P99 = 1.3  # ours / bare, at most
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _log(message: str) -> None:
    print(f"[bench pipeline {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _email(ref: str) -> str:
    return f"{ref.lower()}@example.org"


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def _ratio(ours: float, bare: float) -> float:
    return ours / bare if bare else float("nan")


# CPU per process ------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process, in seconds; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from a walk of /proc."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _role(pid: int) -> str:
    """Which part of the stack a process is, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "gone"
    line = " ".join(argv)
    if Path(argv[0]).name == "temporal":
        return "temporal"
    for needle, role in (
        ("worker.py", "worker"),
        ("uvicorn", "api"),
        ("devstack.smtp_sink", "smtp"),
        ("devstack.ui_proxy", "ui"),
        ("bench.baseline", "bare_worker"),
        ("-m devstack", "devstack"),
    ):
        if needle in line:
            return role
    return "other"


def processes(roots: Iterable[int]) -> dict[str, list[int]]:
    """Role -> pids for ``roots`` and all their descendants."""
    tree = _children()
    found: dict[str, list[int]] = {}
    todo = list(roots)
    while todo:
        pid = todo.pop()
        found.setdefault(_role(pid), []).append(pid)
        todo.extend(tree.get(pid, []))
    return found


class Meter:
    """CPU seconds per role between two readings (this process is ``bench``)."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots

    def read(self) -> dict[int, tuple[str, float]]:
        reading = {}
        for role, pids in processes(self.roots).items():
            for pid in pids:
                seconds = _cpu_seconds(pid)
                if seconds is not None:
                    reading[pid] = (role, seconds)
        own = _cpu_seconds(os.getpid())
        reading[os.getpid()] = ("bench", own or 0.0)
        return reading

    @staticmethod
    def spent(
        before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
    ) -> dict[str, float]:
        used: dict[str, float] = {}
        for pid, (role, seconds) in after.items():
            used[role] = used.get(role, 0.0) + max(
                0.0, seconds - (before[pid][1] if pid in before else 0.0)
            )
        return used

    async def quiet(self, roles: tuple[str, ...] = ("temporal", "worker", "api")) -> float:
        """Wait (bounded) until ``roles`` together use under QUIET_CORES; seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < SETTLE_LIMIT:
            before = self.read()
            await asyncio.sleep(0.5)
            used = self.spent(before, self.read())
            if sum(used.get(r, 0.0) for r in roles) / 0.5 < QUIET_CORES:
                break
        return time.monotonic() - started


@dataclass
class Phase:
    """One measured phase: its count, wall seconds and CPU seconds per role."""

    count: int
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def per_unit_ms(self) -> dict[str, float]:
        return {k: round(1000 * v / self.count, 1) for k, v in sorted(self.cpu.items())}

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": {k: round(v, 3) for k, v in sorted(self.cpu.items())},
            "cpu_ms_per_unit": self.per_unit_ms(),
            **self.extra,
        }


async def metered(meter: Meter, phase: Phase, work: Awaitable[None]) -> Phase:
    before = meter.read()
    await work
    phase.cpu = meter.spent(before, meter.read())
    return phase


# The done file of the bare worker -------------------------------------------------------


class DoneFile:
    """``<tag> <epoch seconds>`` lines written by the bare worker's second activity."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.stamps: dict[str, float] = {}

    def scan(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            tag, stamp = line.decode().split()
            self.stamps.setdefault(tag, float(stamp))


# The context of one run -----------------------------------------------------------------


@dataclass
class Options:
    incidents: tuple[int, ...] = DEFAULT_INCIDENTS
    sequential: int = DEFAULT_SEQUENTIAL
    tasks: int = DEFAULT_TASKS
    in_flight: int = DEFAULT_IN_FLIGHT
    outcome: str = "issued"  # how the initial-warning tasks are decided


@dataclass
class Bench:
    stack: BenchStack
    http: httpx.AsyncClient  # case_system
    officer: httpx.AsyncClient
    client: Client  # plain: the bare baseline, and history reads
    outbox: Outbox
    done: DoneFile
    meter: Meter
    task_queue: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def recorded(self, prefix: str) -> set[str]:
        """Customers under ``prefix`` whose incident the case recorded (read-only)."""
        uri = f"file:{self.stack.records_db}?mode=ro"
        connection = sqlite3.connect(uri, uri=True, timeout=30)
        try:
            rows = connection.execute(
                "SELECT customer_ref FROM incidents "
                "WHERE customer_ref LIKE ? AND case_key IS NOT NULL",
                (prefix + "%",),
            ).fetchall()
        finally:
            connection.close()
        return {str(r[0]) for r in rows}

    async def register(self, refs: list[str]) -> None:
        gate = asyncio.Semaphore(SETUP_IN_FLIGHT)

        async def one(ref: str) -> None:
            async with gate:
                response = await self.http.put(
                    f"/v1/customers/{ref}", json={"name": ref, "email": _email(ref)}
                )
                response.raise_for_status()

        await asyncio.gather(*(one(ref) for ref in refs))

    async def post(self, ref: str, category: str) -> int:
        body = {
            "customer_ref": ref,
            "category": category,
            "channel": "email",
            "occurred_at": datetime.now(UTC).isoformat(),
            "description": f"bench pipeline incident for {ref}",
            "reported_by": "bench-pipeline",
            "source_reference": f"pipeline-{ref}",
        }
        return await post_incident(self.http, body)

    async def start_bare(self, tag: str) -> None:
        await self.client.start_workflow(
            BareCase.run,
            id=f"bare-{tag}",
            task_queue=self.task_queue,
            start_signal="incident",
            start_signal_args=[tag],
        )

    async def letter_of(
        self, ref: str, after: float, within: float = LETTER_TIMEOUT
    ) -> float | None:
        """The arrival stamp of the first letter to ``ref`` after ``after`` (epoch s)."""
        deadline = time.monotonic() + within
        while True:
            await asyncio.to_thread(self.outbox.scan)
            arrived = self.outbox.first_after(_email(ref), after)
            if arrived is not None or time.monotonic() > deadline:
                return arrived
            await asyncio.sleep(OUTBOX_POLL)

    async def done_of(self, tag: str, within: float = LETTER_TIMEOUT) -> float | None:
        deadline = time.monotonic() + within
        while True:
            self.done.scan()
            stamp = self.done.stamps.get(tag)
            if stamp is not None or time.monotonic() > deadline:
                return stamp
            await asyncio.sleep(WAIT_POLL)

    def prefix(self, name: str) -> str:
        return f"{name}{self.run_id}-"


async def _gated(
    in_flight: int, items: list[str], work: Callable[[str], Awaitable[Any]]
) -> list[Any]:
    gate = asyncio.Semaphore(in_flight)

    async def one(item: str) -> Any:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


# 1. Throughput --------------------------------------------------------------------------


async def ours_throughput(bench: Bench, refs: list[str], prefix: str, in_flight: int) -> Phase:
    phase = Phase(len(refs))
    answered: list[float] = []

    async def send(ref: str) -> int:
        status = await bench.post(ref, "verbal_abuse")
        answered.append(time.time())
        return status

    async def work() -> None:
        first = time.time()
        posting = asyncio.create_task(_gated(in_flight, refs, send))
        seen: dict[str, float] = {}
        done: dict[str, float] = {}
        deadline = time.monotonic() + max(
            THROUGHPUT_MIN_WAIT, THROUGHPUT_WAIT_PER_INCIDENT * len(refs)
        )
        while time.monotonic() < deadline:
            now = time.time()
            for ref in await asyncio.to_thread(bench.recorded, prefix):
                seen.setdefault(ref, now)
            await asyncio.to_thread(bench.outbox.scan)
            for ref, at in seen.items():
                if ref not in done:
                    arrived = bench.outbox.first_after(_email(ref), first)
                    if arrived is not None:
                        done[ref] = max(at, arrived)
            if len(done) >= len(refs) or (
                posting.done() and len(done) >= sum(1 for s in posting.result() if s == 202)
            ):
                break
            await asyncio.sleep(RECORDS_POLL)
        statuses: list[int] = await posting
        last = max(done.values(), default=time.time())
        phase.seconds = last - first
        phase.extra = {
            "done": len(done),
            "accepted": sum(1 for s in statuses if s == 202),
            "intake_seconds": round(max(answered, default=first) - first, 3),
            "per_second": round(len(done) / phase.seconds, 3) if phase.seconds else None,
        }

    return await metered(bench.meter, phase, work())


async def bare_throughput(bench: Bench, tags: list[str], in_flight: int) -> Phase:
    phase = Phase(len(tags))

    async def work() -> None:
        first = time.time()
        await _gated(in_flight, tags, bench.start_bare)
        intake = time.time() - first
        deadline = time.monotonic() + max(
            THROUGHPUT_MIN_WAIT, THROUGHPUT_WAIT_PER_INCIDENT * len(tags)
        )
        while time.monotonic() < deadline:
            bench.done.scan()
            if all(t in bench.done.stamps for t in tags):
                break
            await asyncio.sleep(DONE_POLL)
        stamps = [bench.done.stamps[t] for t in tags if t in bench.done.stamps]
        phase.seconds = max(stamps, default=time.time()) - first
        phase.extra = {
            "done": len(stamps),
            "accepted": len(tags),
            "intake_seconds": round(intake, 3),
            "per_second": round(len(stamps) / phase.seconds, 3) if phase.seconds else None,
        }

    return await metered(bench.meter, phase, work())


# 2. Incident -> letter latency ----------------------------------------------------------


def _latency_summary(values: list[float], missing: int) -> dict[str, Any]:
    return {
        "n": len(values),
        "missing": missing,
        **{f"p{q}_ms": round(1000 * _pct(values, q / 100), 1) for q in (50, 95, 99)},
        "max_ms": round(1000 * max(values, default=float("nan")), 1),
    }


async def ours_latency(bench: Bench, refs: list[str]) -> Phase:
    phase = Phase(len(refs))

    async def work() -> None:
        values: list[float] = []
        started = time.monotonic()
        for ref in refs:
            sent = time.time()
            if await bench.post(ref, "verbal_abuse") != 202:
                continue
            arrived = await bench.letter_of(ref, sent)
            if arrived is not None:
                values.append(max(0.0, arrived - sent))
        phase.seconds = time.monotonic() - started
        phase.extra = _latency_summary(values, len(refs) - len(values))

    return await metered(bench.meter, phase, work())


async def bare_latency(bench: Bench, tags: list[str]) -> Phase:
    phase = Phase(len(tags))

    async def work() -> None:
        values: list[float] = []
        started = time.monotonic()
        for tag in tags:
            sent = time.time()
            await bench.start_bare(tag)
            stamp = await bench.done_of(tag)
            if stamp is not None:
                values.append(max(0.0, stamp - sent))
        phase.seconds = time.monotonic() - started
        phase.extra = _latency_summary(values, len(tags) - len(values))

    return await metered(bench.meter, phase, work())


# 3. Task completion -> answer -----------------------------------------------------------


async def open_tasks(bench: Bench, refs: list[str], prefix: str) -> dict[str, str]:
    """An initial-warning task for each customer: task id -> customer ref."""
    await _gated(SETUP_IN_FLIGHT, refs, lambda ref: bench.post(ref, "unreasonable_persistence"))
    deadline = time.monotonic() + 300
    found: dict[str, str] = {}
    while time.monotonic() < deadline:
        found = {}
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"kind": "initial_warning", "limit": 200}
            if cursor:
                params["cursor"] = cursor
            response = await bench.officer.get("/v1/tasks", params=params)
            response.raise_for_status()
            page = response.json()
            for item in page["items"]:
                if str(item["customer_ref"]).startswith(prefix):
                    found[str(item["task_id"])] = str(item["customer_ref"])
            cursor = page.get("next")
            if not cursor:
                break
        if len(found) >= len(refs):
            break
        await asyncio.sleep(0.5)
    return found


def decision(outcome: str) -> dict[str, str]:
    """The body deciding an initial-warning task: issued (by letter) or not warranted."""
    body = {"outcome": outcome, "reason": "Repeated demands after being told the answer (bench)"}
    if outcome == "issued":
        body |= {
            "method": "letter",
            "customer_reason": "You have contacted us many times about the same matter.",
        }
    return body


async def ours_tasks(bench: Bench, tasks: dict[str, str], outcome: str) -> Phase:
    phase = Phase(len(tasks))
    body = decision(outcome)

    async def work() -> None:
        values: list[float] = []
        failed: Counter[int] = Counter()
        letters_missing = 0
        started = time.monotonic()
        for task_id, ref in tasks.items():
            sent_epoch = time.time()
            sent = time.monotonic()
            response = await bench.officer.post(f"/v1/tasks/{task_id}/complete", json=body)
            elapsed = time.monotonic() - sent
            if response.status_code != 200:
                failed[response.status_code] += 1
                continue
            values.append(elapsed)
            # Untimed: the letter goes out before the next decision (the stack settles).
            if outcome == "issued" and await bench.letter_of(ref, sent_epoch) is None:
                letters_missing += 1
        phase.seconds = time.monotonic() - started
        phase.extra = _latency_summary(values, len(tasks) - len(values))
        phase.extra["failed"] = dict(failed)
        phase.extra["letters_missing"] = letters_missing

    return await metered(bench.meter, phase, work())


async def bare_tasks(bench: Bench, tags: list[str]) -> Phase:
    await _gated(SETUP_IN_FLIGHT, tags, bench.start_bare)
    for tag in tags:
        await bench.done_of(tag)
    phase = Phase(len(tags))

    async def work() -> None:
        values: list[float] = []
        started = time.monotonic()
        for tag in tags:
            handle = bench.client.get_workflow_handle(f"bare-{tag}")
            sent = time.monotonic()
            answer = await handle.execute_update("decide", f"u-{tag}", result_type=str)
            values.append(time.monotonic() - sent)
            assert answer == f"u-{tag}"
        phase.seconds = time.monotonic() - started
        phase.extra = _latency_summary(values, len(tags) - len(values))

    return await metered(bench.meter, phase, work())


# What one incident costs: its histories -------------------------------------------------


async def history_counts(client: Client, workflow_id: str) -> dict[str, Any]:
    """Events, workflow tasks, activities (by type) and child workflows of one workflow,
    with the same counts for each child (its letter)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    kinds: Counter[str] = Counter()
    activities: Counter[str] = Counter()
    in_update: Counter[str] = Counter()  # after the first update was accepted
    children: list[str] = []
    children_after_update = 0
    for event in history.events:
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        kinds[name] += 1
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activity_type = event.activity_task_scheduled_event_attributes.activity_type.name
            activities[activity_type] += 1
            if kinds["WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]:
                in_update[activity_type] += 1
        if event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            children.append(
                event.start_child_workflow_execution_initiated_event_attributes.workflow_id
            )
            children_after_update += bool(kinds["WORKFLOW_EXECUTION_UPDATE_ACCEPTED"])
    result: dict[str, Any] = {
        "workflow_id": workflow_id,
        "events": len(history.events),
        "workflow_tasks": kinds["WORKFLOW_TASK_COMPLETED"],
        "activities": sum(activities.values()),
        "activity_types": dict(activities),
        "activity_types_after_update": dict(in_update),
        "children_after_update": children_after_update,
        "children": [await history_counts(client, child) for child in children],
    }
    return result


def _totals(counts: dict[str, Any]) -> tuple[int, int, int, int]:
    """Activities, workflow tasks, events and workflows, children included."""
    activities, tasks, events, workflows = (
        counts["activities"],
        counts["workflow_tasks"],
        counts["events"],
        1,
    )
    for child in counts["children"]:
        a, t, e, w = _totals(child)
        activities, tasks, events, workflows = activities + a, tasks + t, events + e, workflows + w
    return activities, tasks, events, workflows


# The run --------------------------------------------------------------------------------


def start_bare_worker(bench_dir: Path, address: str, task_queue: str) -> subprocess.Popen[str]:
    log = (bench_dir / "baseline-worker.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.baseline",
            "--address",
            address,
            "--task-queue",
            task_queue,
            "--done-file",
            str(bench_dir / "bare-done.txt"),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "ready" not in line:
        process.kill()
        raise RuntimeError(f"the baseline worker did not start: {line!r}")
    return process


async def measure(bench: Bench, options: Options) -> dict[str, Any]:
    results: dict[str, Any] = {"options": vars(options) | {"incidents": list(options.incidents)}}
    meter = bench.meter

    # Warm both pipelines up (imports, sandboxes, connections), unmeasured.
    warm = [f"{bench.prefix('WARM')}{i:03d}" for i in range(WARM_UP)]
    await bench.register(warm)
    await _gated(SETUP_IN_FLIGHT, warm, lambda ref: bench.post(ref, "verbal_abuse"))
    for ref in warm:
        await bench.letter_of(ref, 0.0)
    warm_tags = [f"warm{bench.run_id}-{i}" for i in range(WARM_UP)]
    await _gated(SETUP_IN_FLIGHT, warm_tags, bench.start_bare)
    for tag in warm_tags:
        await bench.done_of(tag)
    _log("warmed up")

    throughput = []
    for n in options.incidents:
        prefix = bench.prefix(f"T{n}X")
        refs = [f"{prefix}{i:04d}" for i in range(n)]
        await bench.register(refs)
        await meter.quiet()
        bare = await bare_throughput(
            bench, [f"t{n}{bench.run_id}-{i}" for i in range(n)], options.in_flight
        )
        _log(f"bare throughput {n}: {bare.extra['per_second']}/s")
        await meter.quiet()
        ours = await ours_throughput(bench, refs, prefix, options.in_flight)
        _log(f"ours throughput {n}: {ours.extra['per_second']}/s")
        throughput.append(
            {
                "incidents": n,
                "ours": ours.as_dict(),
                "bare": bare.as_dict(),
                "ratio": round(
                    _ratio(ours.extra["per_second"] or 0, bare.extra["per_second"] or 0), 3
                ),
            }
        )
    results["throughput"] = throughput

    lat_refs = [f"{bench.prefix('LAT')}{i:04d}" for i in range(options.sequential)]
    await bench.register(lat_refs)
    await meter.quiet()
    bare_lat = await bare_latency(
        bench, [f"l{bench.run_id}-{i}" for i in range(options.sequential)]
    )
    await meter.quiet()
    ours_lat = await ours_latency(bench, lat_refs)
    _log(
        f"letter latency p99 ours {ours_lat.extra['p99_ms']} ms, bare {bare_lat.extra['p99_ms']} ms"
    )
    results["letter_latency"] = {
        "ours": ours_lat.as_dict(),
        "bare": bare_lat.as_dict(),
        "ratio": {
            q: round(_ratio(ours_lat.extra[q], bare_lat.extra[q]), 3)
            for q in ("p50_ms", "p95_ms", "p99_ms")
        },
    }

    task_prefix = bench.prefix("TASK")
    task_refs = [f"{task_prefix}{i:04d}" for i in range(options.tasks)]
    await bench.register(task_refs)
    tasks = await open_tasks(bench, task_refs, task_prefix)
    _log(f"{len(tasks)} initial-warning tasks open")
    await meter.quiet()
    bare_task = await bare_tasks(bench, [f"k{bench.run_id}-{i}" for i in range(options.tasks)])
    await meter.quiet()
    ours_task = await ours_tasks(bench, tasks, options.outcome)
    results["task_completion"] = {
        "ours": ours_task.as_dict(),
        "bare": bare_task.as_dict(),
        "ratio": {
            q: round(_ratio(ours_task.extra[q], bare_task.extra[q]), 3)
            for q in ("p50_ms", "p95_ms", "p99_ms")
        },
    }

    # One incident's histories: the first sequential customer's case, its letter.
    await asyncio.sleep(1)
    ours_history = await history_counts(bench.client, f"ucb-case-{lat_refs[0]}")
    bare_history = await history_counts(bench.client, f"bare-l{bench.run_id}-0")
    activities, wf_tasks, events, workflows = _totals(ours_history)
    results["per_incident_history"] = {
        "ours": ours_history
        | {
            "total_activities": activities,
            "total_workflow_tasks": wf_tasks,
            "total_events": events,
            "workflows": workflows,
        },
        "bare": bare_history
        | {
            "total_activities": bare_history["activities"],
            "total_workflow_tasks": bare_history["workflow_tasks"],
            "total_events": bare_history["events"],
            "workflows": 1,
        },
    }
    task_history = await history_counts(bench.client, f"ucb-case-{task_refs[0]}")
    bare_task_history = await history_counts(bench.client, f"bare-k{bench.run_id}-0")
    results["per_task_history"] = {
        "ours": {
            "activity_types_in_decision": task_history["activity_types_after_update"],
            "activities_in_decision": sum(task_history["activity_types_after_update"].values()),
            "children_started_in_decision": task_history["children_after_update"],
        },
        "bare": {
            "activities_in_decision": sum(
                bare_task_history["activity_types_after_update"].values()
            ),
        },
    }
    results["stack_problems"] = dict(bench.stack.problems.most_common(8))
    results["stack_error_lines"] = [
        line.strip() for line in bench.stack.tail if "ERROR" in line or "Traceback" in line
    ][-5:]
    return results


async def run(options: Options | None = None) -> dict[str, Any]:
    """Start the stack and the bare worker, measure, stop both; the figures as a dict
    (JSON-serialisable). Prints the table too."""
    options = options or Options()
    load_before = _loadavg()
    with tempfile.TemporaryDirectory(prefix="ucb-bench-pipeline-") as tmp:
        root = Path(tmp)
        stack = BenchStack(root)
        # The worker's metrics port is fixed by default: another stack may hold it.
        stack.env["UCB_WORKER_METRICS_ADDRESS"] = f"127.0.0.1:{_free_port()}"
        ready = await asyncio.to_thread(stack.start)
        _log(f"stack ready in {ready:.1f}s")
        bare_worker: subprocess.Popen[str] | None = None
        try:
            task_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
            bare_worker = await asyncio.to_thread(
                start_bare_worker, root, stack.temporal_address, task_queue
            )
            assert stack.process is not None
            meter = Meter([stack.process.pid, bare_worker.pid])
            client = await Client.connect(stack.temporal_address)
            limits = httpx.Limits(max_connections=options.in_flight + 8)

            def api(*roles: str) -> httpx.AsyncClient:
                headers = {"Authorization": f"Bearer {stack.token(*roles)}"}
                return httpx.AsyncClient(
                    base_url=stack.api, headers=headers, timeout=60, limits=limits
                )

            async with api("case_system") as http, api("officer") as officer:
                bench = Bench(
                    stack,
                    http,
                    officer,
                    client,
                    Outbox(stack.outbox),
                    DoneFile(root / "bare-done.txt"),
                    meter,
                    task_queue,
                )
                results = await measure(bench, options)
        except BaseException:
            print("".join(list(stack.tail)[-40:]), file=sys.stderr)
            raise
        finally:
            if bare_worker is not None:
                bare_worker.terminate()
                try:
                    bare_worker.wait(20)
                except subprocess.TimeoutExpired:
                    bare_worker.kill()
                    bare_worker.wait()
            await asyncio.to_thread(stack.stop)
    results["loadavg"] = {"before": load_before, "after": _loadavg()}
    results["cores"] = os.cpu_count()
    results["goals"] = goals(results)
    print_table(results)
    return results


def goals(results: dict[str, Any]) -> dict[str, Any]:
    largest = max(results["throughput"], key=lambda t: t["incidents"])
    letter = results["letter_latency"]["ratio"]["p99_ms"]
    return {
        f"throughput_at_{largest['incidents']}_ratio_ge_{GOAL_THROUGHPUT}": {
            "ratio": largest["ratio"],
            "met": largest["ratio"] >= GOAL_THROUGHPUT,
        },
        f"letter_p99_ratio_le_{GOAL_LETTER_P99}": {
            "ratio": letter,
            "met": letter <= GOAL_LETTER_P99,
        },
    }


# Printing -------------------------------------------------------------------------------

CPU_ROWS = (  # label, our role, the baseline's role
    ("temporal server", "temporal", "temporal"),
    ("worker", "worker", "bare_worker"),
    ("API / bare client (bench)", "api", "bench"),
    ("smtp sink", "smtp", "smtp"),
)


def _cpu_lines(label: str, ours: dict[str, Any], bare: dict[str, Any], unit: str) -> list[str]:
    o, b = ours["cpu_ms_per_unit"], bare["cpu_ms_per_unit"]
    lines = [f"  CPU ms per {unit}, {label}"]
    for name, ours_role, bare_role in CPU_ROWS:
        lines.append(_row(f"  {name}", o.get(ours_role, 0.0), b.get(bare_role, 0.0), 1))
    total_o = sum(o.get(r, 0.0) for _, r, _ in CPU_ROWS)
    total_b = sum(b.get(r, 0.0) for _, _, r in CPU_ROWS)
    lines.append(_row("  total", total_o, total_b, 1))
    lines.append(f"    {'(bench process, ours: HTTP client)':<42}{o.get('bench', 0.0):>10.1f}")
    return lines


def _fmt_ratio(ours: float, bare: float) -> str:
    return f"{ours / bare:.2f}x" if bare else "-"


def _row(label: str, ours: float, bare: float, digits: int = 0) -> str:
    return f"  {label:<44}{ours:>10.{digits}f}{bare:>10.{digits}f}{_fmt_ratio(ours, bare):>9}"


def print_table(results: dict[str, Any]) -> None:
    """The figures, ours beside the bare baseline's, with the ratio ours / bare."""
    load = results["loadavg"]
    print(
        f"bench pipeline ({datetime.now(UTC).isoformat(timespec='seconds')}, "
        f"{results['cores']} cores; loadavg before: {load['before']}; after: {load['after']})"
    )
    print(f"  {'figure':<44}{'ucb-cases':>10}{'bare':>10}{'ratio':>9}")
    in_flight = results["options"]["in_flight"]
    for t in results["throughput"]:
        o, b = t["ours"], t["bare"]
        label = f"incidents done /s, {t['incidents']} ({in_flight} in flight)"
        print(_row(label, o["per_second"] or 0.0, b["per_second"] or 0.0, 2))
        if o["done"] < t["incidents"] or b["done"] < t["incidents"]:
            print("    PARTIAL: the wait ran out; the rate is done / elapsed")
        print(
            f"    done {o['done']}/{t['incidents']} in {o['seconds']:.1f}s "
            f"(POSTs answered in {o['intake_seconds']:.1f}s); bare {b['done']} in "
            f"{b['seconds']:.1f}s (started in {b['intake_seconds']:.1f}s)"
        )
    for key, title in (
        ("letter_latency", "incident -> letter"),
        ("task completion", "task completion -> answer"),
    ):
        section = results[key.replace(" ", "_")]
        o, b = section["ours"], section["bare"]
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            print(_row(f"{title} {q[:-3]}, ms (n={o['n']}/{b['n']})", o[q], b[q]))
        if o["missing"] or b["missing"]:
            print(f"    missing: ours {o['missing']}, bare {b['missing']}")
    print(f"  {'CPU per process':<44}{'ucb-cases':>10}{'bare':>10}{'ratio':>9}")
    for t in results["throughput"]:
        print(
            "\n".join(_cpu_lines(f"throughput {t['incidents']}", t["ours"], t["bare"], "incident"))
        )
    lat, task = results["letter_latency"], results["task_completion"]
    print("\n".join(_cpu_lines("sequential letters", lat["ours"], lat["bare"], "incident")))
    label = f"task completions ({results['options']['outcome']})"
    print("\n".join(_cpu_lines(label, task["ours"], task["bare"], "task")))
    h = results["per_incident_history"]
    o, b = h["ours"], h["bare"]
    print("  one incident's histories (verbal abuse by e-mail, a new case; children included)")
    for label, name in (
        ("workflows", "workflows"),
        ("activities scheduled", "total_activities"),
        ("workflow tasks completed", "total_workflow_tasks"),
        ("history events", "total_events"),
    ):
        print(_row(f"  {label}", o[name], b[name]))
    kinds = Counter(o["activity_types"])
    for child in o["children"]:
        kinds.update({f"{k} (child)": v for k, v in child["activity_types"].items()})
    print(f"    ours by type: {dict(kinds)}")
    t = results["per_task_history"]
    print(
        f"  one decision (update): activities ours {t['ours']['activities_in_decision']} "
        f"{t['ours']['activity_types_in_decision']}, child workflows started "
        f"{t['ours']['children_started_in_decision']}; bare {t['bare']['activities_in_decision']}"
    )
    for name, goal in results["goals"].items():
        print(f"  goal {name}: {goal['ratio']:.2f} {'met' if goal['met'] else 'NOT met'}")
    if results["stack_problems"]:
        print("  stack warnings/errors logged:")
        for text, count in results["stack_problems"].items():
            print(f"    {count:>5} x {text}")
        for line in results["stack_error_lines"]:
            print(f"    last: {line[:300]}")


def parse(argv: list[str]) -> tuple[Options, Path | None]:
    """The options, and where to write the figures as JSON (or None)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--incidents",
        default=",".join(map(str, DEFAULT_INCIDENTS)),
        help="comma-separated throughput sizes",
    )
    parser.add_argument("--sequential", type=int, default=DEFAULT_SEQUENTIAL)
    parser.add_argument("--tasks", type=int, default=DEFAULT_TASKS)
    parser.add_argument("--in-flight", type=int, default=DEFAULT_IN_FLIGHT)
    parser.add_argument(
        "--outcome",
        choices=("issued", "not_warranted"),
        default="issued",
        help="how the initial-warning tasks are decided (issued: by letter)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.incidents.split(",") if s.strip())
    if not sizes or min(sizes) < 1 or args.sequential < 1 or args.tasks < 1 or args.in_flight < 1:
        parser.error("sizes must be positive")
    json_path: Path | None = args.json
    return Options(sizes, args.sequential, args.tasks, args.in_flight, args.outcome), json_path


def main(argv: list[str] | None = None) -> int:
    """Run with command-line options; print the table (and write the JSON if asked)."""
    options, path = parse(sys.argv[1:] if argv is None else argv)
    results = asyncio.run(run(options))
    if path is not None:
        path.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
