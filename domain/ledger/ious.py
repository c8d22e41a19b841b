"""IOUs: postpaid favours, from issue (help completed "on an IOU") to settlement.

``OUTSTANDING → SETTLED`` (the debtor pays its value in karma, or helps the creditor back
on one of their requests) or ``OUTSTANDING → FORGIVEN`` (the creditor alone). Each command
locks the IOU's row first (a settle or forgive by its guarded UPDATE), so a settle and a
forgive at once end in one of them.
"""

from __future__ import annotations

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import InstrumentedAttribute

from domain.errors import Code, DomainError, not_found
from domain.events import IouCalledIn, IouForgiven, IouIssued, IouSettled
from domain.ledger.core import Posting, karma_account, transfer
from domain.ledger.models import Iou, IouResolution, IouStatus, TransferReason
from domain.ledger.rules import LedgerPolicy
from domain.marketplace.models import HelpRequest
from domain.marketplace.request_read import sees_request, shown_status
from domain.marketplace.rules import HelpRequestStatus
from domain.store import Transaction


async def owed_count(tx: Transaction, member_id: int) -> int:
    """Return how many IOUs a member owes and has not settled."""
    count = await tx.session.scalar(
        select(func.count())
        .select_from(Iou)
        .where(Iou.debtor_id == member_id, Iou.status == IouStatus.OUTSTANDING)
    )
    return int(count or 0)


async def refuse_over_cap(
    tx: Transaction, member_id: int, policy: LedgerPolicy, field: str
) -> None:
    """Refuse a new IOU from a member who already owes as many as the cap allows."""
    owed = await owed_count(tx, member_id)
    if owed >= policy.max_ious_owed:
        raise DomainError(
            Code.LIMIT_EXCEEDED,
            f"you owe {owed} IOUs (at most {policy.max_ious_owed}): settle one before "
            "asking on an IOU",
            field,
        )


async def issue_iou(
    tx: Transaction,
    *,
    debtor_id: int,
    creditor_id: int,
    help_request_id: int,
    offer_id: int,
    policy: LedgerPolicy,
) -> Iou:
    """Record that the requester owes their helper one (called by ``complete_help``)."""
    await refuse_over_cap(tx, debtor_id, policy, "settlement")
    iou = Iou(
        debtor_id=debtor_id,
        creditor_id=creditor_id,
        status=IouStatus.OUTSTANDING,
        value=policy.iou_value,
        offer_id=offer_id,
        help_request_id=help_request_id,
        created_at=tx.now,
    )
    tx.session.add(iou)
    await tx.session.flush()
    tx.emit(
        IouIssued(
            actor_id=debtor_id,
            iou_id=iou.id,
            debtor_id=debtor_id,
            creditor_id=creditor_id,
            help_request_id=help_request_id,
            offer_id=offer_id,
            value=iou.value,
        )
    )
    return iou


async def _iou_for(tx: Transaction, iou_id: int, actor_id: int) -> Iou:
    """Lock an IOU the actor is party to (others' IOUs do not exist for them)."""
    iou = await tx.session.get(Iou, iou_id, with_for_update=True, populate_existing=True)
    if iou is None or actor_id not in (iou.debtor_id, iou.creditor_id):
        raise not_found("IOU", "iou_id")
    return iou


def _require_outstanding(iou: Iou) -> None:
    if iou.status is not IouStatus.OUTSTANDING:
        raise DomainError(
            Code.INVALID_TRANSITION, f"this IOU is already {iou.status.value.lower()}", "iou_id"
        )


async def settle_iou(tx: Transaction, *, actor_id: int, iou_id: int) -> Iou:
    """Settle an IOU the actor owes by paying its value in karma to the creditor."""
    iou = await _close_as(
        tx,
        iou_id,
        actor_id,
        Iou.debtor_id,
        IouStatus.SETTLED,
        IouResolution.KARMA,
        refusal="only the debtor settles an IOU",
    )
    # The karma moves after the IOU closes: if the debtor cannot cover it, the command fails
    # and the IOU's change rolls back with it.
    transfer_id = await transfer(
        tx,
        Posting(
            key=f"iou:{iou.id}:settle",
            source=karma_account(iou.debtor_id),
            target=karma_account(iou.creditor_id),
            amount=iou.value,
            reason=TransferReason.IOU_SETTLEMENT,
            actor_id=actor_id,
            help_request_id=iou.help_request_id,
            iou_id=iou.id,
            field="iou_id",
        ),
    )
    tx.emit(_settled(iou, actor_id, transfer_id=transfer_id))
    return iou


