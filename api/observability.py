"""Operations: a request id, an access log and Prometheus metrics for the API.

- **Request id**: every call gets one, returned in ``X-Request-ID``; an incoming
  ``X-Request-ID`` is kept when it is 16 to 64 characters of ``[A-Za-z0-9._-]``, else a
  fresh one is made. It is in every log record written while the call is served
  (``starter.logs.REQUEST_ID``).
- **Access log**: one JSON line per call on the ``api.access`` logger at INFO: method,
  route *template* (``/v1/cases/{customer_ref}``, never the path with its reference, nor
  the query string), status, duration, request id and the caller's user id (a staff or
  service account id from the token). No client address, no headers, no bodies.
- **Metrics** (``GET /metrics``, Prometheus text): requests, latency and unhandled
  exceptions labelled by method, route template and status; and business gauges read
  from the records (cached ``UCB_METRICS_CACHE_SECONDS``) and the stuck-case scan of
  ``starter.ops`` (cached ``UCB_METRICS_STUCK_SCAN_SECONDS``). Labels take values from
  closed vocabularies only (route templates, task kinds, letter statuses): no customer,
  case or person is ever a label. The endpoint needs an operator token, or the scrape
  token ``UCB_METRICS_TOKEN`` when one is set (Prometheus' ``authorization``).

The worker's own metrics (the Temporal SDK's) are on the worker's endpoint
(``UCB_WORKER_METRICS_ADDRESS``, see ``starter.temporal.metrics_runtime``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import require
from api.deps import TemporalGateway
from records.db import make_sessionmaker
from records.gauges import BusinessGauges, read_gauges
from settings import Settings
from starter.logs import REQUEST_ID, configure_logging
from starter.ops import StuckReport, stuck_cases
from tokens import ApiRole, Principal

access_log = logging.getLogger("api.access")
log = logging.getLogger("api.metrics")

REQUEST_ID_HEADER: Final = "X-Request-ID"
SAFE_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._-]{16,64}")
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED: Final = "unmatched"
STUCK_PROBLEMS: Final = ("workflow_task_failing", "activity_retrying")
RESTRICTION_KINDS: Final = ("protocol", "immediate_action", "direct_contact_ended")
# A scrape waits at most this long for the stuck-case scan; the last result stands.
STUCK_SCAN_TIMEOUT_SECONDS: Final = 10.0
_PATH_CONVERTER = re.compile(r"\{(\w+):[^}]+\}")


def route_label(scope: Scope) -> str:
    """The matched route's template as OpenAPI names it ("/v1/letters/{letter_id}"), or
    ``unmatched``: never the raw path."""
    path = getattr(scope.get("route"), "path", None)
    return _PATH_CONVERTER.sub(r"{\1}", path) if isinstance(path, str) else UNMATCHED


def request_id_from(scope: Scope) -> str:
    """The caller's X-Request-ID when it is safe to log, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            try:
                candidate: str = bytes(value).decode("ascii")
            except UnicodeDecodeError:
                break
            if SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class ApiMetrics:
    """The API process's metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ucb_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "ucb_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.exceptions = Counter(
            "ucb_http_exceptions",
            "Requests that ended in an unhandled exception (answered 500), by exception class.",
            ["method", "route", "exception"],
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "ucb_http_requests_in_progress",
            "HTTP requests being served.",
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        self.business = BusinessCollector()
        self.registry.register(self.business)


class RequestObservability:
    """ASGI middleware: request id, access log line and request metrics for every call."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status: int | None = None
        finished = False

        def finish(exception: str | None = None) -> None:
            nonlocal finished
            if not finished:
                finished = True
                self._record(scope, request_id, status, time.perf_counter() - started, exception)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finish()  # before the last byte leaves: a client that has it sees it counted
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            finish(type(error).__name__)
            raise
        finally:
            finish()
            self.metrics.in_progress.dec()
            REQUEST_ID.reset(token)

    def _record(
        self,
        scope: Scope,
        request_id: str,
        status: int | None,
        elapsed: float,
        exception: str | None,
    ) -> None:
        """Count and time the call, and write its access line."""
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        route = route_label(scope)
        answered = str(status if status is not None else 500)
        self.metrics.requests.labels(method, route, answered).inc()
        self.metrics.duration.labels(method, route, answered).observe(elapsed)
        if exception is not None:
            self.metrics.exceptions.labels(method, route, exception).inc()
        fields: dict[str, object] = {
            "event": "access",
            "method": method,
            "route": route,
            "status": int(answered),
            "duration_ms": round(elapsed * 1000, 1),
            "request_id": request_id,
        }
        principal = scope.get("state", {}).get("principal")
        if isinstance(principal, Principal):
            fields["user"] = principal.user  # a staff or service account id, from the token
        if exception is not None:
            fields["exception"] = exception
        access_log.info(
            "%s %s %s", method, route, answered, extra={"fields": fields, "request_id": request_id}
        )


# -- business gauges -----------------------------------------------------------------


