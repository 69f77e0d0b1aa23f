"""A small typed async client for the ucb-cases HTTP API, for case systems and operators.

Use it as an async context manager::

    async with UcbClient("http://127.0.0.1:8000", token) as ucb:
        accepted = await ucb.report_incident(
            "CUST-0001", "verbal_abuse", "email", datetime.now(UTC),
            "Email calling the officer useless", "officer-17", source_reference="CRM-991",
        )
        case = await ucb.get_case("CUST-0001")

Every method answers with the API's JSON, typed with the ``TypedDict`` s below (times stay
ISO 8601 strings). Any answer other than 2xx raises :class:`UcbApiError` with the HTTP
status, a readable message taken from FastAPI's ``detail`` and, for a 422, the field at
fault; a connection failure raises it with status ``0``.

Retries: the client never retries on its own (a resent request could be applied twice).
What is safe to resend after a failure or a timeout:

- ``report_incident`` *with* ``source_reference``: the incident id is derived from it, so a
  resend reaches the case once. Without it every call is a new incident.
- ``log_appeal`` *with* ``source_reference``: likewise.
- ``complete_task``: the decision is applied at most once (the task id is the update id);
  a resend after it was applied answers 409 (already decided).
- ``register_customer``, ``claim_task`` (by the same user) and every read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any, Literal, NotRequired, Self, TypedDict, cast
from urllib.parse import quote

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


class UcbApiError(Exception):
    """The API refused a call (``status`` is the HTTP status) or could not be reached (0)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status else self.message

    def __repr__(self) -> str:
        return f"UcbApiError({self.status!r}, {self.message!r}, {self.field!r})"


# Request bodies --------------------------------------------------------------------------


class CustomerDetails(TypedDict, total=False):
    """Contact details a letter needs (kept in the records, never in workflow history)."""

    name: str
    email: str
    postal_address: str


class Decision(TypedDict, total=False):
    """A decision on a task; which fields are needed depends on the task's kind."""

    outcome: str
    reason: str
    method: Literal["letter", "in_person", "phone"]
    terms: dict[str, Any]
    review_after_seconds: int
    reference: str
    factors: dict[str, Any]
    reasonable_adjustments: str


# Responses -------------------------------------------------------------------------------


class IncidentAccepted(TypedDict):
    incident_id: str
    case_id: str
    status: Literal["accepted", "already_received"]


class CustomerRegistered(TypedDict):
    customer_ref: str
    has_name: bool
    has_email: bool
    has_postal_address: bool


class Incident(TypedDict):
    incident_id: str
    category: str
    channel: str
    occurred_at: str
    reported_by: str
    description: str


class LetterSummary(TypedDict):
    letter_id: str
    kind: str
    delivery: str
    status: str
    sent_at: str | None


class HistoryEntry(TypedDict):
    actor: str
    role: str
    action: str
    reason: str | None
    at: str


class Task(TypedDict):
    task_id: str
    kind: str
    role: str
    customer_ref: str
    case_id: str
    created_at: str
    due_at: str
    escalated_to: str | None
    claimed_by: str | None
    context: dict[str, str]


class TaskPage(TypedDict):
    items: list[Task]
    total: int
    limit: int
    offset: int
    # The cursor of the next page (``list_tasks(cursor=...)``); None on the last page.
    next: NotRequired[str | None]


class Case(TypedDict):
    """A customer's current case, from the records and the live workflow."""

    case_id: str
    case_key: str
    episode: int
    profile: str
    stage: str
    risk_flag: bool
    opened_at: str
    next_review_at: str | None
    closed_at: str | None
    incidents: list[Incident]
    letters: list[LetterSummary]
    open_tasks: list[Task]
    history: list[HistoryEntry]
    workflow_status: str | None
    malformed_signals: int | None
    # The case shows its latest incidents and letters; these count them all, and
    # ``case_incidents`` / ``case_letters`` page through them.
    incident_count: NotRequired[int]
    letter_count: NotRequired[int]
    links: NotRequired[dict[str, str]]


