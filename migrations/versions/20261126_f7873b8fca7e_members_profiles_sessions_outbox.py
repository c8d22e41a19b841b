"""Members, profiles, tags, sign-in sessions, login throttling and the outbox.

Revision ID: f7873b8fca7e
Revises:
Create Date: 2026-11-26 01:19:36.532209
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f7873b8fca7e"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("email_key", name=op.f("pk_login_throttles")),
    )
    op.create_table(
        "members",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("handle", sa.String(length=30), nullable=False),
        sa.Column("display_name", sa.String(length=80), nullable=False),
        sa.Column("headline", sa.String(length=140), nullable=True),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("location", sa.String(length=100), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("help_requests_per_week", sa.Integer(), nullable=False),
        sa.Column("quiet_hours_start", sa.Time(), nullable=True),
        sa.Column("quiet_hours_end", sa.Time(), nullable=True),
        sa.Column(
            "visibility",
            sa.Enum(
                "EVERYONE",
                "NETWORK",
                "CONNECTIONS",
                "ONLY_ME",
                name="visibility",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "location_visibility",
            sa.Enum(
                "EVERYONE",
                "NETWORK",
                "CONNECTIONS",
                "ONLY_ME",
                name="visibility",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "seeks_visibility",
            sa.Enum(
                "EVERYONE",
                "NETWORK",
                "CONNECTIONS",
                "ONLY_ME",
                name="visibility",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "gives_visibility",
            sa.Enum(
                "EVERYONE",
                "NETWORK",
                "CONNECTIONS",
                "ONLY_ME",
                name="visibility",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "goals_visibility",
            sa.Enum(
                "EVERYONE",
                "NETWORK",
                "CONNECTIONS",
                "ONLY_ME",
                name="visibility",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "connections_visibility",
            sa.Enum(
                "EVERYONE",
                "NETWORK",
                "CONNECTIONS",
                "ONLY_ME",
                name="visibility",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("email_key", name=op.f("uq_members_email_key")),
        sa.UniqueConstraint("handle", name=op.f("uq_members_handle")),
    )
    op.create_table(
        "outbox_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_index(op.f("ix_outbox_events_type_id"), "outbox_events", ["type", "id"], unique=False)

    op.create_table(
        "tags",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=60), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "SKILL", "TOPIC", "INDUSTRY", "PLACE", name="tagkind", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("slug", name=op.f("uq_tags_slug")),
    )
    op.create_table(
        "auth_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_auth_sessions_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
    )
    op.create_index(
        op.f("ix_auth_sessions_member_id"), "auth_sessions", ["member_id"], unique=False
    )

    op.create_table(
        "gives",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tag_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("description", sa.String(length=280), nullable=True),
        sa.Column("monthly_capacity", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_gives_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_gives_tag_id_tags")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gives")),
    )
    op.create_index(
        op.f("ix_gives_member_id_tag_id"), "gives", ["member_id", "tag_id"], unique=True
    )
    op.create_index(op.f("ix_gives_tag_id"), "gives", ["tag_id"], unique=False)

    op.create_table(
        "goals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=140), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "EVENT",
                "HIRING",
                "FUNDRAISING",
                "LAUNCH",
                "CLIENTS",
                "LEARNING",
                "CAREER",
                "OTHER",
                name="goalkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE", "ACHIEVED", "ABANDONED", name="goalstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_goals_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goals")),
    )
    op.create_index(op.f("ix_goals_member_id"), "goals", ["member_id"], unique=False)

    op.create_table(
        "member_tags",
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "role",
            sa.Enum("SKILL", "INTEREST", "SEEK", name="tagrole", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("tag_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_tags_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_member_tags_tag_id_tags")),
        sa.PrimaryKeyConstraint("member_id", "role", "tag_id", name=op.f("pk_member_tags")),
    )
    op.create_index(
        op.f("ix_member_tags_tag_id_role"), "member_tags", ["tag_id", "role"], unique=False
    )

    op.create_table(
        "goal_tags",
        sa.Column("goal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tag_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["goal_id"], ["goals.id"], name=op.f("fk_goal_tags_goal_id_goals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_goal_tags_tag_id_tags")),
        sa.PrimaryKeyConstraint("goal_id", "tag_id", name=op.f("pk_goal_tags")),
    )
    op.create_index(op.f("ix_goal_tags_tag_id"), "goal_tags", ["tag_id"], unique=False)

    op.create_table(
        "refresh_tokens",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name=op.f("fk_refresh_tokens_session_id_auth_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_refresh_tokens_session_id"), "refresh_tokens", ["session_id"], unique=False
    )

    _create_member_search()


def _create_member_search() -> None:
    """Full-text search over members.search_text, in each database's own index."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_members_search ON members "
            "USING gin (to_tsvector('simple', search_text))"
        )
        return
    # An external-content FTS5 table kept in step with members by triggers.
    op.execute(
        "CREATE VIRTUAL TABLE members_fts USING fts5("
        "search_text, content='members', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER members_fts_insert AFTER INSERT ON members BEGIN "
        "INSERT INTO members_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER members_fts_delete AFTER DELETE ON members BEGIN "
        "INSERT INTO members_fts(members_fts, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER members_fts_update AFTER UPDATE OF search_text ON members BEGIN "
        "INSERT INTO members_fts(members_fts, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); "
        "INSERT INTO members_fts(rowid, search_text) VALUES (new.id, new.search_text); END"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_index("ix_members_search", table_name="members")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER members_fts_{trigger}")
        op.execute("DROP TABLE members_fts")
    op.drop_index(op.f("ix_refresh_tokens_session_id"), table_name="refresh_tokens")

    op.drop_table("refresh_tokens")
    op.drop_index(op.f("ix_goal_tags_tag_id"), table_name="goal_tags")

    op.drop_table("goal_tags")
    op.drop_index(op.f("ix_member_tags_tag_id_role"), table_name="member_tags")

    op.drop_table("member_tags")
    op.drop_index(op.f("ix_goals_member_id"), table_name="goals")

    op.drop_table("goals")
    op.drop_index(op.f("ix_gives_tag_id"), table_name="gives")
    op.drop_index(op.f("ix_gives_member_id_tag_id"), table_name="gives")

    op.drop_table("gives")
    op.drop_index(op.f("ix_auth_sessions_member_id"), table_name="auth_sessions")

    op.drop_table("auth_sessions")
    op.drop_table("tags")
    op.drop_index(op.f("ix_outbox_events_type_id"), table_name="outbox_events")

    op.drop_table("outbox_events")
    op.drop_table("members")
    op.drop_table("login_throttles")
