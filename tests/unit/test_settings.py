"""Settings refuse unsafe production configuration."""

from __future__ import annotations

import base64
import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

import worker
from policy.categories import Category, Channel
from records.repository import Records
from settings import DEV_CODEC_KEYS, Settings
from starter.temporal import report_incident
from workflows.messages import IncidentReport

PG = "postgresql+asyncpg://u@db/ucb"
# As `openssl rand -hex 32` would make one.
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
REAL_SECRET = "9f2c4e7a1b8d3f6051e2a9c7d4b0f8e3a6c1d9b2e5f7083a4c6e1b9d2f5a7c30"


@pytest.mark.parametrize(
    "secret",
    [
        "dev-only-secret-not-for-production-use",
        "change-me",
        "",
        "short",
        "a" * 32,  # long enough, but not random
        "abcabcabcabcabcabcabcabcabcabcabcabc",
        "prefix-change-me-and-some-more-characters-0123",  # a placeholder inside
    ],
)
def test_production_refuses_placeholder_or_short_secrets(secret: str) -> None:
    with pytest.raises(ValidationError, match="UCB_SECRET_KEY"):
        Settings(environment="production", secret_key=secret, database_url=PG)


def test_production_refuses_sqlite() -> None:
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings(environment="production", secret_key=REAL_SECRET)


REAL_KEYS = {"k2": base64.b64encode(bytes(range(7, 39))).decode()}


def test_production_refuses_the_development_payload_key() -> None:
    with pytest.raises(ValidationError, match="UCB_CODEC_KEYS"):
        Settings(environment="production", secret_key=REAL_SECRET, database_url=PG)


PRODUCTION: dict[str, object] = {
    "environment": "production",
    "secret_key": REAL_SECRET,
    "database_url": PG,
    "codec_keys": REAL_KEYS,
    "codec_active_key": "k2",
    "role_mailboxes": {"manager": "managers@landlord.example"},
    "public_url": "https://cases.landlord.example",
}


def test_production_accepts_a_real_secret_key_and_postgres() -> None:
    settings = Settings(**PRODUCTION)  # type: ignore[arg-type]
    assert settings.secret_key


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"role_mailboxes": {}}, "UCB_ROLE_MAILBOXES"),
        ({"public_url": "http://127.0.0.1:8000"}, "UCB_PUBLIC_URL"),
        ({"public_url": "https://localhost"}, "UCB_PUBLIC_URL"),
        ({"public_url": "http://cases.landlord.example"}, "https"),
    ],
)
def test_production_refuses_escalations_to_no_one_or_links_to_this_machine(
    change: dict[str, object], refused: str
) -> None:
    with pytest.raises(ValidationError, match=refused):
        Settings(**{**PRODUCTION, **change})  # type: ignore[arg-type]


def test_the_active_payload_key_must_exist() -> None:
    with pytest.raises(ValidationError, match="UCB_CODEC_ACTIVE_KEY"):
        Settings(codec_keys=REAL_KEYS, codec_active_key="k9")


def test_paths_derive_from_var_dir() -> None:
    settings = Settings(var_dir=Path("somewhere"))
    assert str(settings.outbox) == "somewhere/outbox"
    assert settings.database_url == "sqlite+aiosqlite:///somewhere/records.sqlite3"


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"renamed": DEV_CODEC_KEYS["dev-1"]}, "the development key"),  # under another id
        ({"zero": base64.b64encode(bytes(32)).decode()}, "distinct bytes"),
        ({"short": base64.b64encode(bytes(range(16))).decode()}, "16 bytes"),
        ({"text": "not base64!"}, "not base64"),
    ],
)
def test_production_refuses_weak_payload_keys(keys: dict[str, str], problem: str) -> None:
    active = next(iter(keys))
    with pytest.raises(ValidationError, match=problem):
        Settings(
            environment="production",
            secret_key=REAL_SECRET,
            database_url=PG,
            codec_keys=keys,
            codec_active_key=active,
        )