async def forgive_iou(tx: Transaction, *, actor_id: int, iou_id: int) -> Iou:
    """Let an IOU owed to the actor go."""
    iou = await _close_as(
        tx,
        iou_id,
        actor_id,
        Iou.creditor_id,
        IouStatus.FORGIVEN,
        IouResolution.FORGIVEN,
        refusal="only the creditor can forgive an IOU",
    )
    tx.emit(
        IouForgiven(
            actor_id=actor_id, iou_id=iou.id, debtor_id=iou.debtor_id, creditor_id=iou.creditor_id
        )
    )
    return iou


async def _close_as(
    tx: Transaction,
    iou_id: int,
    actor_id: int,
    party: InstrumentedAttribute[int],
    status: IouStatus,
    resolution: IouResolution,
    *,
    refusal: str,
) -> Iou:
    """Close an outstanding IOU the actor is ``party`` to, in one guarded UPDATE.

    The UPDATE locks the row, so a settle and a forgive at once end in one of them; when it
    changes nothing, the IOU is read again to say why.
    """
    closed: Iou | None = await tx.session.scalar(
        update(Iou)
        .where(Iou.id == iou_id, party == actor_id, Iou.status == IouStatus.OUTSTANDING)
        .values(status=status, resolution=resolution, settled_at=tx.now)
        .returning(Iou),
        execution_options={"populate_existing": True},
    )
    if closed is not None:
        return closed
    iou = await _iou_for(tx, iou_id, actor_id)
    if getattr(iou, party.key) != actor_id:
        raise DomainError(Code.FORBIDDEN, refusal, "iou_id")
    _require_outstanding(iou)
    raise DomainError(Code.INVALID_TRANSITION, "this IOU cannot change now", "iou_id")


async def call_in_iou(tx: Transaction, *, actor_id: int, iou_id: int, help_request_id: int) -> Iou:
    """Ask the debtor of an IOU owed to the actor to help on one of the actor's requests."""
    iou = await _iou_for(tx, iou_id, actor_id)
    if iou.creditor_id != actor_id:
        raise DomainError(Code.FORBIDDEN, "only the creditor can call in an IOU", "iou_id")
    _require_outstanding(iou)
    request = await tx.session.get(HelpRequest, help_request_id)
    if request is None or request.author_id != actor_id:
        raise not_found("help request of yours", "help_request_id")
    status = shown_status(request, tx.now)
    if status not in (HelpRequestStatus.OPEN, HelpRequestStatus.IN_PROGRESS):
        raise DomainError(
            Code.INVALID_TRANSITION,
            f"this request is {status.value.lower().replace('_', ' ')}",
            "help_request_id",
        )
    if not await sees_request(tx.session, request, iou.debtor_id):
        raise DomainError(
            Code.FORBIDDEN,
            "the member who owes you cannot see this request: widen its audience first",
            "help_request_id",
        )
    iou.called_in_request_id, iou.called_in_at = request.id, tx.now
    await tx.session.flush()
    tx.emit(
        IouCalledIn(
            actor_id=actor_id,
            iou_id=iou.id,
            debtor_id=iou.debtor_id,
            creditor_id=iou.creditor_id,
            help_request_id=request.id,
        )
    )
    return iou


async def settle_by_help(
    tx: Transaction, *, debtor_id: int, creditor_id: int, help_request_id: int, offer_id: int
) -> Iou | None:
    """Settle what a helper owed the requester they just helped, if anything.

    One IOU per help: the one called in for this request first, else the oldest.
    """
    iou = await tx.session.scalar(
        select(Iou)
        .where(
            Iou.debtor_id == debtor_id,
            Iou.creditor_id == creditor_id,
            Iou.status == IouStatus.OUTSTANDING,
        )
        .order_by(case((Iou.called_in_request_id == help_request_id, 0), else_=1), Iou.id)
        .limit(1)
        .with_for_update()
    )
    if iou is None:
        return None
    iou.status, iou.resolution, iou.settled_at = (
        IouStatus.SETTLED,
        IouResolution.HELPED_BACK,
        tx.now,
    )
    iou.settling_offer_id = offer_id
    await tx.session.flush()
    tx.emit(_settled(iou, creditor_id, offer_id=offer_id))
    return iou


def _settled(
    iou: Iou, actor_id: int, *, transfer_id: int | None = None, offer_id: int | None = None
) -> IouSettled:
    assert iou.resolution is not None
    return IouSettled(
        actor_id=actor_id,
        iou_id=iou.id,
        debtor_id=iou.debtor_id,
        creditor_id=iou.creditor_id,
        resolution=iou.resolution.value,
        transfer_id=transfer_id,
        offer_id=offer_id,
    )
