"""The inbox page: staff sign in, see the tasks their roles decide and record decisions.

Server-rendered (Jinja2, autoescaped), no JavaScript. The token sits in an HttpOnly,
SameSite=Lax cookie; every decision goes through ``api.casework.complete_task``, exactly
like ``POST /v1/tasks/{task_id}/complete``.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.access import break_glass_hint, case_access, note_case_read
from api.auth import (
    COOKIE,
    DECIDERS,
    csrf_matches,
    csrf_token,
    principal_from_request,
    refuse_revoked,
)
from api.casework import Problem, acting_role, complete_task
from api.decision_schemas import DecisionIn
from api.deps import TemporalGateway
from api.ratelimit import Action, Throttled, throttle_address, throttle_subject
from api.tokens import InvalidToken, Principal, read_token
from policy.decisions import TERMS_OUTCOMES
from policy.protocol import CONTACT_METHODS
from policy.tasks import OUTCOMES, TaskKind
from records.models import CustomerSupport, Task
from records.repository import Records
from settings import Settings

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def _when(moment: datetime) -> str:
    """A moment as people read it, in UTC: 5 Mar 2027, 14:30 UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


templates.env.filters["when"] = _when

router = APIRouter(prefix="/inbox", include_in_schema=False)

PAGE_SIZE = 50
SIGN_IN = "/inbox/sign-in"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}

KIND_LABELS = {
    TaskKind.INITIAL_WARNING: "Initial warning",
    TaskKind.FORMAL_WARNING: "Formal warning",
    TaskKind.BEHAVIOUR_ASSESSMENT: "Unacceptable behaviour assessment",
    TaskKind.PROTOCOL_AUTHORISATION: "Protocol authorisation",
    TaskKind.APPEAL_DECISION: "Appeal decision",
    TaskKind.PROTOCOL_REVIEW: "Protocol review",
    TaskKind.POLICE_REPORT: "Police report",
    TaskKind.TENANCY_ACTION: "Tenancy action",
    TaskKind.IMMEDIATE_ACTION: "Immediate action",
    TaskKind.LETTER_UNDELIVERABLE: "Letter could not be delivered",
}
CONTACT_LABELS = {
    "letter": "Letter",
    "email": "Email",
    "phone": "Telephone",
    "in_person": "In person",
    "third_party": "Through a third party or advocate",
    "online": "Online portal",
}
assert set(CONTACT_LABELS) == CONTACT_METHODS
METHOD_LABELS = {"letter": "By letter", "in_person": "In person", "phone": "By telephone"}
TERMS_KINDS = frozenset(TERMS_OUTCOMES)

# Form field names (also the keys errors are filed under) and how messages name them.
FIELD_LABELS = {
    "outcome": "Outcome",
    "method": "How the warning was given",
    "factors": "Assessment factors",
    "factors.instances": "Number of instances",
    "factors.contact_levels": "Levels of contact",
    "factors.language": "Language used",
    "factors.needs_and_circumstances": "The customer's needs and circumstances",
    "terms": "Protocol terms",
    "terms.contact_methods": "Contact methods",
    "terms.single_point_of_contact": "Single point of contact",
    "terms.contact_times": "Contact times",
    "terms.topics": "Topics dealt with",
    "customer_reason": "Reason for the customer",
    "reasonable_adjustments": "Reasonable adjustments",
    "review_days": "Review period",
    "reference": "Police reference",
    "reason": "Internal note (reason)",
}
_DECISION_TO_FORM = {"review_after_seconds": "review_days"}
_TEXT_FIELDS = (
    "outcome",
    "reason",
    "customer_reason",
    "method",
    "reference",
    "factors.instances",
    "factors.contact_levels",
    "factors.language",
    "factors.needs_and_circumstances",
    "terms.single_point_of_contact",
    "terms.contact_times",
    "terms.topics",
    "reasonable_adjustments",
    "review_days",
)


@dataclass
class DecisionForm:
    """What the user typed, and what is wrong with it, to re-render the form."""

    values: dict[str, str] = field(default_factory=dict)
    contact_methods: list[str] = field(default_factory=list)
    appointment_only: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add_error(self, key: str, message: str) -> None:
        """File ``message`` under its form field, or as a message for the whole form."""
        field_key = _DECISION_TO_FORM.get(key, key)
        if field_key not in FIELD_LABELS:
            self.general.append(message)
            return
        if message.startswith(f"{key}: "):
            message = message[len(key) + 2 :]
        self.errors.setdefault(field_key, []).append(message)

    @property
    def summary(self) -> list[tuple[str, str]]:
        """(anchor, message) pairs for the error summary, in the order of the form."""
        items = [
            (_field_id(k), f"{label}: {m}")
            for k, label in FIELD_LABELS.items()
            for m in self.errors.get(k, [])
        ]
        return [("decision", m) for m in self.general] + items


