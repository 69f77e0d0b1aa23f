"""indexes for the task list: open tasks by the role they sit with (their own, or the one
they escalated to), of a kind, or of one customer, in due order

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# (name, table, columns): each matches an ``Index`` in records/models.py. Equality columns
# first, then the list's order (due_at, task_id): a page is read in index order and stops
# at the page's end, never sorted (Records.open_tasks_for, open_tasks_after, inbox_tasks).
INDEXES = (
    ("ix_tasks_open_role_due", "tasks", ["status", "role", "due_at", "task_id"]),
    ("ix_tasks_open_role_kind_due", "tasks", ["status", "role", "kind", "due_at", "task_id"]),
    ("ix_tasks_open_escalated_due", "tasks", ["status", "escalated_to", "due_at", "task_id"]),
    ("ix_tasks_customer_open_due", "tasks", ["customer_ref", "status", "due_at", "task_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
