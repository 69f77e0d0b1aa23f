"""Keep the dev stack's children running: restart crashes with backoff, stop on a crash loop."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from devstack.processes import Child


@dataclass(frozen=True)
class GiveUp:
    """A child crashed too often: stop the stack."""

    reason: str


@dataclass
class RestartPolicy:
    """Per-child exponential backoff, and a limit on restarts within a sliding window.

    Pure: the caller passes the clock reading ``now`` (seconds, monotonic).
    """

    initial_delay: float = 0.5
    max_delay: float = 30.0
    max_restarts: int = 10
    window: float = 300.0
    stable_after: float = 60.0
    _started: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _streak: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _restarts: dict[str, deque[float]] = field(default_factory=dict, init=False, repr=False)

    def started(self, name: str, now: float) -> None:
        """Record that ``name`` was (re)started at ``now``."""
        self._started[name] = now

    def decide(self, name: str, now: float) -> float | GiveUp:
        """``name`` exited at ``now``: seconds to wait before restarting it, or give up."""
        started = self._started.get(name)
        if started is not None and now - started >= self.stable_after:
            self._streak[name] = 0  # it had been up a while: this is a fresh failure
        recent = self._restarts.setdefault(name, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.max_restarts:
            return GiveUp(f"restarted {len(recent)} times in the last {self.window:.0f}s")
        streak = self._streak.get(name, 0)
        self._streak[name] = streak + 1
        recent.append(now)
        return float(min(self.initial_delay * 2 ** min(streak, 32), self.max_delay))


def _print(message: str) -> None:
    print(message, flush=True)


@dataclass
class Supervisor:
    """One non-blocking pass per :meth:`step`: notice exits, restart when backoff is over."""

    children: list[Child]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    log: Callable[[str], None] = _print
    ready_timeout: float = 60.0
    _due: dict[str, float] = field(default_factory=dict, init=False)
    _booting: dict[str, float] = field(default_factory=dict, init=False)

    def begin(self, now: float) -> None:
        """The children are running (started by the caller) as of ``now``."""
        for child in self.children:
            self.policy.started(child.name, now)

    def step(self, now: float) -> GiveUp | None:
        for child in self.children:
            due = self._due.get(child.name)
            if due is not None:
                if now >= due:
                    del self._due[child.name]
                    self._restart(child, now)
                continue
            code = child.exit_code()
            if code is not None:
                gave_up = self._exited(child, code, now)
                if gave_up is not None:
                    return gave_up
            elif child.name in self._booting:
                self._check_ready(child, now)
        return None

    def _exited(self, child: Child, code: int, now: float) -> GiveUp | None:
        self._booting.pop(child.name, None)
        decision = self.policy.decide(child.name, now)
        said = f"devstack: {child.name} exited with {code}"
        if isinstance(decision, GiveUp):
            self.log(f"{said} and was {decision.reason}; giving up, stopping the stack")
            return decision
        self.log(f"{said}; restarting in {decision:.1f}s")
        self._due[child.name] = now + decision
        return None

    def _restart(self, child: Child, now: float) -> None:
        child.start()
        self.policy.started(child.name, now)
        if child.ready is None:
            self.log(f"devstack: {child.name} restarted")
        else:
            self._booting[child.name] = now + self.ready_timeout

    def _check_ready(self, child: Child, now: float) -> None:
        assert child.ready is not None
        if child.ready():
            del self._booting[child.name]
            self.log(f"devstack: {child.name} is back")
        elif now >= self._booting[child.name]:
            del self._booting[child.name]
            late = f"not ready after {self.ready_timeout:.0f}s"
            self.log(f"devstack: {child.name} {late}; killing it")
            child.stop()  # seen as a crash on the next step


def supervise(
    children: list[Child],
    stopping: threading.Event,
    policy: RestartPolicy | None = None,
    *,
    poll: float = 0.2,
    log: Callable[[str], None] = _print,
) -> int:
    """Keep ``children`` running until ``stopping`` is set (0) or one crash-loops (1)."""
    supervisor = Supervisor(children, policy or RestartPolicy(), log)
    supervisor.begin(time.monotonic())
    while not stopping.wait(poll):
        gave_up = supervisor.step(time.monotonic())
        if gave_up is not None:
            return 1
    return 0