WORKER_TUNING_ENV = {
    "UCB_WORKER_MAX_CACHED_WORKFLOWS": "250",
    "UCB_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "40",
    "UCB_WORKER_MAX_CONCURRENT_ACTIVITIES": "60",
    "UCB_WORKER_MAX_CONCURRENT_WORKFLOW_TASK_POLLS": "3",
    "UCB_WORKER_MAX_CONCURRENT_ACTIVITY_TASK_POLLS": "7",
    "UCB_WORKER_STICKY_SCHEDULE_TO_START_SECONDS": "45",
}


def _worker_options(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> dict[str, Any]:
    """The keyword arguments ``build_worker`` gives ``Worker(...)``."""
    given: dict[str, Any] = {}

    class Recorded:
        def __init__(self, client: object, **options: Any) -> None:
            given.update(options)

    monkeypatch.setattr(worker, "Worker", Recorded)
    worker.build_worker(cast(Client, object()), settings, cast(Records, object()))
    return given


def test_worker_tuning_env_vars_reach_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in WORKER_TUNING_ENV.items():
        monkeypatch.setenv(name, value)
    options = _worker_options(monkeypatch, Settings(_env_file=None))  # type: ignore[call-arg]
    assert options["max_cached_workflows"] == 250
    assert options["max_concurrent_workflow_tasks"] == 40
    assert options["max_concurrent_activities"] == 60
    assert options["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(3)
    assert options["activity_task_poller_behavior"] == PollerBehaviorSimpleMaximum(7)
    assert options["sticky_queue_schedule_to_start_timeout"] == timedelta(seconds=45)


def test_worker_tuning_defaults_are_the_sdks_but_the_sticky_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK's defaults, except the sticky queue's wait, chosen by the timer storm bench
    (README "Worker tuning")."""
    options = _worker_options(monkeypatch, Settings(_env_file=None))  # type: ignore[call-arg]
    sdk = inspect.signature(Worker.__init__).parameters
    assert sdk["sticky_queue_schedule_to_start_timeout"].default == timedelta(seconds=10)
    assert options["sticky_queue_schedule_to_start_timeout"] == timedelta(seconds=30)
    for name in (
        "max_cached_workflows",
        "workflow_task_poller_behavior",
        "activity_task_poller_behavior",
    ):
        assert options[name] == sdk[name].default, name
    # Unset, the SDK gives the worker 100 slots of each kind (WorkerTuner.create_fixed).
    assert sdk["max_concurrent_workflow_tasks"].default is None
    assert options["max_concurrent_workflow_tasks"] == options["max_concurrent_activities"] == 100


async def test_the_workflow_task_timeout_reaches_the_case_workflow_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: dict[str, Any] = {}

    class Recorded:
        async def start_workflow(self, *args: object, **options: Any) -> None:
            started.update(options)

    incident = IncidentReport(
        "i-1", "C-1", Category.VERBAL_ABUSE, Channel.PHONE, T0, "words", "kim", T0
    )
    await report_incident(cast(Client, Recorded()), Settings(_env_file=None), incident)  # type: ignore[call-arg]
    assert started["task_timeout"] == timedelta(seconds=10)  # as before the setting
    monkeypatch.setenv("UCB_WORKFLOW_TASK_TIMEOUT_SECONDS", "25")
    await report_incident(cast(Client, Recorded()), Settings(_env_file=None), incident)  # type: ignore[call-arg]
    assert started["task_timeout"] == timedelta(seconds=25)


def test_the_revocation_cache_is_set_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).revocation_cache_seconds == 5  # type: ignore[call-arg]
    monkeypatch.setenv("UCB_REVOCATION_CACHE_SECONDS", "0")
    assert Settings(_env_file=None).revocation_cache_seconds == 0  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="revocation_cache_seconds"):
        Settings(revocation_cache_seconds=-1)
