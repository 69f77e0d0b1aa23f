"""restriction kinds on protocols; interim staff-safety measures on cases; tenancy type;
who submitted an incident; audit columns wide enough for any token

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A restriction is a protocol, immediate action or ended direct contact.
    with op.batch_alter_table("protocols") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=30), nullable=False, server_default="protocol")
        )
    # The audit trail holds any valid token's identity: a long user id, every role.
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("actor", existing_type=sa.String(length=100), type_=sa.String(254))
        batch.alter_column("role", existing_type=sa.String(length=40), type_=sa.String(200))
    # Who submitted an incident, from their token (reported_by is data from the body).
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("submitted_by", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("submitted_role", sa.String(length=200), nullable=True))
    # Revoked tokens (sign-out) and subjects (an operator's revocation).
    op.create_table(
        "token_revocations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_id", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=254), nullable=True),
        sa.Column("issued_before", sa.Integer(), nullable=True),
        sa.Column("revoked_by", sa.String(length=254), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_token_revocations_token_id", "token_revocations", ["token_id"])
    op.create_index("ix_token_revocations_subject", "token_revocations", ["subject"])
    # HS 6.3.6: tenancy action is for starter, assured and fixed-term tenancies.
    op.add_column("customers", sa.Column("tenancy", sa.String(length=20), nullable=True))
    # Violence or a threat: staff-safety measures until a Director decides (HS 6.3.1).
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("interim_measures", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    op.drop_table("token_revocations")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("submitted_role")
        batch.drop_column("submitted_by")
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("role", existing_type=sa.String(length=200), type_=sa.String(40))
        batch.alter_column("actor", existing_type=sa.String(length=254), type_=sa.String(100))
    op.drop_column("customers", "tenancy")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("interim_measures")
    with op.batch_alter_table("protocols") as batch:
        batch.drop_column("kind")
