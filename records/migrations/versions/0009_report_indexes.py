"""indexes for the management report: incidents, tasks, letters, restrictions and audit
rows by the moments the report counts them

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# (name, table, columns): each matches an ``Index`` in records/models.py.
INDEXES = (
    # Every figure is of one profile: a row's case episode's profile, from the index alone.
    ("ix_cases_key_profile", "cases", ["case_key", "profile"]),
    # The incidents of a period: covers the report's GROUP BY (no table reads).
    ("ix_incidents_occurred", "incidents", ["occurred_at", "case_key", "category", "channel"]),
    ("ix_letters_created", "letters", ["created_at", "case_key"]),
    ("ix_tasks_kind_status_due", "tasks", ["kind", "status", "due_at"]),
    ("ix_tasks_decided", "tasks", ["decided_at", "kind", "outcome"]),
    ("ix_tasks_escalated", "tasks", ["escalated_at"]),
    ("ix_tasks_kind_created", "tasks", ["kind", "created_at"]),
    ("ix_protocols_status_kind", "protocols", ["status", "kind", "next_review_at"]),
    ("ix_protocols_authorised", "protocols", ["authorised_at"]),
    ("ix_audit_events_action_at", "audit_events", ["action", "at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