class CaseSummary(TypedDict):
    """A case as the search shows it: pseudonymous, never a description, name or reason.

    ``access`` is ``full`` for a case the caller may read (every field filled) or
    ``exists_only`` (only for a lookup by ``customer_ref``: then ``how_to_open``)."""

    customer_ref: str
    case_id: str
    open: bool
    access: str
    stage: str | None
    risk_flag: bool | None
    opened_at: str | None
    how_to_open: str | None
    case_key: str | None
    episode: int | None
    profile: str | None
    next_review_at: str | None
    closed_at: str | None
    updated_at: str | None
    open_tasks: dict[str, int] | None


class CaseSearch(TypedDict):
    items: list[CaseSummary]
    next: str | None


class IncidentPage(TypedDict):
    items: list[Incident]
    next: str | None


class LetterPage(TypedDict):
    items: list[LetterSummary]
    next: str | None


class ChangeEvent(TypedDict):
    """One change to a case (no reasons, descriptions or names): re-read the case."""

    cursor: str
    type: str
    action: str
    case_id: str
    case_key: str
    episode: int
    customer_ref: str
    at: str


class EventPage(TypedDict):
    items: list[ChangeEvent]
    next: str | None


class OpenTask(TypedDict):
    task_id: str
    kind: str
    role: str
    due_at: str
    escalated_to: str | None


class Protocol(TypedDict):
    arrangements: list[str]
    authorised_by: str
    next_review_at: str
    immediate: bool
    reviews: int


class CaseState(TypedDict):
    """The live state of a case workflow, as a decision, appeal or support record leaves it."""

    case_id: str
    case_key: str
    stage: str
    risk_flag: bool
    direct_contact_ended: bool
    incident_count: int
    open_tasks: list[OpenTask]
    protocol: Protocol | None
    closed_at: str | None


class Arrangements(TypedDict):
    customer_ref: str
    risk_flag: bool
    arrangements: list[str]
    review_due: str | None


class Letter(TypedDict):
    letter_id: str
    kind: str
    delivery: str
    status: str
    recipient: str | None
    subject: str
    body_text: str
    body_html: str
    sent_at: str | None


class AuditEvent(TypedDict):
    id: int
    case_key: str | None
    actor: str
    role: str
    action: str
    reason: str | None
    details: dict[str, Any]
    at: str


class CaseAccess(TypedDict):
    customer_ref: str
    case_id: str
    access: str
    basis: str
    until: str | None


class AuditPage(TypedDict):
    items: list[AuditEvent]
    total: int
    limit: int
    offset: int


class _ValidationError(TypedDict):
    loc: list[str | int]
    msg: str
    type: NotRequired[str]


# Errors ----------------------------------------------------------------------------------


def _field_of(location: Sequence[object]) -> str | None:
    """``["body", "customer", "email"]`` -> ``"customer.email"``; the bare body -> None."""
    parts = [str(p) for p in location]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or None


def error_from_response(response: httpx.Response) -> UcbApiError:
    """The :class:`UcbApiError` for a non-2xx answer, worded from FastAPI's ``detail``."""
    status = response.status_code
    try:
        detail: object = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str) and detail:
        return UcbApiError(status, detail)
    if isinstance(detail, list) and detail:
        messages: list[str] = []
        first_field: str | None = None
        for item in detail:
            if not isinstance(item, dict):
                messages.append(str(item))
                continue
            error = cast(_ValidationError, item)
            field = _field_of(error.get("loc") or [])
            message = str(error.get("msg", "invalid"))
            first_field = first_field or field
            messages.append(f"{field}: {message}" if field else message)
        return UcbApiError(status, "; ".join(messages), first_field)
    text = response.text.strip()
    reason = response.reason_phrase or "error"
    return UcbApiError(status, f"{reason}: {text[:500]}" if text else reason)


# The client ------------------------------------------------------------------------------


def _segment(value: str) -> str:
    """A path segment, percent-encoded (``/`` included)."""
    return quote(value, safe="")


def _drop_none(values: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in values.items() if v is not None}


