"""The network: relationships and their adjacency, blocks, circles, intros.

Revision ID: 4073eef0abc1
Revises: f7873b8fca7e
Create Date: 2026-11-26 01:39:17.442803
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4073eef0abc1"
down_revision: str | None = "f7873b8fca7e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blocks",
        sa.Column(
            "blocker_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "blocked_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blocked_id"],
            ["members.id"],
            name=op.f("fk_blocks_blocked_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["blocker_id"],
            ["members.id"],
            name=op.f("fk_blocks_blocker_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("blocker_id", "blocked_id", name=op.f("pk_blocks")),
    )
    op.create_index(op.f("ix_blocks_blocked_id"), "blocks", ["blocked_id"], unique=False)

    op.create_table(
        "circles",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column(
            "visibility",
            sa.Enum(
                "OPEN",
                "ON_REQUEST",
                "PRIVATE",
                name="circlevisibility",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["members.id"],
            name=op.f("fk_circles_owner_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circles")),
        sa.UniqueConstraint("slug", name=op.f("uq_circles_slug")),
    )
    op.create_table(
        "intros",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "requester_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "broker_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "target_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("broker_note", sa.String(length=1000), nullable=True),
        sa.Column(
            "help_request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "status",
            sa.Enum(
                "REQUESTED",
                "FORWARDED",
                "ACCEPTED",
                "DECLINED",
                "EXPIRED",
                name="introstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "declined_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("decline_reason", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["broker_id"],
            ["members.id"],
            name=op.f("fk_intros_broker_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["declined_by_id"],
            ["members.id"],
            name=op.f("fk_intros_declined_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["members.id"],
            name=op.f("fk_intros_requester_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["members.id"],
            name=op.f("fk_intros_target_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intros")),
    )
    op.create_index(
        op.f("ix_intros_broker_id_created_at"), "intros", ["broker_id", "created_at"], unique=False
    )
    op.create_index(
        op.f("ix_intros_requester_id_status"), "intros", ["requester_id", "status"], unique=False
    )
    op.create_index(
        op.f("ix_intros_status_expires_at"), "intros", ["status", "expires_at"], unique=False
    )
    op.create_index(
        op.f("ix_intros_target_id_status"), "intros", ["target_id", "status"], unique=False
    )

    op.create_table(
        "relationships",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "requester_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "addressee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "low_member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "high_member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "ACTIVE",
                "DECLINED",
                "REMOVED",
                name="relationshipstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("context", sa.String(length=500), nullable=True),
        sa.Column(
            "introduced_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("help_count", sa.Integer(), nullable=False),
        sa.Column("intro_count", sa.Integer(), nullable=False),
        sa.Column("last_interaction_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "low_member_id < high_member_id", name=op.f("ck_relationships_ordered_pair")
        ),
        sa.ForeignKeyConstraint(
            ["addressee_id"],
            ["members.id"],
            name=op.f("fk_relationships_addressee_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["high_member_id"],
            ["members.id"],
            name=op.f("fk_relationships_high_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["introduced_by_id"],
            ["members.id"],
            name=op.f("fk_relationships_introduced_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["low_member_id"],
            ["members.id"],
            name=op.f("fk_relationships_low_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["members.id"],
            name=op.f("fk_relationships_requester_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relationships")),
    )
    op.create_index(
        op.f("ix_relationships_addressee_id_status"),
        "relationships",
        ["addressee_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_relationships_low_member_id_high_member_id"),
        "relationships",
        ["low_member_id", "high_member_id"],
        unique=True,
    )
    op.create_index(
        op.f("ix_relationships_requester_id_status"),
        "relationships",
        ["requester_id", "status"],
        unique=False,
    )

    op.create_table(
        "circle_memberships",
        sa.Column(
            "circle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "role",
            sa.Enum(
                "OWNER", "MODERATOR", "MEMBER", name="circlerole", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE",
                "REQUESTED",
                "INVITED",
                name="membershipstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "invited_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["circle_id"],
            ["circles.id"],
            name=op.f("fk_circle_memberships_circle_id_circles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["members.id"],
            name=op.f("fk_circle_memberships_invited_by_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_circle_memberships_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("circle_id", "member_id", name=op.f("pk_circle_memberships")),
    )
    op.create_index(
        op.f("ix_circle_memberships_member_id_status"),
        "circle_memberships",
        ["member_id", "status"],
        unique=False,
    )

    op.create_table(
        "circle_tags",
        sa.Column(
            "circle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tag_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["circle_id"],
            ["circles.id"],
            name=op.f("fk_circle_tags_circle_id_circles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_circle_tags_tag_id_tags")),
        sa.PrimaryKeyConstraint("circle_id", "tag_id", name=op.f("pk_circle_tags")),
    )
    op.create_index(op.f("ix_circle_tags_tag_id"), "circle_tags", ["tag_id"], unique=False)

    op.create_table(
        "connections",
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("other_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "relationship_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("strength", sa.Float(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_connections_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["other_id"],
            ["members.id"],
            name=op.f("fk_connections_other_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["relationship_id"],
            ["relationships.id"],
            name=op.f("fk_connections_relationship_id_relationships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "other_id", name=op.f("pk_connections")),
    )
    op.create_index(
        op.f("ix_connections_other_id_member_id"),
        "connections",
        ["other_id", "member_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_connections_member_id_strength"),
        "connections",
        ["member_id", "strength"],
        unique=False,
    )

    op.create_table(
        "relationship_notes",
        sa.Column(
            "relationship_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_relationship_notes_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["relationship_id"],
            ["relationships.id"],
            name=op.f("fk_relationship_notes_relationship_id_relationships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("relationship_id", "member_id", name=op.f("pk_relationship_notes")),
    )

    _create_circle_search()


def _create_circle_search() -> None:
    """Full-text search over circles.search_text, as for members (see the first revision)."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_circles_search ON circles "
            "USING gin (to_tsvector('simple', search_text))"
        )
        return
    op.execute(
        "CREATE VIRTUAL TABLE circles_fts USING fts5("
        "search_text, content='circles', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER circles_fts_insert AFTER INSERT ON circles BEGIN "
        "INSERT INTO circles_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER circles_fts_delete AFTER DELETE ON circles BEGIN "
        "INSERT INTO circles_fts(circles_fts, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER circles_fts_update AFTER UPDATE OF search_text ON circles BEGIN "
        "INSERT INTO circles_fts(circles_fts, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); "
        "INSERT INTO circles_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_index("ix_circles_search", table_name="circles")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER circles_fts_{trigger}")
        op.execute("DROP TABLE circles_fts")
    op.drop_table("relationship_notes")
    op.drop_index(op.f("ix_connections_member_id_strength"), table_name="connections")
    op.drop_index(op.f("ix_connections_other_id_member_id"), table_name="connections")

    op.drop_table("connections")
    op.drop_index(op.f("ix_circle_tags_tag_id"), table_name="circle_tags")

    op.drop_table("circle_tags")
    op.drop_index(op.f("ix_circle_memberships_member_id_status"), table_name="circle_memberships")

    op.drop_table("circle_memberships")
    op.drop_index(op.f("ix_relationships_requester_id_status"), table_name="relationships")
    op.drop_index(op.f("ix_relationships_low_member_id_high_member_id"), table_name="relationships")
    op.drop_index(op.f("ix_relationships_addressee_id_status"), table_name="relationships")

    op.drop_table("relationships")
    op.drop_index(op.f("ix_intros_target_id_status"), table_name="intros")
    op.drop_index(op.f("ix_intros_status_expires_at"), table_name="intros")
    op.drop_index(op.f("ix_intros_requester_id_status"), table_name="intros")
    op.drop_index(op.f("ix_intros_broker_id_created_at"), table_name="intros")

    op.drop_table("intros")
    op.drop_table("circles")
    op.drop_index(op.f("ix_blocks_blocked_id"), table_name="blocks")

    op.drop_table("blocks")
