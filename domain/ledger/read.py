"""Reading the ledger: a member's karma and statement, their IOUs, and their reciprocity.

Pages follow the id order of transfers and IOUs (newest first): ids only grow, so a page
never shifts when something new is written. ``backward`` reads the page before ``before``
(or the last page of the list), for Relay's ``last``. Every read costs a fixed number of statements.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.ledger.core import karma_account
from domain.ledger.models import Account, Iou, IouStatus, Transfer, TransferReason
from domain.ledger.rules import Band, band
from domain.marketplace.models import HelpRequest, Offer
from domain.marketplace.rules import OfferStatus
from domain.paging import Page
from domain.store import any_of

_OTHER = aliased(Account, name="other_account")
# Karma a member earns by giving (a welcome grant or a refund of their own bounty is not
# earned), and karma they spend on others.
EARNED = (
    TransferReason.BOUNTY_AWARD,
    TransferReason.TIP,
    TransferReason.GIFT,
    TransferReason.BROKER_SHARE,
    TransferReason.IOU_SETTLEMENT,
)
SPENT = (TransferReason.TIP, TransferReason.GIFT, TransferReason.IOU_SETTLEMENT)


@dataclasses.dataclass(frozen=True)
class KarmaView:
    available: int  # spendable now
    held: int  # in escrow for the member's open requests

    @property
    def balance(self) -> int:
        return self.available + self.held


@dataclasses.dataclass(frozen=True)
class Entry:
    """A transfer as one account sees it."""

    transfer: Transfer
    change: int  # signed: positive into the account
    balance_after: int
    counterparty_id: int | None  # the member on the other side, if a member


@dataclasses.dataclass(frozen=True)
class ReciprocityView:
    help_given: int = 0
    help_received: int = 0
    karma_earned: int = 0
    karma_spent: int = 0
    ious_held: int = 0
    ious_owed: int = 0

    @property
    def band(self) -> Band:
        return band(help_given=self.help_given, help_received=self.help_received)


async def karma_of(session: AsyncSession, member_id: int) -> KarmaView:
    """Return what a member has: available, and held in escrow for their requests."""
    available = select(Account.balance).where(Account.name == karma_account(member_id))
    held = (
        select(func.coalesce(func.sum(Account.balance), 0))
        .join(HelpRequest, HelpRequest.id == Account.help_request_id)
        .where(HelpRequest.author_id == member_id)
    )
    row = (
        await session.execute(
            select(available.scalar_subquery().label("available"), held.scalar_subquery())
        )
    ).one()
    return KarmaView(available=int(row[0] or 0), held=int(row[1] or 0))


def _keyset(statement: Any, column: Any, after: int | None, before: int | None) -> Any:
    if after is not None:
        statement = statement.where(column < after)
    if before is not None:
        statement = statement.where(column > before)
    return statement


async def statement_of(
    session: AsyncSession,
    member_id: int,
    *,
    limit: int,
    after: int | None = None,
    before: int | None = None,
    backward: bool = False,
) -> Page[Entry]:
    """Return a page of the transfers into and out of a member's karma, newest first."""
    account_id = await session.scalar(
        select(Account.id).where(Account.name == karma_account(member_id))
    )
    if account_id is None:
        return Page([], False, False)
    sides = []
    for mine, theirs, sign in (
        (Transfer.from_account_id, Transfer.to_account_id, -1),
        (Transfer.to_account_id, Transfer.from_account_id, 1),
    ):
        side = _keyset(
            select(
                Transfer.id.label("id"),
                literal(sign).label("sign"),
                _OTHER.member_id.label("counterparty_id"),
            )
            .join(_OTHER, _OTHER.id == theirs)
            .where(mine == account_id),
            Transfer.id,
            after,
            before,
        )
        order = Transfer.id.asc() if backward else Transfer.id.desc()
        sides.append(side.order_by(order).limit(limit + 1))
    both = union_all(*(side.subquery().select() for side in sides)).subquery()
    order = both.c.id.asc() if backward else both.c.id.desc()
    rows = (
        await session.execute(
            select(Transfer, both.c.sign, both.c.counterparty_id)
            .join(both, both.c.id == Transfer.id)
            .order_by(order)
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = list(rows[:limit])
    if backward:
        rows.reverse()
    entries = [
        Entry(
            transfer=row[0],
            change=row.sign * row[0].amount,
            balance_after=row[0].to_balance if row.sign > 0 else row[0].from_balance,
            counterparty_id=row.counterparty_id,
        )
        for row in rows
    ]
    return Page(
        entries,
        has_next=(before is not None) if backward else more,
        has_previous=more if backward else after is not None,
    )


async def entries_by_ids(
    session: AsyncSession, *, viewer_id: int, transfer_ids: Sequence[int]
) -> dict[int, Entry]:
    """Return the transfers among these that move the viewer's karma, as the viewer sees them."""
    if not transfer_ids:
        return {}
    mine = aliased(Account, name="mine")
    source, target = aliased(Account, name="source"), aliased(Account, name="target")
    rows = await session.execute(
        select(Transfer, source.member_id, target.member_id)
        .join(source, source.id == Transfer.from_account_id)
        .join(target, target.id == Transfer.to_account_id)
        .join(mine, mine.name == karma_account(viewer_id))
        .where(
            Transfer.id.in_(transfer_ids),
            or_(Transfer.from_account_id == mine.id, Transfer.to_account_id == mine.id),
        )
    )
    found: dict[int, Entry] = {}
    for row, source_member, target_member in rows:
        incoming = target_member == viewer_id
        found[row.id] = Entry(
            transfer=row,
            change=row.amount if incoming else -row.amount,
            balance_after=row.to_balance if incoming else row.from_balance,
            counterparty_id=source_member if incoming else target_member,
        )
    return found


async def ious_of(
    session: AsyncSession,
    member_id: int,
    *,
    owed: bool | None,
    statuses: Sequence[IouStatus],
    limit: int,
    after: int | None = None,
    before: int | None = None,
    backward: bool = False,
) -> Page[Iou]:
    """Return a page of a member's IOUs (owed by them, held by them, or both), newest first."""
    mine = {
        True: Iou.debtor_id == member_id,
        False: Iou.creditor_id == member_id,
        None: or_(Iou.debtor_id == member_id, Iou.creditor_id == member_id),
    }[owed]
    statement = _keyset(select(Iou).where(mine), Iou.id, after, before)
    if statuses:
        statement = statement.where(Iou.status.in_(statuses))
    statement = statement.order_by(Iou.id.asc() if backward else Iou.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(statement)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        rows.reverse()
    return Page(
        rows,
        has_next=(before is not None) if backward else more,
        has_previous=more if backward else after is not None,
    )


async def ious_by_ids(
    session: AsyncSession, *, viewer_id: int, iou_ids: Sequence[int]
) -> dict[int, Iou]:
    """Return the IOUs among these the viewer is party to."""
    rows = await session.scalars(
        select(Iou).where(
            Iou.id.in_(iou_ids), or_(Iou.debtor_id == viewer_id, Iou.creditor_id == viewer_id)
        )
    )
    return {row.id: row for row in rows}


async def help_exchanged(
    session: AsyncSession, member_ids: Collection[int]
) -> dict[int, tuple[int, int]]:
    """Return, for each member who has any, the help they gave and received (completed
    offers), in one statement."""
    completed = Offer.status == OfferStatus.COMPLETED
    rows = await session.execute(
        union_all(
            select(Offer.helper_id, literal(0), func.count())
            .where(any_of(session, Offer.helper_id, member_ids), completed)
            .group_by(Offer.helper_id),
            select(HelpRequest.author_id, literal(1), func.count())
            .join(Offer, Offer.help_request_id == HelpRequest.id)
            .where(any_of(session, HelpRequest.author_id, member_ids), completed)
            .group_by(HelpRequest.author_id),
        )
    )
    found: dict[int, list[int]] = {}
    for member_id, received, count in rows:
        found.setdefault(member_id, [0, 0])[received] += int(count)
    return {member_id: (given, taken) for member_id, (given, taken) in found.items()}


async def reciprocity(
    session: AsyncSession, member_ids: Sequence[int]
) -> dict[int, ReciprocityView]:
    """Return each member's give and take, derived from completed help and the journal.

    Three statements for any number of members: help given and received
    (``help_exchanged``), karma earned and spent, IOUs held and owed.
    """
    ids = list(member_ids)
    if not ids:
        return {}
    figures: dict[int, dict[str, int]] = {member_id: {} for member_id in ids}
    for member_id, (given, received) in (await help_exchanged(session, ids)).items():
        figures[member_id].update(help_given=given, help_received=received)
    source, target = aliased(Account, name="source"), aliased(Account, name="target")
    karma_rows: Any = await session.execute(
        union_all(
            select(target.member_id, literal("karma_earned"), func.sum(Transfer.amount))
            .join(target, target.id == Transfer.to_account_id)
            .where(target.member_id.in_(ids), Transfer.reason.in_(EARNED))
            .group_by(target.member_id),
            select(source.member_id, literal("karma_spent"), func.sum(Transfer.amount))
            .join(source, source.id == Transfer.from_account_id)
            .where(source.member_id.in_(ids), Transfer.reason.in_(SPENT))
            .group_by(source.member_id),
            # Bounties are paid out of escrow: spent by the request's author.
            select(HelpRequest.author_id, literal("karma_spent"), func.sum(Transfer.amount))
            .join(HelpRequest, HelpRequest.id == Transfer.help_request_id)
            .where(HelpRequest.author_id.in_(ids), Transfer.reason == TransferReason.BOUNTY_AWARD)
            .group_by(HelpRequest.author_id),
        )
    )
    outstanding = Iou.status == IouStatus.OUTSTANDING
    iou_rows = await session.execute(
        select(Iou.creditor_id, literal("ious_held"), func.count())
        .where(outstanding, Iou.creditor_id.in_(ids))
        .group_by(Iou.creditor_id)
        .union_all(
            select(Iou.debtor_id, literal("ious_owed"), func.count())
            .where(outstanding, Iou.debtor_id.in_(ids))
            .group_by(Iou.debtor_id)
        )
    )
    for rows in (karma_rows, iou_rows):
        for member_id, name, value in rows:
            if member_id in figures:
                figures[member_id][name] = figures[member_id].get(name, 0) + int(value or 0)
    return {member_id: ReciprocityView(**values) for member_id, values in figures.items()}


__all__ = [
    "Entry",
    "KarmaView",
    "Page",
    "ReciprocityView",
    "entries_by_ids",
    "help_exchanged",
    "ious_by_ids",
    "ious_of",
    "karma_of",
    "reciprocity",
    "statement_of",
]
