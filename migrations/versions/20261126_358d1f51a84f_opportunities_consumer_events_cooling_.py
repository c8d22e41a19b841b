"""Opportunities (what matching offers each member), consumer events (each outbox event as
each consumer handles it), cooling signals (relationships that went quiet), the feed's
(created_at, id) index, and each connection's last contact.

Revision ID: 358d1f51a84f
Revises: 8d44b941b518
Create Date: 2026-11-26 04:41:41.393827
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "358d1f51a84f"
down_revision: str | None = "8d44b941b518"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_outbox_events_occurred_at"), "outbox_events", ["occurred_at"])
    # Each connection keeps the last contact its strength was computed at (the
    # relationship's), so readers of many ties need not join relationships.
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE connections SET last_contact_at = (SELECT coalesce(r.last_interaction_at, "
        "r.connected_at, r.requested_at) FROM relationships AS r "
        "WHERE r.id = connections.relationship_id)"
    )
    with op.batch_alter_table("connections") as batch:
        batch.alter_column(
            "last_contact_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
    # The feed pages newest first by (created_at, id).
    op.create_index(op.f("ix_help_requests_created_at_id"), "help_requests", ["created_at", "id"])
    op.create_table(
        "consumer_events",
        sa.Column("consumer", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING", "DONE", "PARKED", name="consumerstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["outbox_events.id"],
            name=op.f("fk_consumer_events_event_id_outbox_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_consumer_events")),
    )
    op.create_index(
        op.f("ix_consumer_events_consumer_status_next_attempt_at"),
        "consumer_events",
        ["consumer", "status", "next_attempt_at"],
    )
    op.create_table(
        "opportunities",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "HELP_REQUEST",
                "IOU_CALLED_IN",
                "GOAL",
                "INTRO",
                "COOLING",
                name="opportunitykind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "subject_type",
            sa.Enum(
                "HELP_REQUEST",
                "GOAL",
                "INTRO",
                "IOU",
                "RELATIONSHIP",
                name="subjecttype",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "source_member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "NEW",
                "SEEN",
                "ACTED",
                "DISMISSED",
                name="opportunitystatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("pushed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "dismiss_reason",
            sa.Enum(
                "NOT_RELEVANT",
                "NO_TIME",
                "DONT_KNOW_THEM",
                "OTHER",
                name="dismissreason",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_opportunities_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_member_id"],
            ["members.id"],
            name=op.f("fk_opportunities_source_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunities")),
        sa.UniqueConstraint(
            "member_id",
            "subject_type",
            "subject_id",
            name=op.f("uq_opportunities_member_id_subject_type_subject_id"),
        ),
    )
    op.create_index(
        op.f("ix_opportunities_member_id_created_at"), "opportunities", ["member_id", "created_at"]
    )
    op.create_index(op.f("ix_opportunities_member_id_id"), "opportunities", ["member_id", "id"])
    op.create_index(
        op.f("ix_opportunities_member_id_source_member_id_dismiss_reason"),
        "opportunities",
        ["member_id", "source_member_id", "dismiss_reason"],
    )
    op.create_index(
        op.f("ix_opportunities_member_id_status_id"), "opportunities", ["member_id", "status", "id"]
    )
    op.create_table(
        "cooling_signals",
        sa.Column(
            "relationship_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signalled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["relationship_id"],
            ["relationships.id"],
            name=op.f("fk_cooling_signals_relationship_id_relationships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("relationship_id", name=op.f("pk_cooling_signals")),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_events_occurred_at"), table_name="outbox_events")
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("last_contact_at")
    op.drop_index(op.f("ix_help_requests_created_at_id"), table_name="help_requests")
    op.drop_table("cooling_signals")
    op.drop_index(op.f("ix_opportunities_member_id_status_id"), table_name="opportunities")
    op.drop_index(
        op.f("ix_opportunities_member_id_source_member_id_dismiss_reason"),
        table_name="opportunities",
    )
    op.drop_index(op.f("ix_opportunities_member_id_id"), table_name="opportunities")
    op.drop_index(op.f("ix_opportunities_member_id_created_at"), table_name="opportunities")
    op.drop_table("opportunities")
    op.drop_index(
        op.f("ix_consumer_events_consumer_status_next_attempt_at"), table_name="consumer_events"
    )
    op.drop_table("consumer_events")
