"""The marketplace: help requests, their audiences and tags, and offers of help.

Revision ID: ff590696375c
Revises: 4073eef0abc1
Create Date: 2026-11-26 03:09:40.647576
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ff590696375c"
down_revision: str | None = "4073eef0abc1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "help_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=140), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "ADVICE",
                "INTRO",
                "HIRE",
                "JOB",
                "CUSTOMER",
                "FUNDING",
                "FEEDBACK",
                "EVENT",
                "OTHER",
                name="helprequestkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "OPEN",
                "IN_PROGRESS",
                "FULFILLED",
                "CANCELLED",
                "EXPIRED",
                name="helprequeststatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "audience_scope",
            sa.Enum(
                "PUBLIC",
                "NETWORK",
                "CONNECTIONS",
                "CIRCLES",
                "MEMBERS",
                "SUGGESTED",
                name="audiencescope",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("bounty", sa.Integer(), nullable=True),
        sa.Column("offers_iou", sa.Boolean(), nullable=False),
        sa.Column("max_helpers", sa.Integer(), nullable=False),
        sa.Column("accepted_count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["members.id"],
            name=op.f("fk_help_requests_author_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_requests")),
    )
    op.create_index(
        op.f("ix_help_requests_author_id_status"),
        "help_requests",
        ["author_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_help_requests_status_created_at"),
        "help_requests",
        ["status", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_help_requests_status_expires_at"),
        "help_requests",
        ["status", "expires_at"],
        unique=False,
    )

    op.create_table(
        "help_request_circles",
        sa.Column(
            "help_request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "circle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["circle_id"],
            ["circles.id"],
            name=op.f("fk_help_request_circles_circle_id_circles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["help_request_id"],
            ["help_requests.id"],
            name=op.f("fk_help_request_circles_help_request_id_help_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "help_request_id", "circle_id", name=op.f("pk_help_request_circles")
        ),
    )
    op.create_index(
        op.f("ix_help_request_circles_circle_id"),
        "help_request_circles",
        ["circle_id"],
        unique=False,
    )

    op.create_table(
        "help_request_members",
        sa.Column(
            "help_request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["help_request_id"],
            ["help_requests.id"],
            name=op.f("fk_help_request_members_help_request_id_help_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_help_request_members_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "help_request_id", "member_id", name=op.f("pk_help_request_members")
        ),
    )
    op.create_index(
        op.f("ix_help_request_members_member_id"),
        "help_request_members",
        ["member_id"],
        unique=False,
    )

    op.create_table(
        "help_request_tags",
        sa.Column(
            "help_request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tag_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["help_request_id"],
            ["help_requests.id"],
            name=op.f("fk_help_request_tags_help_request_id_help_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_help_request_tags_tag_id_tags")
        ),
        sa.PrimaryKeyConstraint("help_request_id", "tag_id", name=op.f("pk_help_request_tags")),
    )
    op.create_index(
        op.f("ix_help_request_tags_tag_id"), "help_request_tags", ["tag_id"], unique=False
    )

    op.create_table(
        "offers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "help_request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "helper_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("message", sa.String(length=1000), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "ACCEPTED",
                "COMPLETED",
                "DECLINED",
                "WITHDRAWN",
                "CANCELLED",
                name="offerstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "settlement",
            sa.Enum("BOUNTY", "IOU", "THANKS", name="settlement", native_enum=False, length=16),
            nullable=True,
        ),
        sa.Column("tip", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["help_request_id"],
            ["help_requests.id"],
            name=op.f("fk_offers_help_request_id_help_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["helper_id"],
            ["members.id"],
            name=op.f("fk_offers_helper_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    op.create_index(
        op.f("ix_offers_help_request_id_status"),
        "offers",
        ["help_request_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_offers_helper_id_status"), "offers", ["helper_id", "status"], unique=False
    )

    _create_help_request_search()


def _create_help_request_search() -> None:
    """Full-text search over help_requests.search_text, as for members and circles."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_help_requests_search ON help_requests "
            "USING gin (to_tsvector('simple', search_text))"
        )
        return
    op.execute(
        "CREATE VIRTUAL TABLE help_requests_fts USING fts5("
        "search_text, content='help_requests', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER help_requests_fts_insert AFTER INSERT ON help_requests BEGIN "
        "INSERT INTO help_requests_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER help_requests_fts_delete AFTER DELETE ON help_requests BEGIN "
        "INSERT INTO help_requests_fts(help_requests_fts, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER help_requests_fts_update AFTER UPDATE OF search_text ON help_requests "
        "BEGIN INSERT INTO help_requests_fts(help_requests_fts, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); "
        "INSERT INTO help_requests_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_index("ix_help_requests_search", table_name="help_requests")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER help_requests_fts_{trigger}")
        op.execute("DROP TABLE help_requests_fts")
    op.drop_index(op.f("ix_offers_helper_id_status"), table_name="offers")
    op.drop_index(op.f("ix_offers_help_request_id_status"), table_name="offers")

    op.drop_table("offers")
    op.drop_index(op.f("ix_help_request_tags_tag_id"), table_name="help_request_tags")

    op.drop_table("help_request_tags")
    op.drop_index(op.f("ix_help_request_members_member_id"), table_name="help_request_members")

    op.drop_table("help_request_members")
    op.drop_index(op.f("ix_help_request_circles_circle_id"), table_name="help_request_circles")

    op.drop_table("help_request_circles")
    op.drop_index(op.f("ix_help_requests_status_expires_at"), table_name="help_requests")
    op.drop_index(op.f("ix_help_requests_status_created_at"), table_name="help_requests")
    op.drop_index(op.f("ix_help_requests_author_id_status"), table_name="help_requests")

    op.drop_table("help_requests")