# helpers ---------------------------------------------------------------------------


def _field_id(name: str) -> str:
    return name.replace(".", "-").replace("_", "-")


def _render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    session = request.cookies.get(COOKIE)
    csrf = csrf_token(_settings(request).secret_key, session) if session else ""
    return templates.TemplateResponse(
        request,
        name,
        {"request": request, "csrf": csrf, **context},
        status_code=status_code,
        headers=HEADERS,
    )


def _message(
    request: Request, status_code: int, title: str, text: str, principal: Principal | None
) -> Response:
    return _render(
        request,
        "message.html",
        {"title": title, "text": text, "principal": principal},
        status_code=status_code,
    )


async def _signed_in(request: Request) -> Principal | None:
    """The principal from the cookie, or None when it is missing, forged, expired or
    revoked (signed out)."""
    try:
        principal = principal_from_request(request, None)
        await refuse_revoked(request, principal)
    except HTTPException:
        return None
    return principal


def _to_sign_in() -> Response:
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _not_a_decider(request: Request, principal: Principal) -> Response:
    return _message(
        request,
        403,
        "You cannot use the inbox",
        "The inbox is for officers, managers, heads of service and directors. "
        f"Your roles are: {principal.role_names.replace(',', ', ') or 'none'}.",
        principal,
    )


def _records(request: Request) -> Records:
    records: Records = request.app.state.records
    return records


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _kind_label(kind: str) -> str:
    try:
        return KIND_LABELS[TaskKind(kind)]
    except ValueError:
        return kind.replace("_", " ").capitalize()


def _has_support_needs(support: CustomerSupport | None) -> bool:
    """Whether anything is recorded that a decider must weigh."""
    return support is not None and bool(
        support.vulnerabilities
        or support.advocate_name
        or support.advocate_email
        or support.contact_via_advocate
        or support.reasonable_adjustments
        or support.referral_consent
        or support.mediation_offered
    )


def _task_row(task: Task, now: datetime, support: CustomerSupport | None = None) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "kind": _kind_label(task.kind),
        "customer_ref": task.customer_ref,
        "role": task.role,
        "due_at": task.due_at,
        "overdue": task.due_at < now,
        "escalated_to": task.escalated_to,
        "claimed_by": task.claimed_by,
        "support_needs": _has_support_needs(support),
    }


def _parse_decision(kind: TaskKind, data: FormData) -> tuple[DecisionIn | None, DecisionForm]:
    """The decision the form describes, or the form with its errors filed by field."""
    form = DecisionForm(
        values={name: str(data.get(name) or "") for name in _TEXT_FIELDS},
        contact_methods=[str(m) for m in data.getlist("terms.contact_methods")],
        appointment_only=data.get("terms.appointment_only") == "yes",
    )
    v = form.values
    outcome = v["outcome"].strip()
    payload: dict[str, Any] = {"outcome": outcome, "reason": v["reason"]}
    if v["customer_reason"].strip():
        payload["customer_reason"] = v["customer_reason"]
    if kind is TaskKind.INITIAL_WARNING and v["method"]:
        payload["method"] = v["method"]
    if kind is TaskKind.BEHAVIOUR_ASSESSMENT:
        payload["factors"] = {
            "instances": v["factors.instances"].strip(),
            "contact_levels": v["factors.contact_levels"],
            "language": v["factors.language"],
            "needs_and_circumstances": v["factors.needs_and_circumstances"],
        }
    if kind is TaskKind.POLICE_REPORT and v["reference"].strip():
        payload["reference"] = v["reference"]
    if kind in TERMS_KINDS:
        if outcome == TERMS_OUTCOMES[kind]:
            payload["terms"] = {
                "contact_methods": form.contact_methods,
                "single_point_of_contact": v["terms.single_point_of_contact"].strip() or None,
                "contact_times": v["terms.contact_times"].strip() or None,
                "topics": v["terms.topics"].strip() or None,
                "appointment_only": form.appointment_only,
            }
        if v["reasonable_adjustments"].strip():
            payload["reasonable_adjustments"] = v["reasonable_adjustments"]
        if v["review_days"].strip():
            try:
                days = float(v["review_days"])
            except ValueError:
                days = math.nan
            if not math.isfinite(days) or days <= 0:
                form.add_error("review_days", "enter the number of days, for example 182")
            else:
                payload["review_after_seconds"] = round(days * 86400)
    if not outcome:
        form.add_error("outcome", "choose an outcome")
        payload["outcome"] = "-"  # reported above; let the other fields be checked too
    try:
        decision = DecisionIn.model_validate(payload)
    except ValidationError as error:
        for problem in error.errors():
            form.add_error(".".join(str(p) for p in problem["loc"]), _friendly(problem))
        return None, form
    return (decision, form) if not form.errors and not form.general else (None, form)


