"""`python -m bench.cpu_profile`: where the worker's CPU goes per incident.

Issue 12 (performance). A worker runs in this process against its own dev server, with
an SMTP sink; after a few warm-up cases, N new customers each report one abusive e-mail
(a new case, its records, a letter by e-mail, two tasks). Two passes:

1. **by thread**, unprofiled: the CPU each of the worker's threads used, per incident,
   from ``/proc/self/task``: workflow tasks (the SDK's ``temporal_workflow_`` threads:
   the sandbox and our workflow code), the event loop (activities, the SDK's Python side),
   the records' SQLite threads (aiosqlite), and the rest (Temporal Core, in Rust);
2. **inside the event loop and the workflow threads**, under ``cProfile`` counting CPU
   time (it slows them, so only the shares count): own time grouped by what the code is
   for.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.capacity import (
    DevServer,
    _free_port,
    _gather_limited,
    _sqlite_path,
    bench_incident,
    bench_settings,
    count,
    migrated_records,
)

WARM_UP = 5
LETTERS_SENT = "SELECT count(*) FROM letters WHERE status = 'sent'"
TICKS = os.sysconf("SC_CLK_TCK")
# Own CPU time, by the file the code is in (first match wins); a built-in's time goes to
# the code that called it.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "sandbox: importing our workflow modules afresh for each run",
        ("importlib", "<frozen", "linecache", "workflow_sandbox/_importer"),
    ),
    ("sandbox: restrictions and proxies", ("workflow_sandbox",)),
    ("records: SQLAlchemy, aiosqlite, records/", ("sqlalchemy", "aiosqlite", "/records/")),
    (
        "letters: Jinja2, e-mail, SMTP, letters/",
        ("jinja2", "markupsafe", "/letters/", "aiosmtplib", "/email/"),
    ),
    (
        "payloads: converter, JSON, encryption codec",
        ("converter", "json", "cryptography", "/starter/", "dataclasses"),
    ),
    ("our workflow, activity and policy code", ("/workflows/", "/policy/", "/activities/")),
    ("protobuf", ("protobuf", "google")),
    ("SDK: workflow and activity machinery", ("temporalio",)),
    ("asyncio and logging", ("asyncio", "logging", "selectors")),
)


def group_of(filename: str) -> str:
    for name, markers in GROUPS:
        if any(marker in filename for marker in markers):
            return name
    return "other"


def own_time_by_group(stats: list[pstats.Stats]) -> tuple[dict[str, float], dict[str, float]]:
    """Own CPU seconds by group (a built-in's time goes to its callers' groups), and by
    file for the files in no group."""
    own: dict[str, float] = {}
    others: dict[str, float] = {}

    def add(filename: str, seconds: float) -> None:
        group = group_of(filename)
        own[group] = own.get(group, 0.0) + seconds
        if group == "other":
            where = "/".join(Path(filename).parts[-2:])
            others[where] = others.get(where, 0.0) + seconds

    for stat in stats:
        for (filename, _line, _name), row in stat.stats.items():  # type: ignore[attr-defined]
            if filename != "~":
                add(filename, row[2])
                continue
            for (caller_file, _l, _n), called in row[4].items():
                add(caller_file, called[2])
    return own, others


def ranked(seconds: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(seconds.items(), key=lambda item: -item[1])


def thread_seconds() -> dict[int, float]:
    """CPU seconds (user + system) of each of this process's threads, by native id."""
    seconds = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        seconds[int(task.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    return seconds


def thread_role(native_id: int) -> str:
    for thread in threading.enumerate():
        if thread.native_id != native_id:
            continue
        if thread.name.startswith("temporal_workflow_"):
            return "workflow tasks (sandbox and workflow code)"
        if thread is threading.main_thread():
            return "event loop (activities, SDK's Python side)"
        if "_connection_worker_thread" in thread.name:  # aiosqlite names it after its target
            return "records (SQLite threads)"
        if thread.name.startswith("asyncio_"):
            return "this bench's polling (to_thread)"
        if thread.name.endswith("(_run)"):  # aiosmtpd's controller
            return "the SMTP sink (in this process for the bench)"
        return "other Python threads"
    return "Temporal Core (Rust) and other native threads"


async def run(n: int, profiled: bool) -> dict[str, Any]:
    """``n`` abusive e-mails on new cases; CPU per incident by thread, or the profile."""
    import worker as worker_module
    from devstack.smtp_sink import start_sink
    from policy.categories import Category
    from settings import Settings
    from starter.temporal import connect, report_incident

    profiles: list[cProfile.Profile] = []

    def profile_this_thread() -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU, not waiting
        profile.enable()
        profiles.append(profile)

    plain_tuning: Callable[[Any], Any] = worker_module.tuning

    def tuning(settings: Any) -> dict[str, Any]:
        tuned = dict(plain_tuning(settings))
        slots = tuned.get("max_concurrent_workflow_tasks") or 100
        tuned["workflow_task_executor"] = ThreadPoolExecutor(
            max_workers=slots,
            thread_name_prefix="temporal_workflow_",
            initializer=profile_this_thread if profiled else None,
        )
        return tuned

    worker_module.tuning = tuning  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="ucb-bench-cpuprof-") as tmp:
        root = Path(tmp)
        server = DevServer(root)
        await server.start()
        sink_port = _free_port()
        sink = start_sink(root / "outbox", "127.0.0.1", sink_port)
        try:
            client = await connect(Settings(environment="test", temporal_address=server.address))
            settings = bench_settings(root / "work", server, f"cpuprof-{uuid.uuid4().hex[:6]}")
            settings.smtp_port = sink_port
            records, engine = await migrated_records(settings)
            db = _sqlite_path(settings)

            async def one(i: int) -> None:
                ref = f"CPUPROF-{i:05d}"
                email = f"{ref.lower()}@example.org"
                await records.upsert_customer(ref, datetime.now(UTC), email=email)
                incident = bench_incident(ref, Category.VERBAL_ABUSE, "bench cpu profile")
                await report_incident(client, settings, incident)

            async def letters_sent(k: int) -> None:
                while await count(db, LETTERS_SENT) < k:  # noqa: ASYNC110 - another thread
                    await asyncio.sleep(0.2)
                await asyncio.sleep(2)  # the cases' last workflow tasks

            async with worker_module.build_worker(client, settings, records):
                await _gather_limited(8, [one(i) for i in range(WARM_UP)])
                await letters_sent(WARM_UP)
                before = thread_seconds()
                for profile in profiles:
                    profile.clear()
                loop_profile = cProfile.Profile(time.thread_time)
                if profiled:
                    loop_profile.enable()
                await _gather_limited(20, [one(i) for i in range(WARM_UP, WARM_UP + n)])
                await letters_sent(WARM_UP + n)
                loop_profile.disable()
                after = thread_seconds()
                roles = {tid: thread_role(tid) for tid in after}
                stats = [pstats.Stats(p) for p in profiles]
                loop_stats = [pstats.Stats(loop_profile)] if profiled else []
            await engine.dispose()
        finally:
            worker_module.tuning = plain_tuning  # type: ignore[assignment]
            sink.stop()
            server.stop()
    if profiled:

        def shares(part: list[pstats.Stats]) -> dict[str, Any]:
            own, others = own_time_by_group(part)
            total = sum(own.values()) or 1.0
            return {
                "groups": {k: round(v / total, 3) for k, v in ranked(own)},
                "other_files": {k: round(v / total, 3) for k, v in ranked(others)[:6]},
            }

        return {"n": n, "event_loop": shares(loop_stats), "workflow_threads": shares(stats)}
    by_role: dict[str, float] = {}
    for tid, seconds in after.items():
        role = roles[tid]
        by_role[role] = by_role.get(role, 0.0) + seconds - before.get(tid, 0.0)
    return {
        "n": n,
        "ms_per_incident": {k: round(v * 1000 / n, 1) for k, v in ranked(by_role)},
        "total_ms_per_incident": round(sum(by_role.values()) * 1000 / n, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_profile", description=__doc__)
    parser.add_argument("--incidents", type=int, default=200, help="incidents profiled")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    threads = asyncio.run(run(args.incidents, profiled=False))
    print(f"worker CPU per incident by thread, {args.incidents} abusive e-mails on new cases:")
    for role, ms in threads["ms_per_incident"].items():
        print(f"  {ms:8.1f} ms  {role}")
    print(f"  {threads['total_ms_per_incident']:8.1f} ms  in all")
    inside = asyncio.run(run(args.incidents, profiled=True))
    for part, title in (("event_loop", "the event loop"), ("workflow_threads", "workflow tasks")):
        print(f"inside {title} (cProfile, own CPU time; shares only):")
        for group, share in inside[part]["groups"].items():
            print(f"  {share:8.1%}  {group}")
        files = ", ".join(f"{k} {v:.1%}" for k, v in inside[part]["other_files"].items())
        print(f"            other, by file: {files}")
    if args.json:
        args.json.write_text(json.dumps({"threads": threads, "profiled": inside}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
