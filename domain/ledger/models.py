"""Tables of the ledger: accounts with cached balances, immutable transfers, and IOUs."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from domain.store import Base, Id, enum_column


class AccountKind(enum.Enum):
    ISSUER = "ISSUER"  # the system's source of karma: the only account allowed below zero
    KARMA = "KARMA"  # a member's spendable karma
    ESCROW = "ESCROW"  # a help request's bounty, held from posting to completion


class TransferReason(enum.Enum):
    WELCOME = "WELCOME"  # issuer → member, on sign-up
    BOUNTY_HOLD = "BOUNTY_HOLD"  # author → escrow, on posting
    BOUNTY_AWARD = "BOUNTY_AWARD"  # escrow → helper, on completion with BOUNTY
    BOUNTY_REFUND = "BOUNTY_REFUND"  # escrow → author, what is left once the request closes
    TIP = "TIP"  # requester → helper, on completion
    GIFT = "GIFT"  # member → member: sendKarma
    BROKER_SHARE = "BROKER_SHARE"  # issuer → broker, on an accepted intro
    IOU_SETTLEMENT = "IOU_SETTLEMENT"  # debtor → creditor, settling an IOU in karma


class IouStatus(enum.Enum):
    OUTSTANDING = "OUTSTANDING"
    SETTLED = "SETTLED"
    FORGIVEN = "FORGIVEN"


class IouResolution(enum.Enum):
    KARMA = "KARMA"  # the debtor paid its value in karma
    HELPED_BACK = "HELPED_BACK"  # the debtor completed help on one of the creditor's requests
    FORGIVEN = "FORGIVEN"  # the creditor let it go


class Account(Base):
    """A balance in karma units; ``balance`` always equals the replay of its transfers."""

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # "issuer", "karma:<member id>" or "escrow:<help request id>": one account per owner.
    name: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[AccountKind] = mapped_column(enum_column(AccountKind))
    member_id: Mapped[int | None] = mapped_column(Id, ForeignKey("members.id"), index=True)
    help_request_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("help_requests.id"), unique=True
    )
    balance: Mapped[int] = mapped_column(BigInteger)
    # No account goes below its bound (None: unbounded, the issuer alone).
    lower_bound: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime]

    __table_args__ = (
        # The guarded UPDATE enforces the bound; the database refuses a write that slips by.
        CheckConstraint("lower_bound IS NULL OR balance >= lower_bound", name="within_bound"),
    )


class Transfer(Base):
    """An immutable move of ``amount`` from one account to another (the database refuses
    UPDATE and DELETE); ``key`` is its idempotency key."""

    __tablename__ = "ledger_transfers"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(140), unique=True)
    from_account_id: Mapped[int] = mapped_column(Id, ForeignKey("ledger_accounts.id"))
    to_account_id: Mapped[int] = mapped_column(Id, ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    # Each side's balance once this transfer was posted: a statement's running balance.
    from_balance: Mapped[int] = mapped_column(BigInteger)
    to_balance: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[TransferReason] = mapped_column(enum_column(TransferReason))
    # The member whose action caused it, and what it belongs to.
    actor_id: Mapped[int | None] = mapped_column(Id, ForeignKey("members.id"))
    help_request_id: Mapped[int | None] = mapped_column(Id, ForeignKey("help_requests.id"))
    offer_id: Mapped[int | None] = mapped_column(Id, ForeignKey("offers.id"))
    iou_id: Mapped[int | None] = mapped_column(Id, ForeignKey("ious.id"))
    intro_id: Mapped[int | None] = mapped_column(Id, ForeignKey("intros.id"))
    memo: Mapped[str | None] = mapped_column(String(280))
    created_at: Mapped[dt.datetime]

    __table_args__ = (
        CheckConstraint("amount > 0", name="positive"),
        CheckConstraint("from_account_id <> to_account_id", name="two_accounts"),
        Index(None, "from_account_id", "id"),
        Index(None, "to_account_id", "id"),
        Index(None, "reason", "to_account_id", "created_at"),
    )


class Iou(Base):
    """ "I owe you one": the requester (debtor) owes the helper (creditor) a favour."""

    __tablename__ = "ious"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    debtor_id: Mapped[int] = mapped_column(Id, ForeignKey("members.id"))
    creditor_id: Mapped[int] = mapped_column(Id, ForeignKey("members.id"))
    status: Mapped[IouStatus] = mapped_column(enum_column(IouStatus))
    # What settling it in karma costs, fixed when it was issued.
    value: Mapped[int]
    # The help it was issued for: one IOU per completed offer.
    offer_id: Mapped[int] = mapped_column(Id, ForeignKey("offers.id"), unique=True)
    help_request_id: Mapped[int] = mapped_column(Id, ForeignKey("help_requests.id"))
    created_at: Mapped[dt.datetime]
    resolution: Mapped[IouResolution | None] = mapped_column(enum_column(IouResolution))
    settled_at: Mapped[dt.datetime | None]
    # The offer by which the debtor helped back (a karma settlement is a transfer naming it).
    settling_offer_id: Mapped[int | None] = mapped_column(Id, ForeignKey("offers.id"))
    # A request of the creditor's the debtor is asked to help on first.
    called_in_request_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("help_requests.id"), index=True
    )
    called_in_at: Mapped[dt.datetime | None]

    __table_args__ = (
        CheckConstraint("debtor_id <> creditor_id", name="two_members"),
        CheckConstraint("value > 0", name="positive"),
        Index(None, "debtor_id", "status", "creditor_id"),
        Index(None, "creditor_id", "status"),
    )
