"""equality monitoring with the support details; stored Board and annual review packs

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_equality",
        sa.Column("customer_ref", sa.String(64), primary_key=True),
        sa.Column("ethnicity", sa.String(60), nullable=True),
        sa.Column("disability", sa.String(60), nullable=True),
        sa.Column("vulnerability", sa.String(60), nullable=True),
        sa.Column("age_band", sa.String(60), nullable=True),
        sa.Column("sex", sa.String(60), nullable=True),
        sa.Column("recorded_by", sa.String(254), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "report_packs",
        sa.Column("pack_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("profile", sa.String(40), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("kind", "profile", "period_start"),
    )


def downgrade() -> None:
    op.drop_table("report_packs")
    op.drop_table("customer_equality")
