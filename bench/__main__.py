"""`make bench`: every speed and memory figure beside a baseline measured in the same run.

Each figure is printed next to its baseline, as a ratio, because these machines are shared
and noisy; all of them are written as JSON under bench/results/ with the load average
(docs/performance.md holds the latest table and how to read it). Parts (``--only``):
- ``ready``: stack ready time vs a bare `temporal server start-dev`; sequential
  `POST /v1/incidents` vs plain signals;
- ``pipeline`` (bench/pipeline.py): incidents done per second, incident → letter latency
  and task completion → answer, vs a bare workflow on the same dev server
  (bench/baseline.py), with CPU per process per incident;
- ``capacity`` (bench/capacity.py): the review timer storm, worker memory per cached
  case, replay cost per history event, `GET /v1/tasks` under 10 clients vs `/healthz`;
- ``reports`` (bench/reports.py): the management report at 10,000 cases and 100,000
  incidents vs a plain count over the same rows.
`python -m bench stream` and `python -m bench reports` run bench/stream.py and
bench/reports.py alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from settings import Settings
from starter.temporal import connect
from tokens import create_token

ROUNDS = 3
RESULTS = Path(__file__).resolve().parent / "results"
INCIDENTS = 200

# A benchmark floods intake from one address with one token: no rate limit may apply.
UNTHROTTLED = {
    f"UCB_RATE_LIMIT_{name}": "1000000/minute"
    for name in ("INTAKE", "INTAKE_PER_ADDRESS", "SIGN_IN", "SIGN_IN_PER_ADDRESS")
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port}")


def bare_temporal_start() -> float:
    """Seconds until a bare dev server accepts connections."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "temporal"),
                "server",
                "start-dev",
                "--headless",
                "--port",
                str(port),
                "--db-filename",
                f"{tmp}/t.sqlite",
                "--log-level",
                "error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_port(port)
            return time.monotonic() - started
        finally:
            process.terminate()
            process.wait()


