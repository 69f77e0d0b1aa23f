"""The case workflow: one per customer, alive for as long as the case is."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy

with workflow.unsafe.imports_passed_through():
    from policy.ladder import behaviour_summary, needs_initial_warning
    from workflows import search_attributes as sa
    from workflows.ids import letter_id
    from workflows.messages import (
        CaseInput,
        CaseState,
        IncidentReport,
        LetterSummary,
        OpenCase,
        OpenedCase,
        RecordIncident,
        SendLetter,
        SentLetter,
        UpdateCaseRecord,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=60)
ACTIVITY_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=2))


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow:
    """A customer's Unacceptable Customer Behaviour case: incidents, steps, letters."""

    @workflow.init
    def __init__(self, input: CaseInput) -> None:
        self._profile = input.profile
        self._state = input.carried or CaseState(customer_ref=input.customer_ref)
        self._inbox: list[IncidentReport] = []
        self._seen = set(self._state.incident_ids)

    @workflow.signal(name="report_incident")
    def report_incident(self, raw: RawValue) -> None:
        """Queue an incident; a payload that does not decode is counted, never fatal."""
        try:
            incident = workflow.payload_converter().from_payload(raw.payload, IncidentReport)
        except Exception:
            # Never log the payload: it may hold allegations about a person.
            self._state.malformed_signals += 1
            workflow.logger.warning("report_incident signal with a malformed payload was dropped")
            return
        if incident.incident_id in self._seen:
            return
        self._seen.add(incident.incident_id)
        self._inbox.append(incident)

    @workflow.query(name="state")
    def state(self) -> CaseState:
        """The case's compact state (stage, incidents, letters, flags)."""
        return self._state

    @workflow.run
    async def run(self, input: CaseInput) -> CaseState:
        """Wait for incidents and act on each, continuing-as-new when history grows."""
        if not self._state.case_key:
            await self._open_case()
        while True:
            await workflow.wait_condition(
                lambda: bool(self._inbox) or workflow.info().is_continue_as_new_suggested()
            )
            while self._inbox:
                await self._handle_incident(self._inbox.pop(0))
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._inbox:
                    workflow.continue_as_new(
                        CaseInput(
                            customer_ref=self._state.customer_ref,
                            profile=self._profile,
                            carried=self._state,
                        )
                    )

    async def _open_case(self) -> None:
        info = workflow.info()
        opened: OpenedCase = await workflow.execute_activity(
            "open_case",
            OpenCase(
                customer_ref=self._state.customer_ref,
                workflow_id=info.workflow_id,
                run_key=info.first_execution_run_id,
                profile_name=self._profile.name,
                opened_at=workflow.now(),
            ),
            result_type=OpenedCase,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        self._state.case_key = opened.case_key
        self._state.episode = opened.episode
        self._state.opened_at = workflow.now()
        self._upsert_search_attributes()

    async def _handle_incident(self, incident: IncidentReport) -> None:
        await workflow.execute_activity(
            "record_incident",
            RecordIncident(case_key=self._state.case_key, incident=incident),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        self._state.incident_ids.append(incident.incident_id)
        self._state.last_incident_at = workflow.now()
        warned = any(letter.kind == "initial_warning" for letter in self._state.letters)
        if needs_initial_warning(incident.category, warned):
            await self._send_letter(
                "initial_warning",
                step="initial_warning",
                context={"behaviour_summary": behaviour_summary(incident.category)},
            )
            await self._move_to("initial_warning")
        self._upsert_search_attributes()

    async def _send_letter(self, kind: str, step: str, context: dict[str, str]) -> None:
        sent: SentLetter = await workflow.execute_activity(
            "send_letter",
            SendLetter(
                letter_id=letter_id(self._state.case_key, step),
                case_key=self._state.case_key,
                customer_ref=self._state.customer_ref,
                kind=kind,
                context={"ombudsman": self._profile.ombudsman, **context},
            ),
            result_type=SentLetter,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        self._state.letters.append(
            LetterSummary(letter_id=sent.letter_id, kind=kind, delivery=sent.delivery)
        )

    async def _move_to(self, stage: str) -> None:
        self._state.stage = stage
        await workflow.execute_activity(
            "update_case_record",
            UpdateCaseRecord(
                case_key=self._state.case_key,
                stage=stage,
                risk_flag=self._state.risk_flag,
                at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )

    def _upsert_search_attributes(self) -> None:
        workflow.upsert_search_attributes(
            [
                sa.CUSTOMER_REF.value_set(self._state.customer_ref),
                sa.CASE_STAGE.value_set(self._state.stage),
                sa.RISK_FLAG.value_set(self._state.risk_flag),
                sa.POLICY_PROFILE.value_set(self._profile.name),
            ]
        )
