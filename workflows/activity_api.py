"""The activities the case and letter workflows call, as typed signatures.

Workflows call these by method (``execute_activity_method``) so the argument and
result types are checked; ``activities.cases.CaseActivities`` implements them. This
module holds no I/O, so the sandbox may import it.
"""

from __future__ import annotations

from temporalio import activity

from workflows.messages import (
    CreateTask,
    DeliveredLetter,
    DeliverLetter,
    DraftedLetter,
    DraftLetter,
    EscalateTask,
    OpenCase,
    OpenedCase,
    ReaddressedLetter,
    ReaddressLetter,
    RecordCaseEvent,
    RecordCaseWrites,
    RecordDecision,
    RecordedCaseWrites,
    RecordedIncidents,
    RecordIncidents,
    StoreSupport,
    SupersedeTask,
    UpdateCaseRecord,
)


class CaseActivityApi:
    """Signatures only: the worker registers the implementation's bound methods."""

    @activity.defn(name="open_case")
    async def open_case(self, request: OpenCase) -> OpenedCase:
        """Open the records row for a case episode (or find it on a retry)."""
        raise NotImplementedError

    @activity.defn(name="record_incidents")
    async def record_incidents(self, request: RecordIncidents) -> RecordedIncidents:
        """Write (or attach) a batch of incidents and their audit rows, each once."""
        raise NotImplementedError

    @activity.defn(name="update_case_record")
    async def update_case_record(self, request: UpdateCaseRecord) -> None:
        """Mirror the case's stage, risk flag and dates into the records."""
        raise NotImplementedError

    @activity.defn(name="create_task")
    async def create_task(self, request: CreateTask) -> None:
        """Write an open task for a person to decide."""
        raise NotImplementedError

    @activity.defn(name="record_decision")
    async def record_decision(self, request: RecordDecision) -> None:
        """Record a decision with who, role, when, what and why."""
        raise NotImplementedError

    @activity.defn(name="escalate_task")
    async def escalate_task(self, request: EscalateTask) -> None:
        """Escalate an overdue task to the next role up and tell its mailbox."""
        raise NotImplementedError

    @activity.defn(name="supersede_task")
    async def supersede_task(self, request: SupersedeTask) -> None:
        """Close an open task the case has moved past."""
        raise NotImplementedError

    @activity.defn(name="record_case_event")
    async def record_case_event(self, request: RecordCaseEvent) -> None:
        """Append an audit row for a case event."""
        raise NotImplementedError

    @activity.defn(name="record_case_writes")
    async def record_case_writes(self, request: RecordCaseWrites) -> RecordedCaseWrites:
        """Audit rows, tasks, letters drafted and the case record of one pass, in one
        transaction; answers with the letters as stored (to start their delivery)."""
        raise NotImplementedError

    @activity.defn(name="record_support")
    async def record_support(self, request: StoreSupport) -> None:
        """Keep a customer's support needs, advocate and adjustments."""
        raise NotImplementedError

    @activity.defn(name="draft_letter")
    async def draft_letter(self, request: DraftLetter) -> DraftedLetter:
        """Render and store a letter once per letter id; sending is the letter workflow's."""
        raise NotImplementedError

    @activity.defn(name="deliver_letter")
    async def deliver_letter(self, request: DeliverLetter) -> DeliveredLetter:
        """Send (or store for the post room) one stored letter, at most once knowingly."""
        raise NotImplementedError

    @activity.defn(name="readdress_letter")
    async def readdress_letter(self, request: ReaddressLetter) -> ReaddressedLetter:
        """Point a stored letter at the customer's current address (or the post room)."""
        raise NotImplementedError
