"""The ``ucb`` command: mint tokens and call the ucb-cases API from a shell.

The API is at ``--api-url`` or ``$UCB_API_URL`` (default ``http://127.0.0.1:8000``); the
bearer token is ``--token`` or ``$UCB_TOKEN`` (mint one with ``ucb token create``).
Answers are printed to stdout as JSON; errors go to stderr with exit code 1 (2 for a
command line that cannot be understood).

``ucb ops stuck`` talks to Temporal itself (the ``UCB_TEMPORAL_*`` settings and
``UCB_TASK_QUEUE``), needs no token, prints a table (or ``--json``) of running cases
whose workflow task keeps failing or whose activity has retried past its budget, and
exits 0 when there are none and 1 when some are stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, cast

from policy.reporting import SECTIONS
from starter.ops import (
    DEFAULT_ACTIVITY_ATTEMPT_BUDGET,
    DEFAULT_LIMIT,
    StuckReport,
    report_json,
    stuck_cases,
)
from tokens import ApiRole, create_token
from ucbclient.client import CustomerDetails, UcbApiError, UcbClient

DEFAULT_API_URL = "http://127.0.0.1:8000"
ROLES = [role.value for role in ApiRole]
MINTING_HELP = (
    "mint one with `ucb token create --user <your-id> --role officer` "
    "(on a machine with the API's UCB_SECRET_KEY) and pass it as --token or $UCB_TOKEN"
)

Call = Callable[[UcbClient, argparse.Namespace], Awaitable[object]]


class UsageError(Exception):
    """The command line is understood by argparse but its values are not usable."""


# Parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    # Connection options are accepted before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url",
        default=argparse.SUPPRESS,
        help=f"API base URL (default: $UCB_API_URL or {DEFAULT_API_URL})",
    )
    common.add_argument(
        "--token", default=argparse.SUPPRESS, help="bearer token (default: $UCB_TOKEN)"
    )

    parser = argparse.ArgumentParser(
        prog="ucb",
        parents=[common],
        description="Report incidents, read cases and decide tasks through the ucb-cases API.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    token = commands.add_parser("token", help="mint API tokens").add_subparsers(
        dest="token_command", required=True, metavar="COMMAND"
    )
    create = token.add_parser(
        "create", help="mint a signed token with UCB_SECRET_KEY; prints the token only"
    )
    create.add_argument("--user", required=True, help="the user (or service account) id")
    create.add_argument(
        "--role", action="append", required=True, choices=ROLES, help="a role (repeatable)"
    )
    create.add_argument(
        "--ttl-hours", type=float, default=None, help="lifetime (default: UCB_TOKEN_TTL_SECONDS)"
    )
    create.set_defaults(handler=_token_create)

    report = commands.add_parser("report", parents=[common], help="report an incident")
    report.add_argument("--customer-ref", required=True)
    report.add_argument("--category", required=True, help="e.g. verbal_abuse")
    report.add_argument("--channel", required=True, help="in_person, phone, letter, email, ...")
    report.add_argument("--description", required=True)
    report.add_argument("--reported-by", required=True)
    report.add_argument(
        "--occurred-at", help="ISO 8601 with a timezone, e.g. 2026-11-20T10:00:00Z (default: now)"
    )
    report.add_argument(
        "--source-reference", help="your system's id for the incident; resending it is safe"
    )
    report.add_argument("--name", help="the customer's name, for letters")
    report.add_argument("--email", help="the customer's email address, for letters")
    report.add_argument("--address", help="the customer's postal address, for letters")
    report.add_argument(
        "--warned-by-officer",
        metavar="{in_person,phone}",
        help="the officer already warned the customer (recorded as the initial warning)",
    )
    report.add_argument(
        "--immediate-action", action="store_true", help="ask a Director for immediate action"
    )
    report.set_defaults(call=_report)

    case = commands.add_parser("case", help="read a customer's case").add_subparsers(
        dest="case_command", required=True, metavar="COMMAND"
    )
    show = case.add_parser("show", parents=[common], help="the case from the records")
    show.add_argument("customer_ref")
    show.set_defaults(call=lambda ucb, a: ucb.get_case(a.customer_ref))
    state = case.add_parser("state", parents=[common], help="the live workflow state")
    state.add_argument("customer_ref")
    state.set_defaults(call=lambda ucb, a: ucb.case_state(a.customer_ref))

    access = case.add_parser(
        "access",
        parents=[common],
        help="open a case you are not involved in; the reason goes on its audit trail",
    )
    access.add_argument("customer_ref")
    access.add_argument("--reason", required=True, help="why (15 to 1000 characters)")
    access.set_defaults(call=lambda ucb, a: ucb.break_glass(a.customer_ref, a.reason))

    page = argparse.ArgumentParser(add_help=False)
    page.add_argument("--cursor", help="the `next` of the previous page")
    page.add_argument("--limit", type=int, help="items per page (at most 200)")
    incidents = case.add_parser(
        "incidents", parents=[common, page], help="the case's incidents, a page at a time"
    )
    incidents.add_argument("customer_ref")
    incidents.set_defaults(
        call=lambda ucb, a: ucb.case_incidents(a.customer_ref, a.cursor, a.limit)
    )
    letters = case.add_parser(
        "letters", parents=[common, page], help="the case's letters, a page at a time"
    )
    letters.add_argument("customer_ref")
    letters.set_defaults(call=lambda ucb, a: ucb.case_letters(a.customer_ref, a.cursor, a.limit))

    cases = commands.add_parser("cases", help="find cases").add_subparsers(
        dest="cases_command", required=True, metavar="COMMAND"
    )
    search = cases.add_parser(
        "list",
        parents=[common, page],
        help="cases matching filters: pseudonymous summaries",
        description="Cases matching every filter given, as pseudonymous summaries (no "
        "descriptions, names or reasons). Prints one page and its `next` cursor, or with "
        "--all every page's items.",
    )
    search.add_argument("--customer-ref")
    search.add_argument("--stage", help="e.g. protocol_in_force")
    search.add_argument(
        "--risk-flag", action=argparse.BooleanOptionalAction, default=None, help="flagged or not"
    )
    search.add_argument(
        "--review-due-before",
        help="review due before this date (midnight UTC) or ISO 8601 time with a timezone",
    )
    search.add_argument("--open-task-kind", help="with an open task of this kind")
    search.add_argument("--profile", help="housing_solutions or magna")
    search.add_argument(
        "--open", action=argparse.BooleanOptionalAction, default=None, help="open or closed"
    )
    search.add_argument("--episodes", choices=["latest", "all"])
    search.add_argument("--sort", choices=["opened_at", "next_review_at"])
    search.add_argument("--all", action="store_true", help="follow `next` to the last page")
    search.set_defaults(call=_cases_list)

    events = commands.add_parser(
        "events",
        parents=[common],
        help="the change feed: what changed on which case",
        description="Changes to cases after --after (default: from the first), oldest first. "
        "Keep the printed `next` and pass it as --after next time (at least once).",
    )
    events.add_argument("--after", help="the cursor to resume after")
    events.add_argument("--limit", type=int, help="events per page (at most 200)")
    events.set_defaults(call=lambda ucb, a: ucb.events(a.after, a.limit))

    audit = commands.add_parser("audit", help="the audit trail (auditors)").add_subparsers(
        dest="audit_command", required=True, metavar="COMMAND"
    )
    export = audit.add_parser(
        "export", parents=[common], help="every episode's trail of one case, as CSV or JSON Lines"
    )
    export.add_argument("customer_ref")
    export.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
    export.set_defaults(call=lambda ucb, a: ucb.export_audit(a.customer_ref, a.format))

    reports = commands.add_parser(
        "reports",
        parents=[common],
        help="the management report (managers, heads of service, directors, auditors)",
    )
    reports.add_argument(
        "--section",
        default="all",
        choices=["all", *SECTIONS],
        help="one section of the report (default: all)",
    )
    reports.add_argument("--from", dest="first", help="first London date, YYYY-MM-DD")
    reports.add_argument("--to", dest="last", help="last London date, YYYY-MM-DD (included)")
    reports.add_argument("--profile", help="the policy profile (default: the deployment's)")
    reports.add_argument("--csv", action="store_true", help="CSV instead of JSON")
    reports.set_defaults(
        call=lambda ucb, a: (ucb.management_report_csv if a.csv else ucb.management_report)(
            a.section, first=a.first, last=a.last, profile=a.profile
        )
    )

    appeal = commands.add_parser("appeal", parents=[common], help="log a customer's appeal")
    appeal.add_argument("customer_ref")
    appeal.add_argument("--grounds", required=True)
    appeal.add_argument("--source-reference", help="your id for the appeal; resending is safe")
    appeal.set_defaults(
        call=lambda ucb, a: ucb.log_appeal(a.customer_ref, a.grounds, a.source_reference)
    )

    tasks = commands.add_parser("tasks", help="the task inbox").add_subparsers(
        dest="tasks_command", required=True, metavar="COMMAND"
    )
    listing = tasks.add_parser("list", parents=[common], help="open tasks you may decide")
    listing.add_argument("--kind", help="e.g. initial_warning")
    listing.add_argument("--customer-ref")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--cursor", help="the `next` of the previous page (instead of --offset)")
    listing.set_defaults(
        call=lambda ucb, a: ucb.list_tasks(a.kind, a.customer_ref, a.limit, a.offset, a.cursor)
    )
    claim = tasks.add_parser("claim", parents=[common], help="take a task")
    claim.add_argument("task_id")
    claim.set_defaults(call=lambda ucb, a: ucb.claim_task(a.task_id))
    complete = tasks.add_parser(
        "complete",
        parents=[common],
        help="decide a task",
        description="Decide a task. Fields other than outcome, reason, customer reason and "
        "method (terms, factors, reference, ...) come from --json or --json-file; the flags "
        "win over them.",
    )
    complete.add_argument("task_id")
    complete.add_argument("--outcome", help="e.g. issued, not_warranted, authorised")
    complete.add_argument("--reason", help="why: an internal note for the audit trail")
    complete.add_argument(
        "--customer-reason",
        dest="customer_reason",
        help="the reason as the customer reads it in the letter (needed when one is sent)",
    )
    complete.add_argument("--method", help="letter, in_person or phone (warnings)")
    extra = complete.add_mutually_exclusive_group()
    extra.add_argument("--json", dest="decision_json", help="extra decision fields as JSON")
    extra.add_argument("--json-file", type=Path, help="a file of extra decision fields (JSON)")
    complete.set_defaults(call=_complete)

    arrangements = commands.add_parser(
        "arrangements", parents=[common], help="contact arrangements in force"
    )
    arrangements.add_argument("customer_ref")
    arrangements.set_defaults(call=lambda ucb, a: ucb.arrangements(a.customer_ref))

    letter = commands.add_parser("letter", parents=[common], help="a letter as sent")
    letter.add_argument("letter_id")
    letter.add_argument(
        "--text", action="store_true", help="print the subject and plain-text body, not JSON"
    )
    letter.set_defaults(call=_letter)

    ops = commands.add_parser("ops", help="operations (talks to Temporal, not the API)")
    ops_commands = ops.add_subparsers(dest="ops_command", required=True, metavar="COMMAND")
    stuck = ops_commands.add_parser(
        "stuck",
        help="running cases with a failing workflow task or an activity past its budget",
        description="List running cases whose workflow task keeps failing or whose activity "
        "has retried past --attempts. Connects to Temporal with the UCB_TEMPORAL_* settings "
        "and looks at UCB_TASK_QUEUE. Exit code 0: none stuck; 1: some stuck (or Temporal "
        "could not be asked: the message is on stderr); 2: bad command line.",
    )
    stuck.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"describe at most this many running cases, newest first (default: "
        f"{DEFAULT_LIMIT}); cases Temporal has flagged are found beyond it",
    )
    stuck.add_argument(
        "--attempts",
        type=int,
        default=DEFAULT_ACTIVITY_ATTEMPT_BUDGET,
        help="report an activity once it is past this many attempts "
        f"(default: {DEFAULT_ACTIVITY_ATTEMPT_BUDGET})",
    )
    stuck.add_argument("--json", action="store_true", help="print JSON, not a table")
    stuck.set_defaults(handler=_ops_stuck)
    return parser


# Commands --------------------------------------------------------------------------------


def _token_create(args: argparse.Namespace) -> int:
    from settings import PLACEHOLDER_SECRETS, get_settings  # only this command reads them

    if args.ttl_hours is not None and args.ttl_hours <= 0:
        raise UsageError("--ttl-hours must be more than 0")
    settings = get_settings()
    ttl = int(args.ttl_hours * 3600) if args.ttl_hours is not None else settings.token_ttl_seconds
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            token = create_token(settings.secret_key, args.user, list(args.role), max(ttl, 1))
        except ValueError as error:
            raise UsageError(str(error)) from error
    notes = [str(w.message) for w in caught]
    if settings.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
        notes = [
            "signed with the development secret key; "
            "an API with a real UCB_SECRET_KEY will refuse it"
        ]
    for note in notes:
        print(f"ucb: warning: {note}", file=sys.stderr)
    print(token)
    return 0


def _occurred_at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise UsageError(f"--occurred-at {value!r} is not an ISO 8601 date and time") from error
    if moment.tzinfo is None:
        raise UsageError(f"--occurred-at {value!r} needs a timezone, e.g. {value}Z")
    return moment


async def _report(ucb: UcbClient, args: argparse.Namespace) -> object:
    customer: CustomerDetails = {}
    if args.name is not None:
        customer["name"] = args.name
    if args.email is not None:
        customer["email"] = args.email
    if args.address is not None:
        customer["postal_address"] = args.address
    return await ucb.report_incident(
        args.customer_ref,
        args.category,
        args.channel,
        _occurred_at(args.occurred_at),
        args.description,
        args.reported_by,
        source_reference=args.source_reference,
        customer=customer or None,
        # Passed through as given: the API names the allowed values if it is wrong.
        warned_by_officer=cast(Literal["in_person", "phone"] | None, args.warned_by_officer),
        immediate_action_requested=args.immediate_action,
    )


def decision_from(args: argparse.Namespace) -> dict[str, Any]:
    """The decision body: --json / --json-file fields, then the flags on top."""
    decision: dict[str, Any] = {}
    source = "--json"
    raw: str | None = args.decision_json
    if args.json_file is not None:
        source = f"--json-file {args.json_file}"
        try:
            raw = args.json_file.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot read {args.json_file}: {error.strerror}") from error
    if raw is not None:
        try:
            loaded = json.loads(raw)
        except json.JSONDecodeError as error:
            raise UsageError(f"{source} is not valid JSON: {error}") from error
        if not isinstance(loaded, dict):
            raise UsageError(f"{source} must be a JSON object of decision fields")
        decision.update(loaded)
    for name in ("outcome", "reason", "customer_reason", "method"):
        value = getattr(args, name)
        if value is not None:
            decision[name] = value
    for name in ("outcome", "reason"):
        if not decision.get(name):
            raise UsageError(f"--{name} is required (or {name!r} in {source})")
    return decision


def review_moment(value: str) -> date | datetime:
    """--review-due-before: a date (midnight UTC), or a time with a timezone."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise UsageError(
            f"--review-due-before {value!r} is not a date (2026-12-01) or an ISO 8601 time"
        ) from error
    if moment.tzinfo is None:
        raise UsageError(f"--review-due-before {value!r} needs a timezone, e.g. {value}Z")
    return moment


