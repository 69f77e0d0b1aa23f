"""`python -m bench.memory_profile`: where a cached case's memory goes, by ``tracemalloc``.

Issue 12 (performance). A worker runs in this process against its own dev server; after a
few warm-up cases, N new cases each take one incident and settle (their tasks are open, the
cases wait in the worker's cache). The allocations still alive after they settle, less
those alive before, are divided by N and grouped by what made them:

- the sandbox's per-run copy of our workflow modules (each case imports ``workflows.case``,
  ``.decision_steps``, ``.legacy``, ``.steps`` and ``.letter`` afresh: their code, classes
  and functions);
- the SDK's workflow instance and sandbox bookkeeping;
- our workflow objects (state, handlers) and everything else.

``tracemalloc`` slows the worker several times over, so the worker's workflow-task slots
are capped for the run (``--slots``): otherwise queued tasks pass the task timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import tracemalloc
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.capacity import (
    DevServer,
    _gather_limited,
    _sqlite_path,
    bench_incident,
    bench_settings,
    count,
    migrated_records,
)

WARM_UP = 5
FRAMES = 25
OPEN_TASKS = "SELECT count(*) FROM tasks WHERE status = 'open'"
OUR_WORKFLOW_FILES = (
    "workflows/case.py",
    "workflows/steps.py",
    "workflows/decision_steps.py",
    "workflows/legacy.py",
    "workflows/letter.py",
)


def category(trace: tracemalloc.Traceback) -> str:
    """What an allocation is for, from its stack (innermost frame last in ``format``)."""
    files = [frame.filename for frame in trace]
    if any("importlib._bootstrap" in f or f.endswith("linecache.py") for f in files):
        return "sandbox copy of the workflow modules (code, classes, functions)"
    if any(f.endswith(OUR_WORKFLOW_FILES) for f in files):
        return "our workflow objects (state, handlers)"
    if any("temporalio" in f for f in files):
        return "SDK workflow instance and sandbox bookkeeping"
    return "other (records, asyncio, converters)"


async def profile(n: int, slots: int) -> dict[str, Any]:
    """Per-case bytes still alive after ``n`` cases settled, by category and by line."""
    os.environ["UCB_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS"] = str(slots)
    from policy.categories import Category
    from settings import Settings
    from starter.temporal import connect, report_incident
    from worker import build_worker

    with tempfile.TemporaryDirectory(prefix="ucb-bench-memprof-") as tmp:
        root = Path(tmp)
        server = DevServer(root)
        await server.start()
        try:
            client = await connect(Settings(environment="test", temporal_address=server.address))
            settings = bench_settings(root / "work", server, f"memprof-{uuid.uuid4().hex[:6]}")
            records, engine = await migrated_records(settings)
            db = _sqlite_path(settings)

            async def one(i: int) -> None:
                incident = bench_incident(
                    f"MEMPROF-{i:05d}",
                    Category.UNREASONABLE_PERSISTENCE,
                    "bench memory profile incident",
                )
                await report_incident(client, settings, incident)

            async def settled(k: int) -> None:
                while await count(db, OPEN_TASKS) < k:  # noqa: ASYNC110 - polling another process
                    await asyncio.sleep(0.5)
                await asyncio.sleep(3)  # the last passes finish after their task rows

            async with build_worker(client, settings, records):
                await _gather_limited(8, [one(i) for i in range(WARM_UP)])
                await settled(WARM_UP)
                gc.collect()
                tracemalloc.start(FRAMES)
                before = tracemalloc.take_snapshot()
                await _gather_limited(20, [one(i) for i in range(WARM_UP, WARM_UP + n)])
                await settled(WARM_UP + n)
                gc.collect()
                after = tracemalloc.take_snapshot()
                tracemalloc.stop()
            await engine.dispose()
        finally:
            server.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(ignore), after.filter_traces(ignore)
    by_category: Counter[str] = Counter()
    for stat in after.compare_to(before, "traceback"):
        by_category[category(stat.traceback)] += stat.size_diff
    lines = [
        {
            "kib_per_case": round(stat.size_diff / 1024 / n, 1),
            "where": f"{Path(stat.traceback[0].filename).name}:{stat.traceback[0].lineno}",
        }
        for stat in after.compare_to(before, "lineno")[:12]
    ]
    total = sum(by_category.values())
    return {
        "n": n,
        "slots": slots,
        "kib_per_case": round(total / 1024 / n, 1),
        "by_category_kib_per_case": {
            k: round(v / 1024 / n, 1) for k, v in by_category.most_common()
        },
        "top_lines": lines,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_profile", description=__doc__)
    parser.add_argument("--cases", type=int, default=200, help="cases profiled")
    parser.add_argument("--slots", type=int, default=10, help="workflow-task slots")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = asyncio.run(profile(args.cases, args.slots))
    print(f"memory per cached case by tracemalloc, {args.cases} cases: ", end="")
    print(f"{results['kib_per_case']} KiB")
    for name, kib in results["by_category_kib_per_case"].items():
        print(f"  {kib:8.1f} KiB  {name}")
    print("  top lines:")
    for line in results["top_lines"]:
        print(f"  {line['kib_per_case']:8.1f} KiB  {line['where']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
