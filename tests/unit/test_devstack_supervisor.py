"""`make run`'s supervisor: the restart policy on a fake clock, then with real processes."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from devstack.processes import Child, port_open
from devstack.supervisor import GiveUp, RestartPolicy, Supervisor, supervise
from tests.support import free_port


def _crash(policy: RestartPolicy, now: float, name: str = "temporal") -> float | GiveUp:
    """``name`` crashes at ``now``; if restarted, it is started again once its delay is over."""
    decision = policy.decide(name, now)
    if not isinstance(decision, GiveUp):
        policy.started(name, now + decision)
    return decision


# --- the policy, on a fake clock -------------------------------------------------------


def test_backoff_doubles_then_caps() -> None:
    policy = RestartPolicy(initial_delay=0.5, max_delay=30, max_restarts=100, window=300)
    policy.started("temporal", 0.0)
    delays = []
    now = 0.0
    for _ in range(9):
        delay = _crash(policy, now)
        assert isinstance(delay, float)
        delays.append(delay)
        now += delay + 1  # crashes one second after each restart
    assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_backoff_is_per_child() -> None:
    policy = RestartPolicy(initial_delay=0.5, max_restarts=100)
    for now in (0.0, 1.0, 3.0):
        _crash(policy, now, "worker")
    assert _crash(policy, 10.0, "api") == 0.5
    assert _crash(policy, 10.0, "worker") == 4


def test_gives_up_past_the_window_limit() -> None:
    policy = RestartPolicy(initial_delay=0.1, max_delay=0.1, max_restarts=3, window=60)
    assert [_crash(policy, t) for t in (0.0, 1.0, 2.0)] == [0.1, 0.1, 0.1]
    gave_up = _crash(policy, 3.0)
    assert isinstance(gave_up, GiveUp)
    assert "3 times in the last 60s" in gave_up.reason


def test_window_forgets_old_restarts() -> None:
    policy = RestartPolicy(initial_delay=0.1, max_delay=0.1, max_restarts=3, window=60)
    for now in (0.0, 1.0, 2.0):
        _crash(policy, now)
    # The crash at 0 s has left the window by 60 s: one restart is allowed again...
    assert _crash(policy, 60.0) == 0.1
    # ...but only one: at 60.5 s, the restarts at 1 s, 2 s and 60 s are all within a minute.
    assert isinstance(_crash(policy, 60.5), GiveUp)


def test_a_stable_child_gets_its_backoff_reset() -> None:
    policy = RestartPolicy(initial_delay=0.5, max_delay=30, max_restarts=100, stable_after=60)
    now = 0.0
    policy.started("temporal", now)
    for expected in (0.5, 1, 2, 4):
        assert _crash(policy, now) == expected
        now += expected + 5  # up only five seconds each time
    # Restarted at now - 5 and up for a whole minute this time: back to the first delay.
    assert _crash(policy, now - 5 + 60) == 0.5


def test_a_short_uptime_does_not_reset_the_backoff() -> None:
    policy = RestartPolicy(initial_delay=0.5, max_delay=30, max_restarts=100, stable_after=60)
    policy.started("temporal", 0.0)
    assert _crash(policy, 59.0) == 0.5
    assert _crash(policy, 59.5 + 59.0) == 1  # restarted at 59.5, up 59 s < 60 s


def test_a_very_long_crash_streak_stays_capped() -> None:
    policy = RestartPolicy(initial_delay=0.5, max_delay=30, max_restarts=5, window=10)
    # Crashes spaced wider than the window never give up; never started, it never resets.
    delays = [policy.decide("temporal", 11.0 * n) for n in range(2000)]
    assert delays[:3] == [0.5, 1, 2]
    assert set(delays[7:]) == {30}


# --- real processes ----------------------------------------------------------------------

CRASH = "import sys; sys.exit(3)"
SLEEP = "import time; time.sleep(60)"
# Like the Temporal dev server: takes a moment to listen, then (this stand-in) dies.
SERVER = """
import socket, sys, time
time.sleep(0.3)
server = socket.create_server(("127.0.0.1", {port}))
time.sleep(0.7)
sys.exit(1)
"""


def _python(name: str, code: str, ready: Callable[[], bool] | None = None) -> Child:
    return Child(name, [sys.executable, "-c", code], {}, ready=ready)


class _Running:
    """``supervise`` in a thread, with a log the test can poll."""

    def __init__(self, children: list[Child], policy: RestartPolicy) -> None:
        self.children = children
        self.lines: list[str] = []
        self.stopping = threading.Event()
        self.result: list[int] = []
        for child in children:
            child.start()
        self.thread = threading.Thread(
            target=lambda: self.result.append(
                supervise(children, self.stopping, policy, poll=0.05, log=self.lines.append)
            ),
            daemon=True,
        )
        self.thread.start()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out; log: {self.lines}"
            time.sleep(0.05)

    def finish(self) -> int | None:
        self.stopping.set()
        self.thread.join(5)
        for child in self.children:
            child.stop(timeout=2)
        return self.result[0] if self.result else None


@pytest.fixture
def running() -> Iterator[Callable[[list[Child], RestartPolicy], _Running]]:
    started: list[_Running] = []

    def start(children: list[Child], policy: RestartPolicy) -> _Running:
        started.append(_Running(children, policy))
        return started[-1]

    yield start
    for run in started:
        run.finish()


def test_crashed_children_are_restarted_and_temporal_is_not_fatal(
    running: Callable[[list[Child], RestartPolicy], _Running],
) -> None:
    port = free_port()
    server = _python("temporal", SERVER.format(port=port), partial(port_open, "127.0.0.1", port))
    crasher = _python("worker", CRASH)
    steady = _python("api", SLEEP)
    run = running(
        [server, crasher, steady],
        RestartPolicy(initial_delay=0.1, max_delay=0.4, max_restarts=50, window=60),
    )
    steady_pid = steady.process.pid if steady.process else None

    # The stand-in Temporal dies after a second; it is restarted, and is only declared back
    # once its port listens again.
    run.wait_for(lambda: "devstack: temporal is back" in run.lines)
    crashed = run.lines.index("devstack: temporal exited with 1; restarting in 0.1s")
    assert crashed < run.lines.index("devstack: temporal is back")
    assert server.exit_code() is None and port_open("127.0.0.1", port)

    # The crashing worker keeps being restarted, with growing then capped delays.
    run.wait_for(lambda: run.lines.count("devstack: worker restarted") >= 4)
    delays = [line.rsplit(" ", 1)[1] for line in run.lines if line.startswith("devstack: worker")]
    assert delays[:4] == ["0.1s", "restarted", "0.2s", "restarted"]
    assert "0.4s" in delays

    # Nothing stopped the stack: the steady child was never touched, and supervise runs on.
    assert steady.process is not None and steady.process.pid == steady_pid
    assert steady.exit_code() is None
    assert run.thread.is_alive()
    assert run.finish() == 0


def test_a_crash_loop_stops_the_stack_saying_which_child(
    running: Callable[[list[Child], RestartPolicy], _Running],
) -> None:
    crasher = _python("temporal", CRASH)
    steady = _python("api", SLEEP)
    run = running(
        [crasher, steady], RestartPolicy(initial_delay=0.05, max_delay=0.05, max_restarts=2)
    )
    run.thread.join(5)
    assert run.result == [1]
    assert run.lines[-1] == (
        "devstack: temporal exited with 3 and was restarted 2 times in the last 300s;"
        " giving up, stopping the stack"
    )
    assert run.lines.count("devstack: temporal restarted") == 2
    assert steady.exit_code() is None  # stopping the others is main()'s `finally`


def test_a_child_that_never_gets_ready_is_killed_and_restarted() -> None:
    child = _python("temporal", SLEEP, ready=lambda: False)
    lines: list[str] = []
    supervisor = Supervisor([child], RestartPolicy(initial_delay=0), lines.append, ready_timeout=1)
    child.start()
    try:
        supervisor.begin(0.0)
        child.stop()  # "crashes"
        assert supervisor.step(0.0) is None  # restart due at once
        assert supervisor.step(0.0) is None  # restarted; now waiting to be ready
        first = child.process
        assert first is not None and child.exit_code() is None
        assert supervisor.step(0.5) is None  # not ready, not yet late
        assert child.exit_code() is None
        assert supervisor.step(1.0) is None  # late: killed
        assert lines[-1] == "devstack: temporal not ready after 1s; killing it"
        assert child.exit_code() is not None
        assert supervisor.step(1.0) is None  # seen as a crash, and restarted
        assert supervisor.step(1.0) is None
        assert child.process is not first and child.exit_code() is None
    finally:
        child.stop()


def test_each_child_waits_out_its_own_backoff_while_the_loop_runs_on() -> None:
    temporal, worker = _python("temporal", CRASH), _python("worker", CRASH)
    lines: list[str] = []
    supervisor = Supervisor([temporal, worker], RestartPolicy(initial_delay=0.5), lines.append)
    try:
        temporal.start()
        assert temporal.process is not None and temporal.process.wait(5) == 3
        supervisor.begin(0.0)
        assert supervisor.step(0.0) is None
        assert lines == ["devstack: temporal exited with 3; restarting in 0.5s"]
        first_temporal = temporal.process

        worker.start()  # crashes while temporal waits out its delay: handled straight away
        assert worker.process is not None and worker.process.wait(5) == 3
        first_worker = worker.process
        assert supervisor.step(0.3) is None
        assert lines[-1] == "devstack: worker exited with 3; restarting in 0.5s"

        assert supervisor.step(0.49) is None
        assert temporal.process is first_temporal and worker.process is first_worker
        assert supervisor.step(0.5) is None
        assert temporal.process is not first_temporal and worker.process is first_worker
        assert supervisor.step(0.8) is None
        assert worker.process is not first_worker
        assert lines.count("devstack: temporal restarted") == 1
        assert lines.count("devstack: worker restarted") == 1
    finally:
        temporal.stop()
        worker.stop()
