"""Connections: an index holding each tie's strength and last contact, for matching's 2nd
degree to read a hub's ties without visiting the heap (index-only on PostgreSQL).

Revision ID: b3e91c07d2a5
Revises: 8a01efe3d39d
Create Date: 2026-11-26 07:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b3e91c07d2a5"
down_revision: str | None = "8a01efe3d39d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_connections_member_id_other_id_strength_last_contact_at"),
        "connections",
        ["member_id", "other_id", "strength", "last_contact_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_connections_member_id_other_id_strength_last_contact_at"),
        table_name="connections",
    )
