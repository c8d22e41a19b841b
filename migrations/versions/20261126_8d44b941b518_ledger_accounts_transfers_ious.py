"""The ledger: accounts, immutable transfers (triggers refuse UPDATE and DELETE), IOUs,
and idempotency keys.

Revision ID: 8d44b941b518
Revises: ff590696375c
Create Date: 2026-11-26 04:09:25.756921
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8d44b941b518"
down_revision: str | None = "ff590696375c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("refusal", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "ledger_accounts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("ISSUER", "KARMA", "ESCROW", name="accountkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "help_request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("lower_bound", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "lower_bound IS NULL OR balance >= lower_bound",
            name=op.f("ck_ledger_accounts_within_bound"),
        ),
        sa.ForeignKeyConstraint(
            ["help_request_id"],
            ["help_requests.id"],
            name=op.f("fk_ledger_accounts_help_request_id_help_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_ledger_accounts_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("help_request_id", name=op.f("uq_ledger_accounts_help_request_id")),
        sa.UniqueConstraint("name", name=op.f("uq_ledger_accounts_name")),
    )
    op.create_index(op.f("ix_ledger_accounts_member_id"), "ledger_accounts", ["member_id"])
    op.create_table(
        "ious",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "debtor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "creditor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum(
                "OUTSTANDING", "SETTLED", "FORGIVEN", name="ioustatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "help_request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "resolution",
            sa.Enum(
                "KARMA",
                "HELPED_BACK",
                "FORGIVEN",
                name="iouresolution",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "settling_offer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "called_in_request_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("called_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("debtor_id <> creditor_id", name=op.f("ck_ious_two_members")),
        sa.CheckConstraint("value > 0", name=op.f("ck_ious_positive")),
        sa.ForeignKeyConstraint(
            ["called_in_request_id"],
            ["help_requests.id"],
            name=op.f("fk_ious_called_in_request_id_help_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["creditor_id"], ["members.id"], name=op.f("fk_ious_creditor_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["debtor_id"], ["members.id"], name=op.f("fk_ious_debtor_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["help_request_id"],
            ["help_requests.id"],
            name=op.f("fk_ious_help_request_id_help_requests"),
        ),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], name=op.f("fk_ious_offer_id_offers")),
        sa.ForeignKeyConstraint(
            ["settling_offer_id"], ["offers.id"], name=op.f("fk_ious_settling_offer_id_offers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ious")),
        sa.UniqueConstraint("offer_id", name=op.f("uq_ious_offer_id")),
    )
    op.create_index(op.f("ix_ious_called_in_request_id"), "ious", ["called_in_request_id"])
    op.create_index(op.f("ix_ious_creditor_id_status"), "ious", ["creditor_id", "status"])
    op.create_index(
        op.f("ix_ious_debtor_id_status_creditor_id"), "ious", ["debtor_id", "status", "creditor_id"]
    )
    op.create_table(
        "ledger_transfers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=140), nullable=False),
        sa.Column(
            "from_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "to_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("from_balance", sa.BigInteger(), nullable=False),
        sa.Column("to_balance", sa.BigInteger(), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "WELCOME",
                "BOUNTY_HOLD",
                "BOUNTY_AWARD",
                "BOUNTY_REFUND",
                "TIP",
                "GIFT",
                "BROKER_SHARE",
                "IOU_SETTLEMENT",
                name="transferreason",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "help_request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("offer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("iou_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("intro_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("memo", sa.String(length=280), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_transfers_positive")),
        sa.CheckConstraint(
            "from_account_id <> to_account_id", name=op.f("ck_ledger_transfers_two_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["members.id"], name=op.f("fk_ledger_transfers_actor_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["from_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_transfers_from_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["help_request_id"],
            ["help_requests.id"],
            name=op.f("fk_ledger_transfers_help_request_id_help_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["intro_id"], ["intros.id"], name=op.f("fk_ledger_transfers_intro_id_intros")
        ),
        sa.ForeignKeyConstraint(
            ["iou_id"], ["ious.id"], name=op.f("fk_ledger_transfers_iou_id_ious")
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_ledger_transfers_offer_id_offers")
        ),
        sa.ForeignKeyConstraint(
            ["to_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_transfers_to_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfers")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_transfers_key")),
    )
    op.create_index(
        op.f("ix_ledger_transfers_from_account_id_id"),
        "ledger_transfers",
        ["from_account_id", "id"],
    )
    op.create_index(
        op.f("ix_ledger_transfers_reason_to_account_id_created_at"),
        "ledger_transfers",
        ["reason", "to_account_id", "created_at"],
    )
    op.create_index(
        op.f("ix_ledger_transfers_to_account_id_id"), "ledger_transfers", ["to_account_id", "id"]
    )

    # The journal is append-only: the database itself refuses to change or remove a transfer.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION ledger_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'ledger transfers are immutable (% refused)', TG_OP
                    USING ERRCODE = 'restrict_violation';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON "
            "ledger_transfers FOR EACH ROW EXECUTE FUNCTION ledger_transfers_immutable()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ledger_transfers_no_{action.lower()} BEFORE {action} ON "
                "ledger_transfers BEGIN SELECT RAISE(ABORT, 'ledger transfers are immutable'); "
                "END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_transfers_immutable ON ledger_transfers")
        op.execute("DROP FUNCTION ledger_transfers_immutable()")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER ledger_transfers_no_{action}")
    op.drop_index(op.f("ix_ledger_transfers_to_account_id_id"), table_name="ledger_transfers")
    op.drop_index(
        op.f("ix_ledger_transfers_reason_to_account_id_created_at"), table_name="ledger_transfers"
    )
    op.drop_index(op.f("ix_ledger_transfers_from_account_id_id"), table_name="ledger_transfers")
    op.drop_table("ledger_transfers")
    op.drop_index(op.f("ix_ious_debtor_id_status_creditor_id"), table_name="ious")
    op.drop_index(op.f("ix_ious_creditor_id_status"), table_name="ious")
    op.drop_index(op.f("ix_ious_called_in_request_id"), table_name="ious")
    op.drop_table("ious")
    op.drop_index(op.f("ix_ledger_accounts_member_id"), table_name="ledger_accounts")
    op.drop_table("ledger_accounts")
    op.drop_table("idempotency_keys")
