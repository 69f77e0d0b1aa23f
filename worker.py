"""Run the Temporal worker for case workflows and their activities."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.board_pack import BoardPackActivities, PackConfig
from activities.cases import CaseActivities
from activities.retention import RetentionActivities
from letters.deliver import MailConfig
from letters.render import LandlordContacts
from policy.retention import describe_period, namespace_retention_days
from records.db import make_engine, make_sessionmaker
from records.repository import Records
from settings import Settings, get_settings
from starter.board_pack import ensure_board_pack_schedules
from starter.logs import configure_logging
from starter.retention import apply_namespace_retention, ensure_retention_schedule
from starter.temporal import connect, metrics_runtime
from workflows.board_pack import AnnualReviewPackWorkflow, BoardPackWorkflow
from workflows.case import CaseWorkflow
from workflows.letter import LetterWorkflow
from workflows.retention import RetentionWorkflow
from workflows.retention_api import RetentionInput


def mail_config(settings: Settings) -> MailConfig:
    """Letter delivery settings for the activities."""
    return MailConfig(
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        sender=settings.letters_from,
        post_room=settings.post_room,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        role_mailboxes=dict(settings.role_mailboxes),
        inbox_url=f"{settings.public_url.rstrip('/')}/inbox",
    )


# Modules the sandbox shares with the worker instead of re-importing for every run: only
# pure ones (no I/O, no clock, no randomness) that workflows import. The workflow modules
# themselves (workflows.case, .steps, .decision_steps, .letter) stay inside the sandbox,
# so a non-deterministic call in them is caught.
PURE_MODULES = (
    "policy",
    "workflows.messages",
    "workflows.errors",
    "workflows.ids",
    "workflows.search_attributes",
    "workflows.activity_api",
    "workflows.retention_api",
    "workflows.board_pack_api",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, passing through only the pure modules above."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PURE_MODULES)
    )


class WorkerTuning(TypedDict):
    """The worker options the settings tune (``Worker(...)`` keyword arguments)."""

    max_cached_workflows: int
    max_concurrent_workflow_tasks: int
    max_concurrent_activities: int
    workflow_task_poller_behavior: PollerBehaviorSimpleMaximum
    activity_task_poller_behavior: PollerBehaviorSimpleMaximum
    sticky_queue_schedule_to_start_timeout: timedelta


def tuning(settings: Settings) -> WorkerTuning:
    """Cache size, task slots, pollers and the sticky queue's wait from the settings
    (UCB_WORKER_*)."""
    return WorkerTuning(
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(
            settings.worker_max_concurrent_workflow_task_polls
        ),
        activity_task_poller_behavior=PollerBehaviorSimpleMaximum(
            settings.worker_max_concurrent_activity_task_polls
        ),
        sticky_queue_schedule_to_start_timeout=timedelta(
            seconds=settings.worker_sticky_schedule_to_start_seconds
        ),
    )


def build_worker(
    client: Client, settings: Settings, records: Records, *, strict: bool = False
) -> Worker:
    """The worker with every case workflow and activity registered.

    ``strict`` (tests): any exception other than ApplicationError fails the workflow at
    once, instead of failing its workflow task and retrying quietly until a fix is
    deployed (what production wants)."""
    contacts = LandlordContacts(
        appeals_contact=settings.appeals_contact,
        complaints_contact=settings.complaints_contact,
        ombudsman_contact=settings.ombudsman_contact,
    )
    activities = CaseActivities(
        records,
        mail_config(settings),
        settings.landlord_name,
        contacts,
        retention_period=describe_period(settings.retention_period_seconds),
    )
    retention = RetentionActivities(
        records,
        client,
        settings.outbox,
        settings.post_room,
        RetentionInput(settings.retention_period_seconds, settings.retention_batch),
    )
    packs = BoardPackActivities(
        records,
        mail_config(settings),
        PackConfig(
            profile=settings.policy_profile,
            annual_review_month=settings.annual_review_month_in_force,
            public_url=settings.public_url,
        ),
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[
            CaseWorkflow,
            LetterWorkflow,
            RetentionWorkflow,
            BoardPackWorkflow,
            AnnualReviewPackWorkflow,
        ],
        workflow_runner=workflow_runner(),
        workflow_failure_exception_types=[Exception] if strict else [],
        **tuning(settings),
        activities=[
            activities.open_case,
            activities.record_incidents,
            activities.update_case_record,
            activities.create_task,
            activities.record_decision,
            activities.escalate_task,
            activities.supersede_task,
            activities.record_case_event,
            activities.record_case_writes,
            activities.record_support,
            activities.draft_letter,
            activities.deliver_letter,
            activities.readdress_letter,
            retention.retention_settings,
            retention.list_set_aside_episodes,
            retention.purge_episode_copies,
            retention.purge_episode_runs,
            retention.purge_episode_records,
            retention.record_retention_run,
            packs.board_pack_settings,
            packs.compose_pack,
            packs.email_pack_link,
            packs.record_pack_made,
        ],
    )


async def main() -> None:
    """Connect and run until interrupted."""
    settings = get_settings()
    configure_logging("worker", settings.log_level)  # JSON lines (README "Metrics and logs")
    engine = make_engine(settings.database_url)
    # The SDK's worker metrics for Prometheus, when an address is set; a port already
    # taken costs the metrics, never the cases.
    address = settings.worker_metrics_address
    runtime = None
    if address:
        try:
            runtime = metrics_runtime(address)
            logging.getLogger(__name__).info("worker metrics at http://%s/metrics", address)
        except ValueError as error:
            logging.getLogger(__name__).warning("worker metrics off: %s", error)
    client = await connect(settings, runtime)
    records = Records(make_sessionmaker(engine))
    worker = build_worker(client, settings, records)
    logging.getLogger(__name__).info("worker polling task queue %s", settings.task_queue)
    await ensure_retention_schedule(client, settings, records)
    await ensure_board_pack_schedules(client, settings, records)
    await set_namespace_retention(client, settings)
    sweep = asyncio.create_task(sweep_unsignalled_incidents(records, settings))
    try:
        await worker.run()
    finally:
        sweep.cancel()
        await engine.dispose()


async def set_namespace_retention(client: Client, settings: Settings) -> None:
    """Keep closed workflow runs as long as the records keep an episode's personal data
    after it is set aside (README "Retention"); a namespace the worker may not change is
    left for operators to set, with a warning."""
    log = logging.getLogger(__name__)
    try:
        kept = await apply_namespace_retention(client, settings)
    except RPCError as error:
        log.warning(
            "namespace retention not set (%s): set it to %d days with "
            "`temporal operator namespace update --retention`",
            error.status.name if error.status else "error",
            namespace_retention_days(settings.retention_period_seconds),
        )
        return
    log.info("namespace %s keeps closed runs for %s", client.namespace, kept)


async def sweep_unsignalled_incidents(records: Records, settings: Settings) -> None:
    """Withdraw incidents intake stored but never signalled (the API stopped in between)."""
    grace = timedelta(seconds=settings.intake_grace_seconds)
    log = logging.getLogger(__name__)
    while True:
        await asyncio.sleep(min(60.0, grace.total_seconds() / 2))
        try:
            withdrawn = await records.withdraw_unsignalled(datetime.now(UTC) - grace)
        except Exception as error:  # the records may be down: try again next time
            log.warning("intake sweep skipped (%s)", type(error).__name__)
            continue
        if withdrawn:
            log.warning("withdrew %d incident(s) intake never handed to a case", len(withdrawn))


if __name__ == "__main__":
    asyncio.run(main())
