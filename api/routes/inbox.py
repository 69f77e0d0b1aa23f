"""The inbox page: staff sign in, see the tasks their roles decide and record decisions.

Server-rendered (Jinja2, autoescaped), no JavaScript. The token sits in an HttpOnly,
SameSite=Lax cookie; every decision goes through ``api.casework.complete_task``, exactly
like ``POST /v1/tasks/{task_id}/complete``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.access import (
    MAX_REASON_CHARS,
    MIN_REASON_CHARS,
    BreakGlassIn,
    break_glass_hint,
    case_access,
    grant_break_glass,
    note_case_read,
)
from api.auth import (
    COOKIE,
    DECIDERS,
    csrf_matches,
    csrf_token,
    principal_from_request,
    refuse_revoked,
)
from api.casework import Problem, acting_role, claim_task, complete_task, release_task
from api.decision_schemas import DecisionIn
from api.deps import audit_call, records_of, settings_of, temporal_of
from api.integrator import CASE_VIEW_LATEST
from api.ratelimit import Action, Throttled, throttle_address, throttle_subject
from policy.decisions import TERMS_OUTCOMES
from policy.equality import (
    CHARACTERISTIC_LABELS,
    EqualityValueError,
    choices,
    label_for,
    validate_equality,
)
from policy.protocol import CONTACT_METHODS
from policy.reporting import EQUALITY_CHARACTERISTICS
from policy.tasks import OUTCOMES, TaskKind, release_allowed
from records.models import Case, CustomerEquality, CustomerSupport, Task
from tokens import InvalidToken, Principal, read_token
from workflows.ids import CUSTOMER_REF_PATTERN

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


log = logging.getLogger(__name__)


def _local_zone() -> tzinfo:
    """The landlords' zone, Europe/London, from the system's zoneinfo (Debian's tzdata)
    or the ``tzdata`` package; without either, UTC, said so in the log and on the page."""
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:
        log.warning("no zoneinfo for Europe/London (install tzdata): inbox times are in UTC")
        return UTC


LOCAL_ZONE = _local_zone()


def _when(moment: datetime) -> str:
    """A moment as people in England read it, the zone named: 5 Mar 2027, 14:30 GMT
    (BST in summer). A moment without a zone is taken as UTC, as the records keep it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(LOCAL_ZONE)
    return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"


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
    csrf = csrf_token(settings_of(request).secret_key, session) if session else ""
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


def _kind_label(kind: str) -> str:
    try:
        return KIND_LABELS[TaskKind(kind)]
    except (ValueError, KeyError):  # a kind without a label of its own yet
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
    records = records_of(request)
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
    role = acting_role(principal, task.role, task.escalated_to)
    notice = None
    if request.query_params.get("claimed"):
        notice = "You have claimed this task: colleagues see you are dealing with it."
    elif request.query_params.get("released"):
        notice = "You have released this task: it is back with the team."
    return _render(
        request,
        "task.html",
        {
            "principal": principal,
            "notice": notice,
            "claimed_by_me": task.claimed_by is not None
            and task.claimed_by.casefold() == principal.user.casefold(),
            "may_release": task.claimed_by is not None
            and release_allowed(
                claimed_by=task.claimed_by,
                user=principal.user,
                acting_role=role,
                task_role=task.role,
            ),
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
    task = await records_of(request).get_task(task_id)
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
    decision = await case_access(records_of(request), principal, task.case_key)
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
        principal = read_token(settings_of(request).secret_key, token)
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
    return settings_of(request).environment == "production" or request.url.scheme == "https"


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
    await records_of(request).revoke_token(principal.token_id, principal.user, datetime.now(UTC))
    return _to_sign_in()


KIND_CHOICES = [(k.value, _kind_label(k.value)) for k in TaskKind]
_REF = re.compile(CUSTOMER_REF_PATTERN)


def _due_before(text: str) -> datetime | None:
    """The start of a date (YYYY-MM-DD, as a date field sends it) in England, as UTC."""
    day = date.fromisoformat(text)
    return datetime.combine(day, time(), tzinfo=LOCAL_ZONE).astimezone(UTC)


@router.get("", include_in_schema=False)
async def inbox(
    request: Request,
    page: int = 1,
    done: str | None = None,
    kind: str = "",
    due_before: str = "",
) -> Response:
    """The open tasks the signed-in user's roles may decide, oldest due first; of one
    kind, and due before a date, when the filters say so."""
    principal = await _signed_in(request)
    if principal is None:
        return _to_sign_in()
    if not principal.roles & DECIDERS:
        return _not_a_decider(request, principal)
    records = records_of(request)
    page = max(1, min(page, 100_000))
    filter_errors: dict[str, str] = {}
    kind = kind.strip()
    if kind and kind not in {k for k, _ in KIND_CHOICES}:
        filter_errors["kind"] = "Choose a kind of task from the list"
    due_before = due_before.strip()[:10]
    before = None
    if due_before:
        try:
            before = _due_before(due_before)
        except ValueError:
            filter_errors["due-before"] = "Enter a date, for example 2026-11-21"
    rows, total = await records.inbox_tasks(
        [r.value for r in principal.roles],
        kind=kind if kind and "kind" not in filter_errors else None,
        due_before=before,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
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
    filters = {k: v for k, v in (("kind", kind), ("due_before", due_before)) if v}
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
            "kinds": KIND_CHOICES,
            "kind": kind,
            "due_before": due_before,
            "filtered": bool(filters),
            "filter_query": "".join(f"&{k}={quote(v)}" for k, v in filters.items()),
            "filter_errors": filter_errors,
        },
        status_code=400 if filter_errors else 200,
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
        settings_of(request).secret_key, session, sent if isinstance(sent, str) else None
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
    try:
        client = await temporal_of(request)
        await complete_task(
            task_id, decision, principal, records_of(request), client, settings_of(request)
        )
    except HTTPException as error:  # Temporal is not reachable
        form.add_error("", str(error.detail))
        return await _task_page(request, principal, task, form, status_code=error.status_code)
    except Problem as problem:
        form.add_error(problem.field or "", problem.message)
        current = await records_of(request).get_task(task_id) or task
        return await _task_page(request, principal, current, form, status_code=problem.status)
    return RedirectResponse(f"/inbox?done={task_id}", status_code=303)


# claim and release -------------------------------------------------------------------


def _csrf_ok(request: Request, data: FormData) -> bool:
    sent = data.get("csrf")
    return csrf_matches(
        settings_of(request).secret_key,
        request.cookies.get(COOKIE),
        sent if isinstance(sent, str) else None,
    )


def _form_refused(request: Request, principal: Principal) -> Response:
    return _message(
        request,
        403,
        "This form cannot be used",
        "It did not come from this inbox page, or you have signed in again since it was "
        "opened. Open the page again and use the form there.",
        principal,
    )


async def _audit_inbox_change(
    request: Request, principal: Principal, action: str, status_code: int, case_key: str
) -> None:
    """Audit an inbox form that changed something, as the API's own calls are audited."""
    await records_of(request).record_api_call(
        audit_call(
            principal,
            action,
            status_code,
            request.url.path,
            datetime.now(UTC),
            case_key=case_key,
        )
    )


async def _claim_or_release(request: Request, task_id: str, claim: bool) -> Response:
    loaded = await _load_task(request, task_id)
    if isinstance(loaded, Response):
        return loaded
    principal, task = loaded
    if not _csrf_ok(request, await request.form()):
        return _form_refused(request, principal)
    records = records_of(request)
    verb = "claim" if claim else "release"
    try:
        if claim:
            await claim_task(task_id, principal, records, settings_of(request))
        else:
            await release_task(task_id, principal, records)
    except Problem as problem:
        await _audit_inbox_change(
            request,
            principal,
            f"POST /inbox/tasks/{{task_id}}/{verb}",
            problem.status,
            task.case_key,
        )
        form = DecisionForm()
        form.add_error("", problem.message)
        current = await records.get_task(task_id) or task
        return await _task_page(request, principal, current, form, status_code=problem.status)
    await _audit_inbox_change(
        request, principal, f"POST /inbox/tasks/{{task_id}}/{verb}", 200, task.case_key
    )
    return RedirectResponse(
        f"/inbox/tasks/{quote(task_id, safe='')}?{'claimed' if claim else 'released'}=1",
        status_code=303,
    )


@router.post("/tasks/{task_id}/claim", include_in_schema=False)
async def claim(request: Request, task_id: str) -> Response:
    """Claim the task, with the rules of ``POST /v1/tasks/{task_id}/claim``."""
    return await _claim_or_release(request, task_id, claim=True)


@router.post("/tasks/{task_id}/release", include_in_schema=False)
async def release(request: Request, task_id: str) -> Response:
    """Release the claim, with the rules of ``POST /v1/tasks/{task_id}/release``."""
    return await _claim_or_release(request, task_id, claim=False)


# find a case ---------------------------------------------------------------------------


async def _case_page(
    request: Request,
    principal: Principal,
    case: Case,
    *,
    reason: str = "",
    reason_error: str | None = None,
    equality_error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The case as the signed-in person may see it: in full (with its equality monitoring
    and the form to record it), or only that it exists (with the break-glass form). The
    read is audited with the basis of the access."""
    records = records_of(request)
    request.state.principal = principal
    decision = await case_access(records, principal, case.case_key)
    note_case_read(request, case.case_key, decision)
    context: dict[str, Any] = {
        "principal": principal,
        "case": case,
        "ref": case.customer_ref,
        "full": decision.full,
        "decision": decision,
        "reason": reason,
        "reason_error": reason_error,
        "min_reason": MIN_REASON_CHARS,
        "max_reason": MAX_REASON_CHARS,
    }
    if decision.full:
        incidents, letters, tasks, counts, equality = await asyncio.gather(
            records.latest_incidents(case.case_key, CASE_VIEW_LATEST),
            records.latest_letters(case.case_key, CASE_VIEW_LATEST),
            records.open_tasks_of_case(case.case_key),
            records.case_counts(case.case_key),
            records.get_equality(case.customer_ref),
        )
        incident_count, letter_count = counts
        now = datetime.now(UTC)
        rows = []
        for t in tasks:
            row = _task_row(t, now)
            try:
                acting_role(principal, t.role, t.escalated_to)
                row["yours"] = True
            except Problem:
                row["yours"] = False
            rows.append(row)
        context.update(
            incidents=incidents,
            letters=letters,
            tasks=rows,
            incident_count=incident_count,
            letter_count=letter_count,
            equality=_equality_rows(settings_of(request).policy_profile, equality),
            equality_row=equality,
            equality_error=equality_error,
        )
    return _render(request, "case.html", context, status_code=status_code)


def _equality_rows(profile: str, row: CustomerEquality | None) -> list[dict[str, Any]]:
    """Each equality characteristic as the case page shows it and its form offers it."""
    return [
        {
            "name": name,
            "label": CHARACTERISTIC_LABELS[name],
            "value": getattr(row, name, None),
            "value_label": label_for(profile, name, getattr(row, name, None)),
            "choices": choices(profile, name),
        }
        for name in EQUALITY_CHARACTERISTICS
    ]


def _search_page(
    request: Request, principal: Principal, ref: str, error: str | None, status_code: int
) -> Response:
    return _render(
        request,
        "case.html",
        {"principal": principal, "case": None, "ref": ref, "search_error": error},
        status_code=status_code,
    )


@router.get("/cases", include_in_schema=False)
async def find_case(request: Request, ref: str = "") -> Response:
    """Find a case by customer reference: in full for those who need to know, otherwise
    only that it exists, with the break-glass form."""
    principal = await _signed_in(request)
    if principal is None:
        return _to_sign_in()
    if not principal.roles & DECIDERS:
        return _not_a_decider(request, principal)
    ref = ref.strip()
    if not ref:
        request.state.audited = True  # nothing was read
        return _search_page(request, principal, "", "Enter a customer reference", 400)
    if not _REF.fullmatch(ref):
        request.state.audited = True
        return _search_page(
            request,
            principal,
            ref[:64],
            "Enter a customer reference: letters, digits, '-' and '_' (up to 64)",
            400,
        )
    request.state.principal = principal
    case = await records_of(request).latest_case(ref)
    if case is None:
        return _search_page(request, principal, ref, f"There is no case for customer {ref}", 404)
    return await _case_page(request, principal, case)


async def _case_form(
    request: Request, customer_ref: str
) -> tuple[Principal, FormData, Case] | Response:
    """A form posted from a case page: the signed-in decider, the form (its CSRF token
    checked) and the case; or the page that refuses (sign-in, 403, 404)."""
    principal = await _signed_in(request)
    if principal is None:
        return _to_sign_in()
    if not principal.roles & DECIDERS:
        return _not_a_decider(request, principal)
    data = await request.form()
    if not _csrf_ok(request, data):
        return _form_refused(request, principal)
    case = (
        await records_of(request).latest_case(customer_ref)
        if _REF.fullmatch(customer_ref)
        else None
    )
    if case is None:
        return _message(
            request, 404, "Case not found", "There is no case for that reference.", principal
        )
    return principal, data, case


@router.post("/cases/{customer_ref}/access", include_in_schema=False)
async def break_glass(request: Request, customer_ref: str) -> Response:
    """Break glass from the inbox: the reason is recorded as ``POST /v1/cases/{ref}/access``
    records it (``api.access.grant_break_glass``), then the case is shown."""
    posted = await _case_form(request, customer_ref)
    if isinstance(posted, Response):
        return posted
    principal, data, case = posted
    reason = str(data.get("reason") or "")
    try:
        body = BreakGlassIn.model_validate({"reason": reason})
    except ValidationError as error:
        message = error.errors()[0]["msg"].removeprefix("Value error, ")
        return await _case_page(
            request,
            principal,
            case,
            reason=reason[:2000],
            reason_error=message,
            status_code=422,
        )
    await grant_break_glass(
        records_of(request),
        principal,
        case,
        body.reason,
        settings_of(request).break_glass_seconds,
        action="POST /inbox/cases/{customer_ref}/access",
        path=f"/inbox/cases/{customer_ref}/access",
    )
    return RedirectResponse(f"/inbox/cases?ref={quote(customer_ref)}", status_code=303)


@router.post("/cases/{customer_ref}/equality", include_in_schema=False)
async def record_equality(request: Request, customer_ref: str) -> Response:
    """Record equality monitoring from the case page (HS 7.1, voluntary), with the checks
    and the audit row of ``PUT /v1/customers/{ref}/equality``; for those who may read the
    case. Each characteristic left at "Not recorded" is withdrawn."""
    posted = await _case_form(request, customer_ref)
    if isinstance(posted, Response):
        return posted
    principal, data, case = posted
    records = records_of(request)
    if not (await case_access(records, principal, case.case_key)).full:
        return await _case_page(request, principal, case, status_code=403)
    given = {name: str(data.get(name) or "") or None for name in EQUALITY_CHARACTERISTICS}
    try:
        values = validate_equality(settings_of(request).policy_profile, given)
    except EqualityValueError as error:
        return await _case_page(
            request, principal, case, equality_error=str(error), status_code=422
        )
    action = "POST /inbox/cases/{customer_ref}/equality"
    await records.record_equality(
        customer_ref,
        values,
        audit_call(principal, action, 200, request.url.path, datetime.now(UTC)),
    )
    return RedirectResponse(
        f"/inbox/cases?ref={quote(customer_ref)}&equality=saved#equality-heading",
        status_code=303,
    )


# letters -------------------------------------------------------------------------------


@router.get("/letters/{letter_id:path}", include_in_schema=False)
async def letter_page(request: Request, letter_id: str) -> Response:
    """A letter as it was rendered and sent (need to know, as its case; the read is
    audited). Its HTML is shown in a sandboxed frame: no scripts, no requests, no forms."""
    principal = await _signed_in(request)
    if principal is None:
        return _to_sign_in()
    if not principal.roles & DECIDERS:
        return _not_a_decider(request, principal)
    records = records_of(request)
    request.state.principal = principal
    letter = await records.get_letter(letter_id)
    case = await records.get_case(letter.case_key) if letter is not None else None
    if letter is None or case is None:
        return _message(request, 404, "Letter not found", "There is no such letter.", principal)
    decision = await case_access(records, principal, case.case_key)
    note_case_read(request, case.case_key, decision)
    if not decision.full:
        return _render(
            request,
            "message.html",
            {
                "principal": principal,
                "title": "You are not involved in this case",
                "text": "Only that the case exists is shown to you. To read its letters, "
                "find the case and record why you need to open it.",
                "link": (f"/inbox/cases?ref={quote(case.customer_ref)}", "Find the case"),
            },
            status_code=403,
        )
    return _render(request, "letter.html", {"principal": principal, "letter": letter, "case": case})
