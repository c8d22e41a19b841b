"""The ledger's invariants, checked against the database: what tests, the benchmark and an
operator (``python -m api ledger-check``) run to prove nothing was created or lost."""

from __future__ import annotations

from sqlalchemy import case, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger.models import Account, AccountKind, Iou, IouResolution, Transfer, TransferReason
from domain.marketplace.models import HelpRequest
from domain.marketplace.rules import HelpRequestStatus

CLOSED = (HelpRequestStatus.FULFILLED, HelpRequestStatus.CANCELLED, HelpRequestStatus.EXPIRED)


async def violations(session: AsyncSession) -> list[str]:
    """Return every broken invariant, described; an empty list means the ledger is sound.

    - conservation: the balances of all accounts sum to zero (the issuer's is the negative
      of all karma ever issued);
    - bounds: no account is below its lower bound;
    - replay: each account's cached balance equals its transfers in minus its transfers out;
    - escrow: a closed request's escrow is empty;
    - IOUs: an IOU settled in karma has exactly one settlement transfer, any other none.
    """
    found: list[str] = []
    total = await session.scalar(select(func.coalesce(func.sum(Account.balance), 0)))
    if total:
        found.append(f"conservation: balances sum to {total}, not 0")
    below = await session.execute(
        select(Account.name, Account.balance, Account.lower_bound).where(
            Account.lower_bound.is_not(None), Account.balance < Account.lower_bound
        )
    )
    found += [f"bounds: {name} holds {bal} below {low}" for name, bal, low in below]
    moves = union_all(
        select(Transfer.to_account_id.label("account_id"), Transfer.amount.label("change")),
        select(Transfer.from_account_id, -Transfer.amount),
    ).subquery()
    replayed = (
        select(moves.c.account_id, func.sum(moves.c.change).label("sum"))
        .group_by(moves.c.account_id)
        .subquery()
    )
    drift = await session.execute(
        select(Account.name, Account.balance, func.coalesce(replayed.c.sum, 0))
        .outerjoin(replayed, replayed.c.account_id == Account.id)
        .where(Account.balance != func.coalesce(replayed.c.sum, 0))
    )
    found += [f"replay: {name} caches {bal}, its transfers sum to {s}" for name, bal, s in drift]
    stuck = await session.execute(
        select(Account.name, Account.balance, HelpRequest.status)
        .join(HelpRequest, HelpRequest.id == Account.help_request_id)
        .where(
            Account.kind == AccountKind.ESCROW,
            Account.balance != 0,
            HelpRequest.status.in_(CLOSED),
        )
    )
    found += [f"escrow: {name} holds {bal} after {st.value}" for name, bal, st in stuck]
    settlements = (
        select(Transfer.iou_id, func.count().label("n"))
        .where(Transfer.reason == TransferReason.IOU_SETTLEMENT)
        .group_by(Transfer.iou_id)
        .subquery()
    )
    expected = case((Iou.resolution == IouResolution.KARMA, 1), else_=0)
    wrong = await session.execute(
        select(Iou.id, Iou.status, func.coalesce(settlements.c.n, 0))
        .outerjoin(settlements, settlements.c.iou_id == Iou.id)
        .where(func.coalesce(settlements.c.n, 0) != func.coalesce(expected, 0))
    )
    found += [
        f"iou: {iou_id} is {status.value} with {n} settlement transfer(s)"
        for iou_id, status, n in wrong
    ]
    return found
