"""No personal or free-text data in any log record, whatever the log level.

A case is driven through the real stack (uvicorn serving the API, the worker, activities,
SQLAlchemy on the records database, all in this process) with a distinctive marker in
every personal or free-text field: the customer's name, email and address, incident
descriptions, the reporter and the colleague affected, decision reasons and the words to
the customer, assessment factors, protocol terms and adjustments, support needs and the
advocate, appeal grounds. Every logger is opened to DEBUG (SQLAlchemy statement and row
logging included), and a write is made to fail in the database so that the error, its
statement and its traceback are logged. No marker may appear in any record: its message,
arguments, extra fields or exception text.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.worker import Worker

from records.db import make_engine
from settings import Settings
from tests.support import eventually

AUTH = Callable[..., dict[str, str]]
RUN = uuid.uuid4().hex[:6]
FORCE_DB_ERROR = "FORCE-DB-ERROR"


def marker(field: str) -> str:
    return f"Mk{RUN}{field.replace('_', '').title()}Qz"


NAME = marker("name")
EMAIL = f"{marker('email').lower()}@example.org"
ADDRESS = marker("postal_address")
DESCRIPTION = marker("description")
REPORTER = marker("reported_by")
COLLEAGUE = marker("affected_colleague")
REASON = marker("reason")
CUSTOMER_REASON = marker("customer_reason")
FACTORS = {
    "instances": 14,
    "contact_levels": marker("contact_levels"),
    "language": marker("language"),
    "needs_and_circumstances": marker("needs"),
}
TERMS = {
    "contact_methods": ["letter"],
    "single_point_of_contact": marker("single_point"),
    "contact_times": marker("contact_times"),
    "topics": marker("topics"),
    "other": marker("other_terms"),
}
ADJUSTMENTS = marker("reasonable_adjustments")
SUPPORT = {
    "vulnerabilities": [marker("vulnerability")],
    "advocate_name": marker("advocate_name"),
    "advocate_email": f"{marker('advocate_email').lower()}@example.org",
    "reasonable_adjustments": marker("support_adjustments"),
}
GROUNDS = marker("grounds")
MARKERS = [
    NAME,
    EMAIL,
    ADDRESS,
    DESCRIPTION,
    REPORTER,
    COLLEAGUE,
    REASON,
    CUSTOMER_REASON,
    *(str(v) for k, v in FACTORS.items() if k != "instances"),
    *(str(v) for k, v in TERMS.items() if k != "contact_methods"),
    ADJUSTMENTS,
    SUPPORT["vulnerabilities"][0],
    str(SUPPORT["advocate_name"]),
    str(SUPPORT["advocate_email"]),
    str(SUPPORT["reasonable_adjustments"]),
    GROUNDS,
]
# The SMTP server standing in for the landlord's mail server (aiosmtpd, in this process for
# the tests; its own process under `make run`) logs the conversation it receives: it is not
# part of the system under test, and keeps every letter it receives anyway.
MAIL_SERVER_LOGGER = "mail.log"
FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != MAIL_SERVER_LOGGER:
            self.records.append(record)

    def texts(self) -> Iterator[str]:
        for record in self.records:
            yield FORMAT.format(record)  # message with its args, exception and stack text
            yield repr(record.args)
            yield repr({k: v for k, v in vars(record).items() if k not in {"msg", "args"}})


@pytest.fixture
def every_log_record() -> Iterator[Capture]:
    """Every logger at DEBUG, every record captured (also from loggers that do not
    propagate, such as uvicorn's); levels and handlers are restored afterwards."""
    capture = Capture()
    manager = logging.root.manager
    loggers = [logging.root] + [
        logger for logger in manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    for name in ("sqlalchemy", "sqlalchemy.engine", "aiosqlite", "uvicorn.error"):
        logger = logging.getLogger(name)
        levels.setdefault(logger, logger.level)
    for logger in levels:
        logger.setLevel(logging.DEBUG)
    receivers = [logging.root] + [logger for logger in levels if not logger.propagate]
    for logger in receivers:
        logger.addHandler(capture)
    try:
        yield capture
    finally:
        for logger in receivers:
            logger.removeHandler(capture)
        for logger, level in levels.items():
            logger.setLevel(level)


async def force_a_failing_write(settings: Settings) -> None:
    """A customer row whose address holds FORCE_DB_ERROR cannot be written (the database
    aborts the statement): the API's write fails with the statement in the error."""
    engine = make_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            for event in ("INSERT", "UPDATE"):
                await connection.execute(
                    text(
                        f"CREATE TRIGGER force_error_{event.lower()} BEFORE {event} ON customers "
                        f"WHEN NEW.postal_address LIKE '%{FORCE_DB_ERROR}%' "
                        "BEGIN SELECT RAISE(ABORT, 'forced by the test'); END"
                    )
                )
    finally:
        await engine.dispose()


async def _task(http: httpx.AsyncClient, ref: str, kind: str, headers: dict[str, str]) -> str:
    async def listed() -> str | None:
        page = await http.get(
            "/v1/tasks", params={"customer_ref": ref, "kind": kind}, headers=headers
        )
        items = page.json().get("items") or []
        return str(items[0]["task_id"]) if items else None

    return await eventually(listed, within=30)


async def _complete(
    http: httpx.AsyncClient, ref: str, kind: str, headers: dict[str, str], **decision: Any
) -> dict[str, Any]:
    task = await _task(http, ref, kind, headers)
    body = {"reason": f"{REASON} {kind}", "customer_reason": f"{CUSTOMER_REASON} {kind}"}
    done = await http.post(f"/v1/tasks/{task}/complete", json={**body, **decision}, headers=headers)
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


async def _incident(
    http: httpx.AsyncClient, ref: str, intake: dict[str, str], **extra: Any
) -> None:
    body = {
        "customer_ref": ref,
        "category": "unreasonable_persistence",
        "channel": "email",
        "occurred_at": "2026-11-20T10:00:00Z",
        "description": f"{DESCRIPTION} {uuid.uuid4().hex[:6]}",
        "reported_by": REPORTER,
        **extra,
    }
    answer = await http.post("/v1/incidents", json=body, headers=intake)
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize("profile", ["housing_solutions", "magna"])
async def test_no_marker_reaches_any_log_record(
    settings: Settings,
    every_log_record: Capture,
    api_url: str,
    worker: Worker,
    auth_for: AUTH,
    profile: str,
) -> None:
    settings.policy_profile = profile  # type: ignore[assignment]
    await force_a_failing_write(settings)
    ref = f"LOG-{uuid.uuid4().hex[:8]}"
    intake = auth_for("case_system", user="crm")
    officer = auth_for("officer", user="olu")
    manager = auth_for("manager", user="mo")
    head = auth_for("head_of_service", user="hana")
    director = auth_for("director", user="dee")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        customer = {"name": NAME, "email": EMAIL, "postal_address": ADDRESS}
        put = await http.put(f"/v1/customers/{ref}", json=customer, headers=intake)
        assert put.status_code == 200, put.text

        await _incident(http, ref, intake, affected_colleague=COLLEAGUE, source_reference="s-1")
        # The same case-system reference again: a unique constraint refuses the row.
        await _incident(http, ref, intake, source_reference="s-1")
        support = await http.post(f"/v1/cases/{ref}/support", json=SUPPORT, headers=officer)
        assert support.status_code == 200, support.text

        # A decision the policy refuses (the reasons are not echoed into any log either).
        task = await _task(http, ref, "initial_warning", officer)
        refused = await http.post(
            f"/v1/tasks/{task}/complete",
            json={"outcome": "issued", "reason": REASON, "customer_reason": CUSTOMER_REASON},
            headers=officer,
        )
        assert refused.status_code == 422  # no delivery method
        await _complete(http, ref, "initial_warning", officer, outcome="issued", method="letter")
        await _incident(http, ref, intake)
        await _complete(http, ref, "formal_warning", officer, outcome="issued")
        await _incident(http, ref, intake)
        await _incident(http, ref, intake)
        await _complete(
            http, ref, "behaviour_assessment", manager, outcome="unacceptable", factors=FACTORS
        )
        await _complete(
            http,
            ref,
            "protocol_authorisation",
            head,
            outcome="authorised",
            terms=TERMS,
            reasonable_adjustments=ADJUSTMENTS,
        )
        appeal = await http.post(
            f"/v1/cases/{ref}/appeals", json={"grounds": GROUNDS}, headers=intake
        )
        assert appeal.status_code == 201, appeal.text
        await _complete(http, ref, "appeal_decision", director, outcome="upheld")

        # A write the database refuses: logged with its statement and traceback.
        other = f"LOG-{uuid.uuid4().hex[:8]}"
        failing = {**customer, "postal_address": f"{ADDRESS} {FORCE_DB_ERROR}"}
        broken = await http.put(f"/v1/customers/{other}", json=failing, headers=intake)
        assert broken.status_code == 500

        case = await http.get(f"/v1/cases/{ref}", headers=head)
        assert case.status_code == 200, case.text
        assert DESCRIPTION in case.text  # the markers did reach the records

    texts = list(every_log_record.texts())
    assert any("forced by the test" in t for t in texts), "the failing write was not logged"
    assert any("sqlalchemy.engine" in t for t in texts), "SQLAlchemy logged no statement"
    leaks = sorted({m for m in MARKERS for t in texts if m in t})
    examples = [t[:400] for t in texts if any(m in t for m in leaks)][:5]
    assert not leaks, f"personal data in the logs: {leaks}\n" + "\n".join(examples)