def _friendly(problem: Any) -> str:
    kind = problem.get("type")
    if kind in ("missing", "string_too_short"):
        return "this cannot be empty"
    if kind == "too_short":
        return "choose at least one"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "enter a whole number"
    if kind == "literal_error":
        return "choose one of the options"
    return str(problem.get("msg", "is not valid"))


async def _task_page(
    request: Request,
    principal: Principal,
    task: Task,
    form: DecisionForm,
    status_code: int = 200,
) -> Response:
    """The case summary and the decision form for one task."""
    records = _records(request)
    case, incidents, letters, protocol, support = await asyncio.gather(
        records.latest_case(task.customer_ref),
        records.incidents(task.case_key),
        records.letters(task.case_key),
        records.protocol_in_force(task.customer_ref),
        records.get_support(task.customer_ref),
    )
    kind = TaskKind(task.kind)
    context_items = [
        (key.replace("_", " ").capitalize(), value)
        for key, value in task.context.items()
        if key != "incident_id" and value
    ]
    return _render(
        request,
        "task.html",
        {
            "principal": principal,
            "task": _task_row(task, datetime.now(UTC), support),
            "status": task.status,
            "kind": kind.value,
            "case": case,
            "incidents": incidents,
            "letters": letters,
            "protocol": protocol,
            "support": support if _has_support_needs(support) else None,
            "context_items": context_items,
            "outcomes": sorted(OUTCOMES[kind]),
            "terms_kind": kind in TERMS_KINDS,
            "terms_outcome": TERMS_OUTCOMES.get(kind),
            "contact_labels": CONTACT_LABELS,
            "method_labels": METHOD_LABELS,
            "form": form,
            "labels": FIELD_LABELS,
            "field_id": _field_id,
        },
        status_code=status_code,
    )


async def _load_task(request: Request, task_id: str) -> tuple[Principal, Task] | Response:
    """The signed-in decider and a task their roles may decide, or the page saying why not."""
    principal = await _signed_in(request)
    if principal is None:
        return _to_sign_in()
    if not principal.roles & DECIDERS:
        return _not_a_decider(request, principal)
    task = await _records(request).get_task(task_id)
    if task is None:
        return _message(request, 404, "Task not found", "There is no such task.", principal)
    try:
        acting_role(principal, task.role, task.escalated_to)
    except Problem as problem:
        return _message(
            request, problem.status, "You cannot decide this task", problem.message, principal
        )
    # Need to know: the page shows the case. An open task's deciding roles read it; once
    # decided, only the people involved (or who broke glass) do. The read is audited.
    request.state.principal = principal
    decision = await case_access(_records(request), principal, task.case_key)
    note_case_read(request, task.case_key, decision)
    if not decision.full:
        return _message(
            request,
            403,
            "You are not involved in this case",
            break_glass_hint(task.customer_ref),
            principal,
        )
    return principal, task


# routes ----------------------------------------------------------------------------


@router.get("/inbox.css", include_in_schema=False)
async def stylesheet() -> FileResponse:
    return FileResponse(
        TEMPLATES_DIR / "inbox.css",
        media_type="text/css",
        headers={"Cache-Control": "max-age=3600"},
    )


@router.get("/sign-in", include_in_schema=False)
async def sign_in_form(request: Request) -> Response:
    return _render(request, "sign_in.html", {"principal": await _signed_in(request), "error": None})


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    """Sign in with a pasted token. Attempts are rate limited per client address (before
    the form is read) and per the verified token's subject: ``429`` with ``Retry-After``."""
    throttled = await throttle_address(request, Action.SIGN_IN)
    if throttled is not None:
        return _too_many_sign_ins(request, throttled)
    token = str((await request.form()).get("token") or "").strip()
    try:
        principal = read_token(_settings(request).secret_key, token)
    except InvalidToken as error:
        message = "Paste a token" if not token else f"That token cannot be used: {error}"
        return _render(
            request, "sign_in.html", {"principal": None, "error": message}, status_code=400
        )
    throttled = await throttle_subject(request, Action.SIGN_IN, principal.user)
    if throttled is not None:
        return _too_many_sign_ins(request, throttled)
    response = RedirectResponse("/inbox", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )
    return response