async def _cases_list(ucb: UcbClient, args: argparse.Namespace) -> object:
    filters: dict[str, Any] = {
        "customer_ref": args.customer_ref,
        "stage": args.stage,
        "risk_flag": args.risk_flag,
        "review_due_before": review_moment(args.review_due_before)
        if args.review_due_before
        else None,
        "open_task_kind": args.open_task_kind,
        "profile": args.profile,
        "open": args.open,
        "episodes": args.episodes,
        "sort": args.sort,
        "limit": args.limit,
    }
    if not args.all:
        return await ucb.search_cases(**filters, cursor=args.cursor)
    items = [item async for item in ucb.iter_cases(**filters, cursor=args.cursor)]
    return {"items": items, "next": None}


async def _complete(ucb: UcbClient, args: argparse.Namespace) -> object:
    return await ucb.complete_task(args.task_id, args.decision)


async def _letter(ucb: UcbClient, args: argparse.Namespace) -> object:
    letter = await ucb.get_letter(args.letter_id)
    if not args.text:
        return letter
    recipient = letter["recipient"] or "-"
    return f"Subject: {letter['subject']}\nTo: {recipient}\n\n{letter['body_text']}"


def _ops_stuck(args: argparse.Namespace) -> int:
    """``ucb ops stuck``: exit 0 when no case is stuck, 1 when some are."""
    from settings import get_settings  # only the commands that need them read settings
    from starter.temporal import connect  # loads the workflow code: only when needed

    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    if args.attempts < 1:
        raise UsageError("--attempts must be 1 or more")
    settings = get_settings()

    async def scan() -> StuckReport:
        try:
            client = await asyncio.wait_for(connect(settings), timeout=10)
        except Exception as error:
            raise RuntimeError(
                f"cannot reach Temporal at {settings.temporal_address}: {error}"
            ) from error
        return await stuck_cases(
            client, settings, limit=args.limit, activity_attempt_budget=args.attempts
        )

    report = asyncio.run(scan())
    if args.json:
        _output(report_json(report))
    else:
        _output(stuck_table(report))
    return 1 if report.cases else 0


