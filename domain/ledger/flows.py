"""Karma flows: what each product event moves, with a key that makes it happen once.

Every flow runs inside the transaction of the command that causes it (posting a request,
completing help, accepting an intro), so the move and its cause commit together or not at
all. A bounty lives in its request's escrow account from posting until the request closes:
helpers are paid from it, and whatever is left goes back to the author, so an award and a
refund can never both spend the same karma.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from domain.errors import Code, DomainError, invalid, not_found
from domain.ledger.core import (
    ISSUER,
    Posting,
    escrow_account,
    karma_account,
    locked_balance,
    transfer,
)
from domain.ledger.models import Account, Transfer, TransferReason
from domain.ledger.rules import LedgerPolicy
from domain.members.models import Member
from domain.members.rules import optional_text
from domain.members.visibility import can_see, relations
from domain.network.blocks import blocked_between
from domain.store import Transaction

MAX_MEMO = 280
BROKER_WINDOW = dt.timedelta(days=7)


async def grant_welcome(tx: Transaction, *, member_id: int, amount: int) -> None:
    """Credit a new member's welcome karma from the issuer."""
    if amount > 0:
        await transfer(
            tx,
            Posting(
                key=f"welcome:{member_id}",
                source=ISSUER,
                target=karma_account(member_id),
                amount=amount,
                reason=TransferReason.WELCOME,
                actor_id=member_id,
            ),
        )


async def hold_bounty(
    tx: Transaction, *, author_id: int, help_request_id: int, bounty: int
) -> None:
    """Move a new request's bounty from its author's karma into its escrow."""
    await transfer(
        tx,
        Posting(
            key=f"bounty:{help_request_id}:hold",
            source=karma_account(author_id),
            target=escrow_account(help_request_id),
            amount=bounty,
            reason=TransferReason.BOUNTY_HOLD,
            actor_id=author_id,
            help_request_id=help_request_id,
            field="bounty",
        ),
    )


async def award_bounty(
    tx: Transaction,
    *,
    actor_id: int,
    help_request_id: int,
    offer_id: int,
    helper_id: int,
    amount: int,
) -> None:
    """Pay a helper their share of a request's bounty out of its escrow."""
    await transfer(
        tx,
        Posting(
            key=f"bounty:{help_request_id}:award:{offer_id}",
            source=escrow_account(help_request_id),
            target=karma_account(helper_id),
            amount=amount,
            reason=TransferReason.BOUNTY_AWARD,
            actor_id=actor_id,
            help_request_id=help_request_id,
            offer_id=offer_id,
            field="settlement",
        ),
    )


async def refund_bounty(
    tx: Transaction, *, actor_id: int | None, help_request_id: int, author_id: int
) -> int:
    """Return what is left in a closing request's escrow to its author; return how much.

    The caller holds the request's row, so nothing else moves this escrow meanwhile; the
    guarded debit would refuse a second refund anyway.
    """
    left = await locked_balance(tx, escrow_account(help_request_id))
    if left > 0:
        await transfer(
            tx,
            Posting(
                key=f"bounty:{help_request_id}:refund",
                source=escrow_account(help_request_id),
                target=karma_account(author_id),
                amount=left,
                reason=TransferReason.BOUNTY_REFUND,
                actor_id=actor_id,
                help_request_id=help_request_id,
            ),
        )
    return left


async def tip(
    tx: Transaction,
    *,
    requester_id: int,
    helper_id: int,
    help_request_id: int,
    offer_id: int,
    amount: int,
) -> None:
    """Move a requester's tip to their helper."""
    await transfer(
        tx,
        Posting(
            key=f"tip:{offer_id}",
            source=karma_account(requester_id),
            target=karma_account(helper_id),
            amount=amount,
            reason=TransferReason.TIP,
            actor_id=requester_id,
            help_request_id=help_request_id,
            offer_id=offer_id,
            field="tip",
        ),
    )


async def send_karma(
    tx: Transaction,
    *,
    actor_id: int,
    to_member_id: int,
    amount: int,
    memo: str | None,
    key: str,
    policy: LedgerPolicy,
) -> int:
    """Give karma to a member the actor can see (a thank-you, or paying it forward)."""
    if to_member_id == actor_id:
        raise invalid("you cannot send karma to yourself", "to_member_id")
    if not 1 <= amount <= policy.max_gift:
        raise invalid(f"send 1 to {policy.max_gift} karma", "amount")
    try:
        memo = optional_text(memo, limit=MAX_MEMO)
    except ValueError as problem:
        raise invalid(str(problem), "memo") from None
    member = await tx.session.get(Member, to_member_id)
    related = await relations(tx.session, viewer_id=actor_id, member_ids=[to_member_id])
    if member is None or not can_see(member.visibility, related[to_member_id]):
        raise not_found("member", "to_member_id")
    if await blocked_between(tx.session, actor_id, to_member_id):
        raise DomainError(Code.FORBIDDEN, "you cannot send karma to this member", "to_member_id")
    return await transfer(
        tx,
        Posting(
            key=key,
            source=karma_account(actor_id),
            target=karma_account(to_member_id),
            amount=amount,
            reason=TransferReason.GIFT,
            actor_id=actor_id,
            memo=memo,
        ),
    )


async def broker_share(
    tx: Transaction, *, actor_id: int, intro_id: int, broker_id: int, policy: LedgerPolicy
) -> int:
    """Credit a broker for an accepted intro, within their weekly cap; return how much.

    The broker's karma account row is locked first, so two intros accepted at once cannot
    both pass the cap.
    """
    if policy.broker_share <= 0:
        return 0
    account = karma_account(broker_id)
    await locked_balance(tx, account)
    earned = await tx.session.scalar(
        select(func.coalesce(func.sum(Transfer.amount), 0))
        .join(Account, Account.id == Transfer.to_account_id)
        .where(
            Account.name == account,
            Transfer.reason == TransferReason.BROKER_SHARE,
            Transfer.created_at > tx.now - BROKER_WINDOW,
        )
    )
    amount = min(policy.broker_share, policy.broker_weekly_cap - int(earned or 0))
    if amount <= 0:
        return 0
    await transfer(
        tx,
        Posting(
            key=f"broker:{intro_id}",
            source=ISSUER,
            target=account,
            amount=amount,
            reason=TransferReason.BROKER_SHARE,
            actor_id=actor_id,
            intro_id=intro_id,
        ),
    )
    return amount