@dataclass
class _Snapshot:
    records: BusinessGauges | None = None
    records_ok: bool = False
    records_read_at: float = 0.0
    stuck: StuckReport | None = None
    stuck_ok: bool = False
    stuck_read_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class BusinessCollector(Collector):
    """The business gauges, from the last refresh (``refresh`` runs before each scrape)."""

    def __init__(self) -> None:
        self.snapshot = _Snapshot()

    async def refresh(self, request: Request) -> None:
        """Re-read what is older than its cache period; a failing source keeps its last
        figures and reports ``ucb_business_gauges_up{source=...} 0``."""
        settings: Settings = request.app.state.settings
        snap = self.snapshot
        async with snap.lock:
            now = time.monotonic()
            if now - snap.records_read_at >= settings.metrics_cache_seconds:
                try:
                    sessions = make_sessionmaker(request.app.state.engine)
                    snap.records = await read_gauges(sessions, datetime.now(UTC))
                    snap.records_ok = True
                except Exception as error:
                    snap.records_ok = False
                    log.warning("business gauges not read from the records (%s)", _kind(error))
                snap.records_read_at = now
            scan_every = settings.metrics_stuck_scan_seconds
            if scan_every > 0 and now - snap.stuck_read_at >= scan_every:
                try:
                    gateway: TemporalGateway = request.app.state.temporal
                    client = await gateway.client()
                    snap.stuck = await asyncio.wait_for(
                        stuck_cases(client, settings), STUCK_SCAN_TIMEOUT_SECONDS
                    )
                    snap.stuck_ok = True
                except Exception as error:
                    snap.stuck_ok = False
                    log.warning("stuck-case scan for metrics failed (%s)", _kind(error))
                snap.stuck_read_at = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.snapshot
        up = GaugeMetricFamily(
            "ucb_business_gauges_up",
            "1 when the last refresh of a source of business gauges succeeded.",
            labels=["source"],
        )
        up.add_metric(["records"], 1.0 if snap.records_ok else 0.0)
        up.add_metric(["temporal"], 1.0 if snap.stuck_ok else 0.0)
        yield up
        gauges = snap.records
        if gauges is not None:
            yield _by(
                "ucb_open_tasks",
                "Open tasks (human decisions waiting), by kind.",
                "kind",
                gauges.open_tasks,
            )
            yield _by(
                "ucb_overdue_tasks",
                "Open tasks past their due date, by kind.",
                "kind",
                gauges.overdue_tasks,
            )
            yield _by(
                "ucb_overdue_reviews",
                "Restrictions in force whose review date has passed, by kind.",
                "kind",
                {**dict.fromkeys(RESTRICTION_KINDS, 0), **gauges.overdue_reviews},
            )
            yield _by(
                "ucb_letters",
                "Letters by delivery status (undeliverable: an address needs fixing).",
                "status",
                gauges.letters,
            )
            open_cases = GaugeMetricFamily("ucb_open_cases", "Case episodes not closed.")
            open_cases.add_metric([], float(gauges.open_cases))
            yield open_cases
        report = snap.stuck
        if report is not None:
            cases: dict[str, set[str]] = {problem: set() for problem in STUCK_PROBLEMS}
            for case in report.cases:
                cases.setdefault(case.problem, set()).add(case.workflow_id)
            yield _by(
                "ucb_cases_stuck",
                "Running cases with a failing workflow task or an activity retrying past "
                "its budget (GET /healthz/cases lists them), by problem.",
                "problem",
                {problem: len(ids) for problem, ids in cases.items()},
            )
            truncated = GaugeMetricFamily(
                "ucb_cases_stuck_scan_truncated",
                "1 when more cases were running than the stuck-case scan looked at.",
            )
            truncated.add_metric([], 1.0 if report.truncated else 0.0)
            yield truncated


def _by(name: str, documentation: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(values.items()):
        family.add_metric([value], float(count))
    return family


def _kind(error: BaseException) -> str:
    return type(error).__name__


# -- the endpoint ------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False)
_operator = require(frozenset({ApiRole.OPERATOR}))


async def metrics_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The scrape token (``UCB_METRICS_TOKEN``, when set) or an operator's token."""
    settings: Settings = request.app.state.settings
    if (
        settings.metrics_token
        and credentials is not None
        and hmac.compare_digest(
            credentials.credentials.encode("utf-8"), settings.metrics_token.encode("utf-8")
        )
    ):
        return
    await _operator(request, credentials)


router = APIRouter()


@router.get(
    "/metrics",
    include_in_schema=False,  # Prometheus text for the scraper, not part of the case API
    dependencies=[Depends(metrics_reader)],
)
async def metrics(request: Request) -> Response:
    """Prometheus text: request metrics, business gauges, process metrics."""
    api_metrics: ApiMetrics = request.app.state.metrics
    await api_metrics.business.refresh(request)
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI, settings: Settings) -> None:
    """Add ``GET /metrics`` and the request middleware (call last: it must be outermost,
    so it times and counts every answer, a 413 from the body limit included), and JSON
    logs unless the process has configured logging already."""
    configure_logging("api", settings.log_level)
    metrics = ApiMetrics()
    app.state.metrics = metrics
    app.include_router(router)
    app.add_middleware(RequestObservability, metrics=metrics)
