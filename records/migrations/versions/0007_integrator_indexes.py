"""indexes for the integrator API: the case search's filters and sorts, paged incidents,
letters and tasks

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# (name, table, columns): each matches an ``Index`` in records/models.py.
INDEXES = (
    ("ix_cases_stage_review", "cases", ["stage", "next_review_at", "case_key"]),
    ("ix_cases_review", "cases", ["next_review_at", "case_key"]),
    ("ix_cases_opened", "cases", ["opened_at", "case_key"]),
    ("ix_cases_customer_episode", "cases", ["customer_ref", "episode"]),
    ("ix_incidents_case_occurred", "incidents", ["case_key", "occurred_at", "incident_id"]),
    ("ix_letters_case_created", "letters", ["case_key", "created_at", "letter_id"]),
    ("ix_tasks_case_status_kind", "tasks", ["case_key", "status", "kind"]),
    ("ix_tasks_status_due", "tasks", ["status", "due_at", "task_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