def cookie_secure(request: Request) -> bool:
    """Whether the sign-in cookie is marked Secure: always in production, and whenever the
    request came over HTTPS (directly, or as a trusted proxy's X-Forwarded-Proto says)."""
    return _settings(request).environment == "production" or request.url.scheme == "https"


def _too_many_sign_ins(request: Request, throttled: Throttled) -> Response:
    message = f"Too many sign-in attempts. Try again in {throttled.retry_after} seconds."
    response = _render(
        request, "sign_in.html", {"principal": None, "error": message}, status_code=429
    )
    response.headers.update(throttled.headers())
    return response


@router.post("/sign-out", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    """Sign out: the cookie's token is revoked, not only forgotten by this browser."""
    try:
        principal = principal_from_request(request, None)
    except HTTPException:
        return _to_sign_in()
    await _records(request).revoke_token(principal.token_id, principal.user, datetime.now(UTC))
    return _to_sign_in()


@router.get("", include_in_schema=False)
async def inbox(request: Request, page: int = 1, done: str | None = None) -> Response:
    """The open tasks the signed-in user's roles may decide, oldest due first."""
    principal = await _signed_in(request)
    if principal is None:
        return _to_sign_in()
    if not principal.roles & DECIDERS:
        return _not_a_decider(request, principal)
    records = _records(request)
    page = max(1, min(page, 100_000))
    rows, total = await records.open_tasks_for(
        [r.value for r in principal.roles], limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    support = await records.support_for([t.customer_ref for t in rows])
    confirmation = None
    if done:
        decided = await records.get_task(done[:64])
        confirmation = "Your decision was recorded."
        if decided is not None:
            try:
                acting_role(principal, decided.role, decided.escalated_to)
                confirmation = (
                    f"Your decision on the {_kind_label(decided.kind).lower()} task for "
                    f"customer {decided.customer_ref} was recorded."
                )
            except Problem:
                pass
    now = datetime.now(UTC)
    return _render(
        request,
        "inbox.html",
        {
            "principal": principal,
            "tasks": [_task_row(t, now, support.get(t.customer_ref)) for t in rows],
            "total": total,
            "page": page,
            "pages": max(1, math.ceil(total / PAGE_SIZE)),
            "confirmation": confirmation,
        },
    )


@router.get("/tasks/{task_id}", include_in_schema=False)
async def task_page(request: Request, task_id: str) -> Response:
    loaded = await _load_task(request, task_id)
    if isinstance(loaded, Response):
        return loaded
    principal, task = loaded
    return await _task_page(request, principal, task, DecisionForm())


@router.post("/tasks/{task_id}", include_in_schema=False)
async def decide(request: Request, task_id: str) -> Response:
    loaded = await _load_task(request, task_id)
    if isinstance(loaded, Response):
        return loaded
    principal, task = loaded
    data = await request.form()
    sent = data.get("csrf")
    session = request.cookies.get(COOKIE)
    if not csrf_matches(
        _settings(request).secret_key, session, sent if isinstance(sent, str) else None
    ):
        return _message(
            request,
            403,
            "This form cannot be used",
            "It did not come from this inbox page, or you have signed in again since it was "
            "opened. Open the task again and record your decision there.",
            principal,
        )
    decision, form = _parse_decision(TaskKind(task.kind), data)
    if decision is None:
        return await _task_page(request, principal, task, form, status_code=422)
    gateway: TemporalGateway = request.app.state.temporal
    try:
        client = await gateway.client()
        await complete_task(
            task_id, decision, principal, _records(request), client, _settings(request)
        )
    except HTTPException as error:  # Temporal is not reachable
        form.add_error("", str(error.detail))
        return await _task_page(request, principal, task, form, status_code=error.status_code)
    except Problem as problem:
        form.add_error(problem.field or "", problem.message)
        current = await _records(request).get_task(task_id) or task
        return await _task_page(request, principal, current, form, status_code=problem.status)
    return RedirectResponse(f"/inbox?done={task_id}", status_code=303)
