"""Connecting to Temporal and starting or signalling case workflows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from policy.profiles import PolicyProfile, load_profile
from settings import Settings
from starter.codec import data_converter
from workflows import search_attributes as sa
from workflows.case import CaseWorkflow
from workflows.ids import case_workflow_id
from workflows.messages import CaseInput, CaseState, IncidentReport


def case_handle(client: Client, workflow_id: str) -> WorkflowHandle[Any, CaseState]:
    """A handle on a customer's case workflow (its current run)."""
    return client.get_workflow_handle(workflow_id, result_type=CaseState)


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A Temporal client for this deployment (on ``runtime``, e.g. ``metrics_runtime``;
    the SDK's default runtime otherwise)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        runtime=runtime,
    )


def metrics_runtime(bind_address: str) -> Runtime:
    """An SDK runtime serving its metrics for Prometheus at ``http://<bind_address>/metrics``
    (worker polls, task latencies, workflow and activity outcomes, client requests):
    counters end in ``_total``, durations are in seconds with a ``_seconds`` suffix. Labels
    are the SDK's own (namespace, task queue, workflow and activity type): no case ids."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=bind_address,
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
            ),
            global_tags={"service": "ucb-worker"},
        )
    )


def profile_from_settings(settings: Settings) -> PolicyProfile:
    """The deployment's policy profile with its duration overrides applied."""
    return load_profile(settings.policy_profile, settings.durations)


async def report_incident(
    client: Client, settings: Settings, incident: IncidentReport
) -> WorkflowHandle[CaseWorkflow, CaseState]:
    """Signal-with-start: the incident reaches the customer's case, opening one if needed."""
    profile = profile_from_settings(settings)
    return await client.start_workflow(
        CaseWorkflow.run,
        CaseInput(customer_ref=incident.customer_ref, profile=profile),
        id=case_workflow_id(incident.customer_ref),
        task_queue=settings.task_queue,
        start_signal="report_incident",
        start_signal_args=[incident],
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CUSTOMER_REF, incident.customer_ref),
                SearchAttributePair(sa.CASE_STAGE, "open"),
                SearchAttributePair(sa.POLICY_PROFILE, profile.name),
            ]
        ),
        task_timeout=timedelta(seconds=settings.workflow_task_timeout_seconds),
    )