def moment_param(value: datetime | date | str) -> str:
    """A query moment: a datetime with its timezone, a date as midnight UTC, or a string
    passed on as given (the API says if it is not a moment with a timezone)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} needs a timezone")
        return value.isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00+00:00"
    return value


def _day(value: date | str | None) -> str | None:
    """A London calendar date for the reports' ``from``/``to``."""
    return value.isoformat() if isinstance(value, date) else value


def _query(values: Mapping[str, str | int | bool | None]) -> dict[str, str | int]:
    """Query parameters: None left out, booleans as true/false."""
    out: dict[str, str | int] = {}
    for name, value in values.items():
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif value is not None:
            out[name] = value
    return out


class UcbClient:
    """Calls the ucb-cases API with a bearer token; no automatic retries (see module doc)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": "ucb-cases-client/0.1",
            },
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        """One request, once; the parsed JSON of a 2xx answer, else UcbApiError."""
        response = await self._request(method, path, json=json, params=params)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            raise UcbApiError(
                response.status_code, f"the API answered {method} {path} with non-JSON content"
            ) from error

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        """One request, once; the 2xx answer, else UcbApiError."""
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise UcbApiError(
                0, f"cannot reach the API at {self.base_url}: {error or type(error).__name__}"
            ) from error
        except httpx.TimeoutException as error:
            raise UcbApiError(
                0,
                f"the API at {self.base_url} did not answer in time "
                f"({type(error).__name__}); the request may have been applied",
            ) from error
        except httpx.TransportError as error:
            raise UcbApiError(
                0,
                f"lost the connection to the API at {self.base_url}: "
                f"{error or type(error).__name__}; the request may have been applied",
            ) from error
        if not response.is_success:
            raise error_from_response(response)
        return response

    # Intake --------------------------------------------------------------------------

    async def report_incident(
        self,
        customer_ref: str,
        category: str,
        channel: str,
        occurred_at: datetime | str,
        description: str,
        reported_by: str,
        *,
        source_reference: str | None = None,
        customer: CustomerDetails | None = None,
        warned_by_officer: Literal["in_person", "phone"] | None = None,
        immediate_action_requested: bool = False,
    ) -> IncidentAccepted:
        """Report an incident; the customer's case opens if needed.

        Idempotent when ``source_reference`` (the case system's own id) is given: resending
        it reaches the case once. ``occurred_at`` must carry a timezone.
        """
        body = _drop_none(
            {
                "customer_ref": customer_ref,
                "category": category,
                "channel": channel,
                "occurred_at": occurred_at.isoformat()
                if isinstance(occurred_at, datetime)
                else occurred_at,
                "description": description,
                "reported_by": reported_by,
                "source_reference": source_reference,
                "customer": dict(customer) if customer else None,
                "warned_by_officer": warned_by_officer,
            }
        )
        body["immediate_action_requested"] = immediate_action_requested
        return cast(IncidentAccepted, await self._call("POST", "/v1/incidents", json=body))

    async def register_customer(
        self,
        customer_ref: str,
        name: str | None = None,
        email: str | None = None,
        postal_address: str | None = None,
    ) -> CustomerRegistered:
        """Register or update contact details (fields left out stay as they were)."""
        body = _drop_none({"name": name, "email": email, "postal_address": postal_address})
        path = f"/v1/customers/{_segment(customer_ref)}"
        return cast(CustomerRegistered, await self._call("PUT", path, json=body))

    # Cases ---------------------------------------------------------------------------

    async def get_case(self, customer_ref: str) -> Case:
        """The customer's current case (404 if none)."""
        return cast(Case, await self._call("GET", f"/v1/cases/{_segment(customer_ref)}"))

    async def case_state(self, customer_ref: str) -> CaseState:
        """The running workflow's own view of the case (needs the worker)."""
        path = f"/v1/cases/{_segment(customer_ref)}/state"
        return cast(CaseState, await self._call("GET", path))

    async def break_glass(self, customer_ref: str, reason: str) -> CaseAccess:
        """Open a case one is not involved in, for a while, with the reason recorded on its
        audit trail (need to know: the auditor sees who, when and why)."""
        path = f"/v1/cases/{_segment(customer_ref)}/access"
        return cast(CaseAccess, await self._call("POST", path, json={"reason": reason}))

    async def export_audit(self, customer_ref: str, fmt: Literal["csv", "jsonl"] = "jsonl") -> str:
        """The audit trail of every episode of a customer's case (auditors), as CSV or
        JSON Lines; the export is itself audited."""
        path = f"/v1/cases/{_segment(customer_ref)}/audit/export"
        return (await self._request("GET", path, params={"format": fmt})).text

    async def management_report(
        self,
        section: str = "all",
        *,
        first: date | str | None = None,
        last: date | str | None = None,
        profile: str | None = None,
    ) -> dict[str, Any]:
        """The management report as JSON (managers, heads of service, directors and
        auditors): every section, or one. ``first``/``last`` are London dates, both
        included (default: the last 30 days); the read is audited."""
        path = "/v1/reports" if section == "all" else f"/v1/reports/{_segment(section)}"
        params = _query({"from": _day(first), "to": _day(last), "profile": profile})
        return cast(dict[str, Any], await self._call("GET", path, params=params))

    async def management_report_csv(
        self,
        section: str = "all",
        *,
        first: date | str | None = None,
        last: date | str | None = None,
        profile: str | None = None,
    ) -> str:
        """One section of the management report, or all of them, as CSV: each table a
        caption row, a header row and its rows."""
        params = _query(
            {"format": "csv", "from": _day(first), "to": _day(last), "profile": profile}
        )
        return (await self._request("GET", f"/v1/reports/{_segment(section)}", params=params)).text

    async def log_appeal(
        self,
        customer_ref: str,
        grounds: str,
        source_reference: str | None = None,
        *,
        received_at: datetime | None = None,
    ) -> CaseState:
        """Log the customer's appeal against their protocol (idempotent with a reference)."""
        body = _drop_none(
            {
                "grounds": grounds,
                "source_reference": source_reference,
                "received_at": received_at.isoformat() if received_at else None,
            }
        )
        path = f"/v1/cases/{_segment(customer_ref)}/appeals"
        return cast(CaseState, await self._call("POST", path, json=body))

    async def record_support(
        self,
        customer_ref: str,
        *,
        vulnerabilities: Sequence[str] = (),
        advocate_name: str | None = None,
        advocate_email: str | None = None,
        contact_via_advocate: bool = False,
        reasonable_adjustments: str | None = None,
        referral_consent: bool = False,
        mediation_offered: bool = False,
    ) -> CaseState:
        """Record vulnerabilities, an advocate and reasonable adjustments on the case."""
        body = _drop_none(
            {
                "vulnerabilities": list(vulnerabilities),
                "advocate_name": advocate_name,
                "advocate_email": advocate_email,
                "contact_via_advocate": contact_via_advocate,
                "reasonable_adjustments": reasonable_adjustments,
                "referral_consent": referral_consent,
                "mediation_offered": mediation_offered,
            }
        )
        path = f"/v1/cases/{_segment(customer_ref)}/support"
        return cast(CaseState, await self._call("POST", path, json=body))

    async def arrangements(self, customer_ref: str) -> Arrangements:
        """The contact arrangements and risk flag in force (what, never why)."""
        path = f"/v1/customers/{_segment(customer_ref)}/arrangements"
        return cast(Arrangements, await self._call("GET", path))

    async def search_cases(
        self,
        *,
        customer_ref: str | None = None,
        stage: str | None = None,
        risk_flag: bool | None = None,
        review_due_before: datetime | date | str | None = None,
        open_task_kind: str | None = None,
        profile: str | None = None,
        open: bool | None = None,
        episodes: Literal["latest", "all"] | None = None,
        sort: Literal["opened_at", "next_review_at"] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> CaseSearch:
        """One page of cases matching every filter given, as pseudonymous summaries; pass
        the page's ``next`` as ``cursor`` (with the same filters) for the following one.

        ``review_due_before``: a datetime with timezone, or a date (midnight UTC)."""
        params = _query(
            {
                "customer_ref": customer_ref,
                "stage": stage,
                "risk_flag": risk_flag,
                "review_due_before": moment_param(review_due_before)
                if review_due_before is not None
                else None,
                "open_task_kind": open_task_kind,
                "profile": profile,
                "open": open,
                "episodes": episodes,
                "sort": sort,
                "cursor": cursor,
                "limit": limit,
            }
        )
        return cast(CaseSearch, await self._call("GET", "/v1/cases", params=params))

    async def iter_cases(self, **filters: Any) -> AsyncIterator[CaseSummary]:
        """Every case matching ``filters`` (as ``search_cases`` takes them), page by page."""
        cursor: str | None = filters.pop("cursor", None)
        while True:
            page = await self.search_cases(**filters, cursor=cursor)
            for item in page["items"]:
                yield item
            cursor = page["next"]
            if cursor is None:
                return

    async def case_incidents(
        self, customer_ref: str, cursor: str | None = None, limit: int | None = None
    ) -> IncidentPage:
        """A page of the current case's incidents, oldest first (``next``: the following)."""
        path = f"/v1/cases/{_segment(customer_ref)}/incidents"
        params = _query({"cursor": cursor, "limit": limit})
        return cast(IncidentPage, await self._call("GET", path, params=params))

    async def case_letters(
        self, customer_ref: str, cursor: str | None = None, limit: int | None = None
    ) -> LetterPage:
        """A page of the current case's letters, oldest first (``next``: the following)."""
        path = f"/v1/cases/{_segment(customer_ref)}/letters"
        params = _query({"cursor": cursor, "limit": limit})
        return cast(LetterPage, await self._call("GET", path, params=params))

    async def events(self, after: str | None = None, limit: int | None = None) -> EventPage:
        """Changes to cases after the cursor ``after`` (None: from the first), oldest first.

        At least once: store the page's ``next`` only after handling its events, and
        resume from it; an event seen twice is harmless (re-read the case)."""
        params = _query({"after": after, "limit": limit})
        return cast(EventPage, await self._call("GET", "/v1/events", params=params))

    # Tasks ---------------------------------------------------------------------------

    async def list_tasks(
        self,
        kind: str | None = None,
        customer_ref: str | None = None,
        limit: int = 20,
        offset: int = 0,
        cursor: str | None = None,
    ) -> TaskPage:
        """Open tasks the caller's roles may decide, oldest due first; page on with the
        ``next`` cursor of the previous page (or ``offset``)."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if kind is not None:
            params["kind"] = kind
        if customer_ref is not None:
            params["customer_ref"] = customer_ref
        if cursor is not None:
            params["cursor"] = cursor
        return cast(TaskPage, await self._call("GET", "/v1/tasks", params=params))

    async def claim_task(self, task_id: str) -> Task:
        """Take a task so colleagues see it is being dealt with (409 if someone else has)."""
        path = f"/v1/tasks/{_segment(task_id)}/claim"
        return cast(Task, await self._call("POST", path))

    async def complete_task(self, task_id: str, decision: Mapping[str, object]) -> CaseState:
        """Decide a task (applied at most once; 409 once decided); the case's new state."""
        path = f"/v1/tasks/{_segment(task_id)}/complete"
        return cast(CaseState, await self._call("POST", path, json=dict(decision)))

    # Letters and audit ---------------------------------------------------------------

    async def get_letter(self, letter_id: str) -> Letter:
        """A letter as sent: subject, text and HTML bodies, delivery and status."""
        return cast(Letter, await self._call("GET", f"/v1/letters/{_segment(letter_id)}"))

    async def audit(
        self,
        case_key: str | None = None,
        actor: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> AuditPage:
        """The audit trail, newest first (auditors only)."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if case_key is not None:
            params["case_key"] = case_key
        if actor is not None:
            params["actor"] = actor
        return cast(AuditPage, await self._call("GET", "/v1/audit", params=params))
