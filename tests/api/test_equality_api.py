"""Equality and vulnerability monitoring (HS 7.1) over real HTTP: voluntary, checked
against the landlord's categories, read on a need to know and audited, shown on the
inbox's case page; and never in a letter, a contractor's view, the workflow's history or
search attributes, or a log record."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.worker import Worker

from records.repository import Records
from settings import Settings
from tests.support import eventually
from workflows.ids import case_workflow_id

AUTH = Callable[..., dict[str, str]]
# Distinctive answers: neither the values nor their labels may appear where they must not.
EQUALITY = {
    "ethnicity": "white_roma",
    "vulnerability": "substance_misuse",
    "age_band": "75_plus",
    "sex": "female",
}
MARKERS = [
    "white_roma",
    "White: Roma",
    "substance_misuse",
    "Drug or alcohol misuse",
    "75_plus",
    "75 or over",
    "female",
    "Female",
]


def new_ref() -> str:
    return f"EQ-{uuid.uuid4().hex[:10]}"


async def _intake(http: httpx.AsyncClient, ref: str, auth_for: AUTH) -> None:
    """A case reported by the case system; the officer olu is named as the reporter."""
    body = {
        "customer_ref": ref,
        "category": "unreasonable_persistence",
        "channel": "phone",
        "occurred_at": "2026-11-20T10:00:00Z",
        "description": "Ninth call today about the fence",
        "reported_by": "olu",
        "customer": {"name": "Pat Equal", "email": f"{ref.lower()}@example.org"},
    }
    answer = await http.post(
        "/v1/incidents", json=body, headers=auth_for("case_system", user="crm")
    )
    assert answer.status_code == 202, answer.text


async def _task(http: httpx.AsyncClient, ref: str, headers: dict[str, str]) -> str:
    async def listed() -> str | None:
        page = await http.get("/v1/tasks", params={"customer_ref": ref}, headers=headers)
        items = page.json()["items"]
        return str(items[0]["task_id"]) if items else None

    return await eventually(listed)


async def _warn(http: httpx.AsyncClient, ref: str, olu: dict[str, str], method: str) -> None:
    """olu issues the initial warning: then no task of the case is open, and staff not
    involved (kim) see only that it exists."""
    decision = {
        "outcome": "issued",
        "method": method,
        "reason": "Ninth call after advice",
        "customer_reason": "You called us nine times after our advice.",
    }
    task_id = await _task(http, ref, olu)
    done = await http.post(f"/v1/tasks/{task_id}/complete", json=decision, headers=olu)
    assert done.status_code == 200 and done.json()["open_tasks"] == [], done.text


async def _case_row(stack_records: Records, ref: str) -> str:
    async def recorded() -> str | None:
        case = await stack_records.latest_case(ref)
        return case.case_key if case else None

    return await eventually(recorded)


async def test_the_categories_are_the_landlords_with_prefer_not_to_say(
    api_url: str, auth_for: AUTH, settings: Settings
) -> None:
    settings.policy_profile = "magna"
    async with httpx.AsyncClient(base_url=api_url) as http:
        answer = await http.get("/v1/equality/categories", headers=auth_for("officer"))
        refused = await http.get("/v1/equality/categories", headers=auth_for("contractor"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["profile"] == "magna" and "never require" in body["voluntary"]
    names = [c["characteristic"] for c in body["characteristics"]]
    assert names == ["ethnicity", "disability", "vulnerability", "age_band", "sex"]
    for characteristic in body["characteristics"]:
        assert characteristic["choices"][-1] == {
            "value": "prefer_not_to_say",
            "label": "Prefer not to say",
        }
    ethnicity = body["characteristics"][0]["choices"]
    assert len(ethnicity) == 20 and ethnicity[0]["value"] == "asian_bangladeshi"
    assert refused.status_code == 403


async def test_recorded_checked_read_on_a_need_to_know_and_audited_without_values(
    api_url: str, worker: Worker, stack_records: Records, auth_for: AUTH
) -> None:
    ref = new_ref()
    olu, kim = auth_for("officer", user="olu"), auth_for("officer", user="kim")
    crm = auth_for("case_system", user="crm")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        unknown = await http.put(f"/v1/customers/{new_ref()}/equality", json={}, headers=olu)
        assert unknown.status_code == 404 and "register them" in unknown.text

        await _intake(http, ref, auth_for)
        case_key = await _case_row(stack_records, ref)
        await _warn(http, ref, olu, "phone")

        # An answer that is not one of the landlord's categories: 422 naming the
        # characteristic and the choices, never repeating what was typed.
        bad = await http.put(
            f"/v1/customers/{ref}/equality", json={"age_band": "Forty-ish"}, headers=olu
        )
        assert bad.status_code == 422, bad.text
        [error] = bad.json()["detail"]
        assert error["loc"] == ["body", "age_band"]
        assert "16_24" in error["msg"] and "prefer_not_to_say" in error["msg"]
        assert "Forty-ish" not in bad.text
        extra = await http.put(
            f"/v1/customers/{ref}/equality", json={"religion": "none"}, headers=olu
        )
        assert extra.status_code == 422

        # Recorded by someone not involved in the case (the case system, here): the answer
        # names the characteristics, never the values.
        put = await http.put(
            f"/v1/customers/{ref}/equality",
            json={**EQUALITY, "disability": "prefer_not_to_say"},
            headers=crm,
        )
        assert put.status_code == 200, put.text
        assert put.json() == {
            "customer_ref": ref,
            "recorded": ["ethnicity", "disability", "vulnerability", "age_band", "sex"],
        }

        # Need to know: olu reported the incident; kim is not involved.
        mine = await http.get(f"/v1/customers/{ref}/equality", headers=olu)
        assert mine.status_code == 200, mine.text
        read = mine.json()
        assert read["ethnicity"] == {"value": "white_roma", "label": "White: Roma"}
        assert read["disability"] == {"value": "prefer_not_to_say", "label": "Prefer not to say"}
        assert read["age_band"]["label"] == "75 or over" and read["recorded_by"] == "crm"
        refused = await http.get(f"/v1/customers/{ref}/equality", headers=kim)
        assert refused.status_code == 403
        assert f"POST /v1/cases/{ref}/access" in refused.json()["detail"]
        assert not any(marker in refused.text for marker in MARKERS)
        contractor = await http.get(
            f"/v1/customers/{ref}/equality", headers=auth_for("contractor", user="gas-co")
        )
        assert contractor.status_code == 403

        # A withdrawal: null; what is left out stays.
        withdrawn = await http.put(
            f"/v1/customers/{ref}/equality", json={"sex": None, "age_band": None}, headers=olu
        )
        assert withdrawn.json()["recorded"] == ["ethnicity", "disability", "vulnerability"]
        after = (await http.get(f"/v1/customers/{ref}/equality", headers=olu)).json()
        assert after["sex"] == {"value": None, "label": "Not recorded"}
        assert after["ethnicity"]["value"] == "white_roma" and after["recorded_by"] == "olu"

    # Reads are on the case's trail with the basis of the access (refusals too); changes
    # name the characteristics changed, never their values.
    trail = await stack_records.audit_trail(case_key)
    reads = [r for r in trail if r.action == "GET /v1/customers/{customer_ref}/equality"]
    assert [(r.actor, r.details["basis"], r.details["status"]) for r in reads] == [
        ("olu", "involved", 200),
        ("kim", "not_involved", 403),
        ("olu", "involved", 200),
    ]
    changes, _ = await stack_records.audit_events(actor="olu", limit=50)
    puts = [r for r in changes if r.action == "PUT /v1/customers/{customer_ref}/equality"]
    # The refusals (404, 422 twice) are audited by the API; the change by its own row.
    assert sorted(str(r.details["status"]) for r in puts) == ["200", "404", "422", "422"]
    [change] = [r for r in puts if "equality_changed" in r.details]
    assert change.details["equality_changed"] == ["age_band", "sex"]
    assert change.role == "officer" and change.details["status"] == 200
    everything = json.dumps([[r.details, r.reason] for r in (*trail, *changes)], default=str)
    assert not [marker for marker in MARKERS if marker in everything]


async def test_recorded_with_the_support_details_in_the_records_only(
    api_url: str, worker: Worker, client: Client, stack_records: Records, auth_for: AUTH
) -> None:
    ref = new_ref()
    olu = auth_for("officer", user="olu")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        await _intake(http, ref, auth_for)
        await _case_row(stack_records, ref)
        support = {"vulnerabilities": ["Hearing loss"], "reasonable_adjustments": "Large print"}

        # A bad equality answer refuses the whole call before anything is recorded.
        bad = await http.post(
            f"/v1/cases/{ref}/support",
            json={**support, "equality": {"sex": "F"}},
            headers=olu,
        )
        assert bad.status_code == 422, bad.text
        assert bad.json()["detail"][0]["loc"] == ["body", "equality.sex"]
        assert await stack_records.get_support(ref) is None

        recorded = await http.post(
            f"/v1/cases/{ref}/support", json={**support, "equality": EQUALITY}, headers=olu
        )
        assert recorded.status_code == 200, recorded.text
        assert not [m for m in MARKERS if m in recorded.text]
        kept = await stack_records.get_support(ref)
        assert kept is not None and kept.vulnerabilities == ["Hearing loss"]
        read = (await http.get(f"/v1/customers/{ref}/equality", headers=olu)).json()
        assert {name: read[name]["value"] for name in EQUALITY} == EQUALITY

    # The support update the workflow received carried no equality answer: its history,
    # every payload decoded, holds none of them.
    assert not await _in_history(client, ref)
    rows, _ = await stack_records.audit_events(actor="olu", limit=50)
    [row] = [r for r in rows if r.details.get("equality_changed")]
    assert row.action == "POST /v1/cases/{customer_ref}/support"
    assert row.details["equality_changed"] == list(EQUALITY)


async def _in_history(client: Client, ref: str) -> list[str]:
    """The markers found in the case workflow's history (every run), its payloads decoded
    with the deployment's codec, and its search attributes and memo."""
    handle = client.get_workflow_handle(case_workflow_id(ref))
    history = await handle.fetch_history()
    document = history.to_json_dict()
    texts = [json.dumps(document)]
    codec = client.data_converter.payload_codec
    assert codec is not None

    def payloads(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if "data" in node and "metadata" in node:
                yield node
            for value in node.values():
                yield from payloads(value)
        elif isinstance(node, list):
            for value in node:
                yield from payloads(value)

    found = list(payloads(document))
    assert found, "the history holds no payloads"
    for raw in found:
        payload = json_format.ParseDict(raw, Payload())
        [decoded] = await codec.decode([payload])
        texts.append(decoded.data.decode("utf-8", "replace"))
    description = await handle.describe()
    texts.append(repr(description.search_attributes))
    texts.append(repr(description.typed_search_attributes))
    texts.append(repr(await description.memo()))
    # The decoding did reveal the payloads: the support details are in them.
    assert any("Hearing loss" in text for text in texts)
    return sorted({marker for marker in MARKERS for text in texts if marker in text})


class Capture(logging.Handler):
    """Every log record, formatted with its arguments and extra fields."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(logging.Formatter("%(name)s %(message)s").format(record))
        self.texts.append(repr(record.args))
        self.texts.append(repr({k: v for k, v in vars(record).items() if k != "args"}))


@pytest.fixture
def every_log_record() -> Iterator[Capture]:
    """Every logger at DEBUG (SQLAlchemy's statements and rows too), every record kept."""
    capture = Capture()
    loggers = [logging.root] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for name in ("sqlalchemy", "sqlalchemy.engine", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if logger not in loggers:
            loggers.append(logger)
    levels = {logger: logger.level for logger in loggers}
    receivers = [logging.root] + [logger for logger in loggers if not logger.propagate]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    for logger in receivers:
        logger.addHandler(capture)
    try:
        yield capture
    finally:
        for logger in receivers:
            logger.removeHandler(capture)
        for logger, level in levels.items():
            logger.setLevel(level)


async def test_never_in_letters_the_contractors_view_the_workflow_or_the_logs(
    api_url: str,
    worker: Worker,
    client: Client,
    stack_records: Records,
    auth_for: AUTH,
    token_for: Callable[..., str],
    every_log_record: Capture,
) -> None:
    ref = new_ref()
    olu = auth_for("officer", user="olu")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        await _intake(http, ref, auth_for)
        case_key = await _case_row(stack_records, ref)
        put = await http.put(f"/v1/customers/{ref}/equality", json=EQUALITY, headers=olu)
        assert put.status_code == 200, put.text
        support = {"vulnerabilities": ["Hearing loss"], "equality": {"disability": "yes"}}
        assert (
            await http.post(f"/v1/cases/{ref}/support", json=support, headers=olu)
        ).status_code == 200

        # A letter rendered and sent after the answers were recorded.
        await _warn(http, ref, olu, "letter")

        async def letters() -> list[Any] | None:
            rows = list(await stack_records.letters(case_key))
            return rows if rows and all(r.body_text for r in rows) else None

        sent = await eventually(letters)
        bodies = [f"{r.body_html}\n{r.body_text}\n{r.recipient}" for r in sent]
        assert any("nine times" in body for body in bodies)
        assert not [m for m in MARKERS for body in bodies if m in body]
        listed = await http.get(f"/v1/cases/{ref}/letters", headers=olu)
        assert listed.status_code == 200 and not [m for m in MARKERS if m in listed.text]

        # The contractor's view of the arrangements (and the case view) carries none.
        arrangements = await http.get(
            f"/v1/customers/{ref}/arrangements", headers=auth_for("contractor", user="gas-co")
        )
        assert arrangements.status_code == 200, arrangements.text
        assert not [m for m in MARKERS if m in arrangements.text]
        case = await http.get(f"/v1/cases/{ref}", headers=olu)
        assert case.status_code == 200 and not [m for m in MARKERS if m in case.text]

        # Read back (API and inbox), so that the reads' logging is covered too.
        assert (await http.get(f"/v1/customers/{ref}/equality", headers=olu)).status_code == 200
    cookies = {"ucb_token": token_for("officer", user="olu")}
    async with httpx.AsyncClient(base_url=api_url, cookies=cookies, timeout=30) as inbox:
        page = await inbox.get("/inbox/cases", params={"ref": ref})
        assert "White: Roma" in page.text

    assert not await _in_history(client, ref)
    texts = every_log_record.texts
    assert any("sqlalchemy.engine" in text for text in texts), "SQLAlchemy logged nothing"
    leaks = sorted({m for m in MARKERS for text in texts if m in text})
    examples = [t[:300] for t in texts if any(m in t for m in leaks)][:3]
    assert not leaks, f"equality answers in the logs: {leaks}\n" + "\n".join(examples)


async def test_the_inbox_case_page_shows_and_records_equality_for_staff_who_may_read_it(
    api_url: str, worker: Worker, stack_records: Records, auth_for: AUTH, token_for: Any
) -> None:
    ref = new_ref()
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        await _intake(http, ref, auth_for)
        await _case_row(stack_records, ref)
        await _warn(http, ref, auth_for("officer", user="olu"), "phone")
        put = await http.put(
            f"/v1/customers/{ref}/equality",
            json={"ethnicity": "white_roma"},
            headers=auth_for("officer", user="olu"),
        )
        assert put.status_code == 200, put.text

    olu = {"ucb_token": token_for("officer", user="olu")}
    async with httpx.AsyncClient(base_url=api_url, cookies=olu, timeout=30) as inbox:
        page = await inbox.get("/inbox/cases", params={"ref": ref})
        assert page.status_code == 200
        assert "Equality monitoring (voluntary)" in page.text
        assert "<dt>Ethnicity</dt><dd>White: Roma</dd>" in page.text
        assert "<dt>Sex</dt><dd>Not recorded</dd>" in page.text
        assert '<option value="white_roma" selected>' in page.text
        match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert match
        form = {
            "csrf": match[1],
            "ethnicity": "white_roma",
            "age_band": "75_plus",
            "sex": "prefer_not_to_say",
        }
        action = f"/inbox/cases/{ref}/equality"

        forged = await inbox.post(action, data={**form, "csrf": "0" * 64})
        assert forged.status_code == 403
        bad = await inbox.post(action, data={**form, "sex": "Woman"})
        assert bad.status_code == 422 and "sex: not one of" in bad.text
        assert "Woman" not in bad.text

        saved = await inbox.post(action, data=form)
        assert saved.status_code == 303, saved.text
        shown = await inbox.get(saved.headers["location"])
        assert "Equality monitoring saved" in shown.text
        assert "<dt>Age band</dt><dd>75 or over</dd>" in shown.text
        assert "<dt>Sex</dt><dd>Prefer not to say</dd>" in shown.text
        # Left at "Not recorded" in the form: withdrawn.
        assert "<dt>Disability</dt><dd>Not recorded</dd>" in shown.text

    recorded = await stack_records.get_equality(ref)
    assert recorded is not None and recorded.recorded_by == "olu"
    assert (recorded.ethnicity, recorded.age_band, recorded.sex, recorded.disability) == (
        "white_roma",
        "75_plus",
        "prefer_not_to_say",
        None,
    )
    rows, _ = await stack_records.audit_events(actor="olu", limit=50)
    assert any(
        r.action == "POST /inbox/cases/{customer_ref}/equality"
        and r.details["equality_changed"] == ["age_band", "sex"]
        for r in rows
    )

    # Staff not involved see only that the case exists: no equality data, no form.
    kim = {"ucb_token": token_for("officer", user="kim")}
    async with httpx.AsyncClient(base_url=api_url, cookies=kim, timeout=30) as inbox:
        page = await inbox.get("/inbox/cases", params={"ref": ref})
        assert "Equality monitoring" not in page.text and "White: Roma" not in page.text
        match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert match
        refused = await inbox.post(
            f"/inbox/cases/{ref}/equality", data={"csrf": match[1], "ethnicity": "white_irish"}
        )
        assert refused.status_code == 403 and "White: Roma" not in refused.text
    unchanged = await stack_records.get_equality(ref)
    assert unchanged is not None and unchanged.ethnicity == "white_roma"