def stuck_table(report: StuckReport) -> str:
    """The report as a text table with a summary line."""
    lines: list[str] = []
    if report.cases:
        header = ("WORKFLOW ID", "RUN ID", "PROBLEM", "ACTIVITY", "ATTEMPT", "FAILURE", "SINCE")
        rows = [
            (
                case.workflow_id,
                case.run_id,
                case.problem,
                case.activity_type or "-",
                str(case.attempt),
                case.failure_type or "-",
                case.last_failed_at.strftime("%Y-%m-%dT%H:%M:%SZ") if case.last_failed_at else "-",
            )
            for case in report.cases
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            lines.append("  ".join(cells).rstrip())
        lines.append("")
    counted = f"{len(report.cases)} problem(s)" if report.cases else "no stuck cases"
    lines.append(
        f"{counted}: described {report.scanned} running {report.workflow_type} "
        f"execution(s) on task queue {report.task_queue}; activities are reported past "
        f"{report.activity_attempt_budget} attempt(s)"
    )
    if report.truncated:
        lines.append(
            f"truncated: more than {report.scanned} are running and only the newest "
            f"{report.scanned} were described; raise --limit to look further"
        )
    if not report.server_flagged_checked:
        lines.append(
            "note: this Temporal server has no TemporalReportedProblems search attribute, "
            "so failing workflow tasks beyond --limit are not found"
        )
    return "\n".join(lines)


# Running ---------------------------------------------------------------------------------


async def _run(call: Call, args: argparse.Namespace, api_url: str, token: str) -> object:
    async with UcbClient(api_url, token) as ucb:
        return await call(ucb, args)


def _output(result: object) -> None:
    if isinstance(result, str):
        print(result.rstrip("\n"))
    else:
        print(json.dumps(result, indent=2, ensure_ascii=False))


def _fail(message: str) -> int:
    print(f"ucb: error: {message}", file=sys.stderr)
    return 1


def _usage_error(message: str) -> int:
    print(f"ucb: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the ``ucb`` command; the exit code (0 ok, 1 failed, 2 bad command line).

    A reader that goes away (``ucb case show ... | head``) ends the command quietly with 0:
    what it wanted was printed."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the try: a pipe closed early fails here, not at exit
    except BrokenPipeError:
        # Nothing more can be written; point stdout at /dev/null so that the interpreter's
        # own flush at exit does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
        return 0
    return code


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    try:
        if getattr(args, "handler", None) is not None:
            handler = cast(Callable[[argparse.Namespace], int], args.handler)
            return handler(args)
        if args.command == "tasks" and args.tasks_command == "complete":
            args.decision = decision_from(args)
    except UsageError as error:
        return _usage_error(str(error))
    except BrokenPipeError:
        raise  # the reader went away: main() ends quietly
    except Exception as error:  # e.g. settings that do not validate
        return _fail(str(error))

    api_url: str = (
        getattr(args, "api_url", None) or os.environ.get("UCB_API_URL") or DEFAULT_API_URL
    )
    token: str = getattr(args, "token", None) or os.environ.get("UCB_TOKEN", "")
    if not token.strip():
        return _fail(f"no API token: {MINTING_HELP}")
    call = cast(Call, args.call)
    try:
        result = asyncio.run(_run(call, args, api_url, token.strip()))
    except UsageError as error:
        return _usage_error(str(error))
    except UcbApiError as error:
        message = str(error)
        if error.status == 401:
            message += f"; {MINTING_HELP}"
        return _fail(message)
    except KeyboardInterrupt:
        return 130
    _output(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