class Stack:
    """The dev stack in a temporary var dir, on free ports."""

    def __init__(self, var_dir: Path) -> None:
        self.ports = {k: _free_port() for k in ("TEMPORAL", "TEMPORAL_UI", "SMTP", "API")}
        self.secret = secrets.token_urlsafe(32)
        self.env = dict(os.environ)
        self.env.update({f"UCB_{k}_PORT": str(v) for k, v in self.ports.items()})
        self.env.update({"UCB_VAR_DIR": str(var_dir), "UCB_SECRET_KEY": self.secret})
        self.env.update(UNTHROTTLED)
        self.env.pop("UCB_DATABASE_URL", None)
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> float:
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if "ucb-cases is running" in line:
                # Keep reading: a full pipe would block every child that logs.
                threading.Thread(target=_discard, args=(self.process.stdout,), daemon=True).start()
                return time.monotonic() - started
        raise RuntimeError("the stack did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(2)
            self.process.wait(30)


def _discard(lines: Iterable[str]) -> None:
    for _ in lines:
        pass


async def intake_rates(stack: Stack) -> tuple[float, float]:
    """Incidents per second via the API, and plain signals per second (baseline)."""
    token = create_token(stack.secret, "bench", ["case_system"], 600)
    api = f"http://127.0.0.1:{stack.ports['API']}"
    now = datetime.now(UTC).isoformat()
    ref = f"BENCH-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(
        base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        body = {
            "customer_ref": ref,
            "category": "unreasonable_persistence",
            "channel": "email",
            "occurred_at": now,
            "description": "benchmark incident",
            "reported_by": "bench",
        }
        (await http.post("/v1/incidents", json=body)).raise_for_status()  # opens the case
        started = time.monotonic()
        for _ in range(INCIDENTS):
            (await http.post("/v1/incidents", json=body)).raise_for_status()
        api_rate = INCIDENTS / (time.monotonic() - started)
    settings = Settings(temporal_address=f"127.0.0.1:{stack.ports['TEMPORAL']}")
    client = await connect(settings)
    handle = client.get_workflow_handle(f"ucb-case-{ref}")
    started = time.monotonic()
    for _ in range(INCIDENTS):
        await handle.signal("benchmark_noop")  # unknown signal name: stored, not handled
    signal_rate = INCIDENTS / (time.monotonic() - started)
    return api_rate, signal_rate


PARTS = ("ready", "pipeline", "capacity", "reports")


def parse(argv: list[str]) -> argparse.Namespace:
    """`make bench` sizes (defaults: the issue's, except the storm and cache sizes, which
    are set so the whole run fits in 15 minutes on 2 cores)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--incidents", default="200,800", help="throughput sizes, e.g. 200,800")
    parser.add_argument("--sequential", type=int, default=100, help="letter latency samples")
    parser.add_argument("--tasks-decided", type=int, default=50, help="task completion samples")
    parser.add_argument("--storm", type=int, default=300, help="reviews due at once")
    parser.add_argument("--cases", type=int, default=300, help="cached cases for memory")
    parser.add_argument("--open-tasks", type=int, default=10_000, help="task list size")
    parser.add_argument("--report-incidents", type=int, default=100_000)
    parser.add_argument("--report-cases", type=int, default=10_000)
    return parser.parse_args(argv)


def ready_figures() -> dict[str, float]:
    """Stack readiness against a bare dev server, and sequential intake against signals."""
    bare = [bare_temporal_start() for _ in range(ROUNDS)]
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp) / "var")
        cold = stack.start()
        api_rate, signal_rate = asyncio.run(intake_rates(stack))
        stack.stop()
        warm = []
        for _ in range(ROUNDS):
            warm.append(stack.start())
            stack.stop()
    base = statistics.median(bare)
    print(f"bare temporal dev server ready : median {base:.2f}s over {ROUNDS}")
    print(f"stack ready, empty var/        : {cold:.2f}s ({cold / base:.1f}x bare)")
    print(
        f"stack ready, existing var/     : median {statistics.median(warm):.2f}s "
        f"({statistics.median(warm) / base:.1f}x bare)"
    )
    print(f"POST /v1/incidents, sequential : {api_rate:.0f}/s")
    print(f"plain Temporal signals         : {signal_rate:.0f}/s (baseline)")
    print(f"API intake / plain signal      : {api_rate / signal_rate:.2f}")
    return {
        "bare_ready_s": base,
        "cold_ready_s": cold,
        "warm_ready_s": statistics.median(warm),
        "intake_per_s": api_rate,
        "signals_per_s": signal_rate,
    }


def main(argv: list[str]) -> int:
    """Run the parts asked for, print each table, and write every figure as JSON under
    bench/results/ with the machine's load before and after."""
    args = parse(argv)
    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "load_before": Path("/proc/loadavg").read_text().split()[:3],
        "sizes": vars(args),
    }
    if "ready" in args.only:
        results["ready"] = ready_figures()
    if "pipeline" in args.only:
        from bench import pipeline

        sizes = tuple(int(n) for n in args.incidents.split(","))
        results["pipeline"] = asyncio.run(
            pipeline.run(
                pipeline.Options(
                    incidents=sizes, sequential=args.sequential, tasks=args.tasks_decided
                )
            )
        )
    if "capacity" in args.only:
        from bench import capacity  # the baseline workflows under the module's own name

        figures = asyncio.run(
            capacity.run(
                capacity.Options(storm=args.storm, cases=args.cases, tasks=args.open_tasks)
            )
        )
        capacity.report(figures)
        results["capacity"] = figures
    if "reports" in args.only:
        from bench.reports import run as report_figures

        report_figures(cases=args.report_cases, incidents=args.report_incidents, rounds=3)
    results["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    results["seconds"] = time.monotonic() - started
    out = RESULTS / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"load average before / after    : {results['load_before']} / {results['load_after']}")
    where = out.relative_to(RESULTS.parent.parent)  # relative to the repository
    print(f"figures written to {where} ({results['seconds']:.0f}s in all)")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["stream"]:  # `python -m bench stream`: bench/stream.py
        from bench.stream import main as stream

        raise SystemExit(stream(sys.argv[2:]))
    if sys.argv[1:2] == ["reports"]:  # `python -m bench reports`: bench/reports.py
        from bench.reports import main as reports

        raise SystemExit(reports(sys.argv[2:]))
    raise SystemExit(main(sys.argv[1:]))
