"""Operations over real HTTP: GET /metrics (request metrics, business gauges), the worker's
Temporal SDK metrics endpoint, the request id and the JSON access log."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.worker import Worker

from records.repository import Records
from settings import Settings
from starter.logs import JsonFormatter
from starter.temporal import connect, metrics_runtime
from tests.support import eventually, free_port
from worker import build_worker

SCRAPE_TOKEN = "scrape-" + uuid.uuid4().hex + uuid.uuid4().hex


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test's settings, with a scrape token and no caching of the business gauges."""
    return settings.model_copy(update={"metrics_token": SCRAPE_TOKEN, "metrics_cache_seconds": 0})


@pytest.fixture
async def metered_worker(
    settings: Settings, stack_records: Records
) -> AsyncIterator[tuple[Worker, str]]:
    """A real worker on its own SDK runtime, serving the SDK's metrics like worker.main()."""
    address = f"127.0.0.1:{free_port()}"
    client = await connect(settings, metrics_runtime(address))
    running = build_worker(client, settings, stack_records, strict=True)
    async with running:
        yield running, f"http://{address}/metrics"


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(found: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    matching = [v for n, lab, v in found if n == name and labels.items() <= lab.items()]
    assert matching, f"no sample {name}{labels}"
    return sum(matching)


def incident(ref: str) -> dict[str, Any]:
    return {
        "customer_ref": ref,
        "category": "verbal_abuse",
        "channel": "phone",
        "occurred_at": "2026-11-20T10:00:00Z",
        "description": "Called the officer useless, with swearing",
        "reported_by": "officer-17",
        "customer": {"name": "Pat Example", "email": f"{ref.lower()}@example.org"},
    }


async def test_metrics_show_requests_business_gauges_and_worker_metrics(
    api_url: str,
    metered_worker: tuple[Worker, str],
    auth_for: Callable[..., dict[str, str]],
) -> None:
    _worker, worker_metrics_url = metered_worker
    ref = f"MET-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=api_url) as http:
        accepted = await http.post(
            "/v1/incidents", json=incident(ref), headers=auth_for("case_system")
        )
        assert accepted.status_code == 202, accepted.text

        async def warning_task() -> list[Any] | None:
            response = await http.get(
                "/v1/tasks",
                params={"kind": "initial_warning", "customer_ref": ref},
                headers=auth_for("officer"),
            )
            items: list[Any] = response.json()["items"]
            return items or None

        await eventually(warning_task)

        # Who may scrape: an operator, or the scrape token; nobody else.
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers=auth_for("officer"))).status_code == 403
        wrong = {"Authorization": "Bearer " + SCRAPE_TOKEN[:-1] + "x"}
        assert (await http.get("/metrics", headers=wrong)).status_code == 401
        by_token = await http.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
        assert by_token.status_code == 200
        scraped = await http.get("/metrics", headers=auth_for("operator"))
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    found = samples(text)

    # API metrics, by route template.
    intake = {"method": "POST", "route": "/v1/incidents", "status": "202"}
    assert value(found, "ucb_http_requests_total", **intake) >= 1
    assert value(found, "ucb_http_request_duration_seconds_count", **intake) >= 1
    assert value(found, "ucb_http_requests_total", route="/v1/tasks", status="200") >= 1
    assert value(found, "ucb_http_requests_total", route="/metrics", status="401") >= 1
    # Business gauges, read from the records.
    assert value(found, "ucb_business_gauges_up", source="records") == 1
    assert value(found, "ucb_open_tasks", kind="initial_warning") >= 1
    assert value(found, "ucb_letters", status="undeliverable") == 0
    assert value(found, "ucb_overdue_reviews", kind="protocol") == 0
    assert value(found, "ucb_open_cases") >= 1
    # Stuck cases, from the same scan as GET /healthz/cases: this case is not stuck.
    assert value(found, "ucb_business_gauges_up", source="temporal") == 1
    assert value(found, "ucb_cases_stuck", problem="workflow_task_failing") == 0
    assert value(found, "ucb_cases_stuck", problem="activity_retrying") == 0
    # No customer reference, name or address anywhere in the text.
    for personal in (ref, ref.lower(), "Pat Example"):
        assert personal not in text

    # The worker's own metrics, from the Temporal SDK's Prometheus endpoint.
    async with httpx.AsyncClient() as http:

        async def worker_metrics() -> list[tuple[str, dict[str, str], float]] | None:
            response = await http.get(worker_metrics_url)
            assert response.status_code == 200
            found = samples(response.text)
            completed = [
                s for s in found if s[0] == "temporal_workflow_task_execution_latency_seconds_count"
            ]
            return found if completed else None

        worker_found = await eventually(worker_metrics)
        worker_text = (await http.get(worker_metrics_url)).text
    assert value(worker_found, "temporal_workflow_task_execution_latency_seconds_count") >= 1
    assert value(worker_found, "temporal_activity_execution_latency_seconds_count") >= 1
    assert value(worker_found, "temporal_request_total") >= 1
    assert ref not in worker_text


async def test_access_log_is_one_json_line_per_request_with_the_request_id(
    api_url: str, auth_for: Callable[..., dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="api.access")
    ref = f"LOG-{uuid.uuid4().hex[:10]}"
    sent_id = "req-" + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=api_url) as http:
        response = await http.get(
            f"/v1/cases/{ref}",
            params={"q": ref},
            headers={**auth_for("officer", user="officer-17"), "X-Request-ID": sent_id},
        )
        # An id that is not safe to log (here a customer reference) is replaced.
        unsafe = await http.get(
            f"/v1/cases/{ref}", headers={**auth_for("officer"), "X-Request-ID": ref}
        )
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == sent_id
    replaced = unsafe.headers["X-Request-ID"]
    assert replaced != ref and len(replaced) == 32

    formatter = JsonFormatter("api")
    lines = [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "api.access"
    ]
    mine = [line for line in lines if line["request_id"] == sent_id]
    assert len(mine) == 1
    line = mine[0]
    assert line["method"] == "GET"
    assert line["route"] == "/v1/cases/{customer_ref}"
    assert line["status"] == 404
    assert line["user"] == "officer-17"
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "INFO" and line["logger"] == "api.access"
    # Neither request's line names the customer (not in the path, query or request id).
    assert any(line["request_id"] == replaced for line in lines), (lines, replaced)
    for record in caplog.records:
        assert ref not in formatter.format(record)
        assert ref not in record.getMessage()
