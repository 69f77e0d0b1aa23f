"""Run the Temporal worker for case workflows and their activities."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.cases import CaseActivities
from letters.deliver import MailConfig
from records.db import make_engine, make_sessionmaker
from records.repository import Records
from settings import Settings, get_settings
from starter.temporal import connect
from workflows.case import CaseWorkflow


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


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, with our pure policy and message modules passed through (no I/O in them)."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("policy", "workflows")
    )


def build_worker(client: Client, settings: Settings, records: Records) -> Worker:
    """The worker with every case workflow and activity registered."""
    activities = CaseActivities(records, mail_config(settings), settings.landlord_name)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[CaseWorkflow],
        workflow_runner=workflow_runner(),
        activities=[
            activities.open_case,
            activities.record_incidents,
            activities.update_case_record,
            activities.create_task,
            activities.record_decision,
            activities.escalate_task,
            activities.supersede_task,
            activities.record_case_event,
            activities.record_support,
            activities.send_letter,
        ],
    )


async def main() -> None:
    """Connect and run until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = get_settings()
    engine = make_engine(settings.database_url)
    client = await connect(settings)
    worker = build_worker(client, settings, Records(make_sessionmaker(engine)))
    logging.getLogger(__name__).info("worker polling task queue %s", settings.task_queue)
    try:
        await worker.run()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
