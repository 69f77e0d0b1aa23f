"""letter delivery attempts, incidents received before their case row, escalation levels

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Intake stores an incident before its case workflow records it under a case episode.
    # ...and marks it signalled once Temporal took it (unsignalled rows are withdrawn).
    with op.batch_alter_table("incidents") as batch:
        batch.alter_column("case_key", existing_type=sa.String(length=120), nullable=True)
        batch.add_column(
            sa.Column("signalled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("letters") as batch:
        batch.alter_column("status", existing_type=sa.String(length=10), type_=sa.String(20))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column(
                "resent_after_uncertain",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch.add_column(sa.Column("problem", sa.String(length=60), nullable=True))
        batch.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "tasks", sa.Column("escalations", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("tasks", "escalations")
    with op.batch_alter_table("letters") as batch:
        batch.drop_column("last_attempt_at")
        batch.drop_column("problem")
        batch.drop_column("resent_after_uncertain")
        batch.drop_column("attempts")
        batch.alter_column("status", existing_type=sa.String(length=20), type_=sa.String(10))
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("signalled")
        batch.alter_column("case_key", existing_type=sa.String(length=120), nullable=False)
