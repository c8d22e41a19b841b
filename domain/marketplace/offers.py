"""Commands on offers of help: offering, withdrawing, accepting, declining, completing.

Every command locks the help request's row first, so two offers, an accept and a
withdrawal, or a double click cannot interleave; the state machines of ``rules`` refuse
what does not follow, saying which state the offer or request is in.
"""

from __future__ import annotations

from sqlalchemy import func, select

from domain.errors import Code, DomainError, invalid, not_found
from domain.events import (
    HelpCompleted,
    HelpRequestFulfilled,
    OfferAccepted,
    OfferDeclined,
    OfferMade,
    OfferWithdrawn,
)
from domain.ledger import flows, ious
from domain.marketplace.models import HelpRequest, Offer
from domain.marketplace.request_read import sees_request
from domain.marketplace.rules import (
    LIVE_OFFERS,
    HelpRequestStatus,
    MarketPolicy,
    OfferStatus,
    Settlement,
    check_offer_transition,
    check_request_transition,
    settlement_problem,
)
from domain.matching import read as opportunities
from domain.matching.models import SubjectType
from domain.members.rules import optional_text
from domain.network.relationships import record_help
from domain.store import Transaction

MAX_MESSAGE = 1000
MAX_TIP = 1000


def _text(value: str | None, field: str) -> str | None:
    try:
        return optional_text(value, limit=MAX_MESSAGE)
    except ValueError as problem:
        raise invalid(str(problem), field) from None


async def _request_for(tx: Transaction, help_request_id: int, actor_id: int) -> HelpRequest:
    request = await tx.session.get(HelpRequest, help_request_id, with_for_update=True)
    if request is None or not await sees_request(tx.session, request, actor_id):
        raise not_found("help request", "help_request_id")
    return request


async def _offer_for(tx: Transaction, offer_id: int, actor_id: int) -> tuple[Offer, HelpRequest]:
    help_request_id = await tx.session.scalar(
        select(Offer.help_request_id).where(Offer.id == offer_id)
    )
    if help_request_id is None:
        raise not_found("offer", "offer_id")
    # The request first, then the offer: every command takes its locks in that order.
    request = await tx.session.get_one(HelpRequest, help_request_id, with_for_update=True)
    offer = await tx.session.get_one(Offer, offer_id, with_for_update=True)
    if actor_id not in (offer.helper_id, request.author_id):
        raise not_found("offer", "offer_id")
    return offer, request


def _refuse_unless_open(request: HelpRequest, tx: Transaction) -> None:
    if request.status is HelpRequestStatus.OPEN and request.expires_at <= tx.now:
        raise DomainError(Code.INVALID_TRANSITION, "this request has expired", "help_request_id")
    if request.status not in (HelpRequestStatus.OPEN, HelpRequestStatus.IN_PROGRESS):
        raise DomainError(
            Code.INVALID_TRANSITION,
            f"this request is {request.status.value.lower().replace('_', ' ')}",
            "help_request_id",
        )


async def offer_help(
    tx: Transaction, *, actor_id: int, help_request_id: int, message: str | None
) -> Offer:
    """Offer to help on a request the actor can see."""
    request = await _request_for(tx, help_request_id, actor_id)
    if request.author_id == actor_id:
        raise DomainError(Code.FORBIDDEN, "you cannot offer help on your own request")
    _refuse_unless_open(request, tx)
    if request.accepted_count >= request.max_helpers:
        raise DomainError(
            Code.LIMIT_EXCEEDED, "this request has all the helpers it asked for", "help_request_id"
        )
    live = await tx.session.scalar(
        select(func.count())
        .select_from(Offer)
        .where(
            Offer.help_request_id == request.id,
            Offer.helper_id == actor_id,
            Offer.status.in_(LIVE_OFFERS),
        )
    )
    if live:
        raise DomainError(
            Code.ALREADY_EXISTS, "you already offered help on this request", "help_request_id"
        )
    offer = Offer(
        help_request_id=request.id,
        helper_id=actor_id,
        message=_text(message, "message"),
        status=OfferStatus.PENDING,
        created_at=tx.now,
    )
    tx.session.add(offer)
    await tx.session.flush()
    await opportunities.mark_acted(
        tx, member_id=actor_id, subject_type=SubjectType.HELP_REQUEST, subject_id=request.id
    )
    tx.emit(
        OfferMade(
            actor_id=actor_id, offer_id=offer.id, help_request_id=request.id, helper_id=actor_id
        )
    )
    return offer


async def withdraw_offer(tx: Transaction, *, actor_id: int, offer_id: int) -> Offer:
    """Withdraw the actor's own offer, pending or accepted."""
    offer, request = await _offer_for(tx, offer_id, actor_id)
    if offer.helper_id != actor_id:
        raise DomainError(Code.FORBIDDEN, "only the helper can withdraw an offer", "offer_id")
    was_accepted = offer.status is OfferStatus.ACCEPTED
    check_offer_transition(offer.status, OfferStatus.WITHDRAWN)
    offer.status, offer.responded_at = OfferStatus.WITHDRAWN, tx.now
    if was_accepted:
        request.accepted_count -= 1
    await tx.session.flush()
    tx.emit(OfferWithdrawn(actor_id=actor_id, offer_id=offer.id, help_request_id=request.id))
    return offer


async def accept_offer(tx: Transaction, *, actor_id: int, offer_id: int) -> Offer:
    """Accept a pending offer on one of the actor's requests; the request is then under way."""
    offer, request = await _offer_for(tx, offer_id, actor_id)
    if request.author_id != actor_id:
        raise DomainError(Code.FORBIDDEN, "only the requester can accept an offer", "offer_id")
    _refuse_unless_open(request, tx)
    check_offer_transition(offer.status, OfferStatus.ACCEPTED)
    if request.accepted_count >= request.max_helpers:
        raise DomainError(
            Code.LIMIT_EXCEEDED,
            f"this request asked for {request.max_helpers} helper(s) and has them",
            "offer_id",
        )
    if request.status is HelpRequestStatus.OPEN:
        check_request_transition(request.status, HelpRequestStatus.IN_PROGRESS)
        request.status = HelpRequestStatus.IN_PROGRESS
    request.accepted_count += 1
    request.updated_at = tx.now
    offer.status, offer.responded_at = OfferStatus.ACCEPTED, tx.now
    await tx.session.flush()
    tx.emit(
        OfferAccepted(
            actor_id=actor_id,
            offer_id=offer.id,
            help_request_id=request.id,
            helper_id=offer.helper_id,
        )
    )
    return offer


async def decline_offer(tx: Transaction, *, actor_id: int, offer_id: int) -> Offer:
    """Decline a pending offer on one of the actor's requests."""
    offer, request = await _offer_for(tx, offer_id, actor_id)
    if request.author_id != actor_id:
        raise DomainError(Code.FORBIDDEN, "only the requester can decline an offer", "offer_id")
    check_offer_transition(offer.status, OfferStatus.DECLINED)
    offer.status, offer.responded_at = OfferStatus.DECLINED, tx.now
    await tx.session.flush()
    tx.emit(OfferDeclined(actor_id=actor_id, offer_id=offer.id, help_request_id=request.id))
    return offer


async def complete_help(
    tx: Transaction,
    *,
    actor_id: int,
    offer_id: int,
    settlement: Settlement,
    tip: int | None,
    note: str | None,
    policy: MarketPolicy,
) -> Offer:
    """Confirm an accepted offer's help, choosing how it is settled; the last one fulfils.

    The ledger settles it in the same transaction: the helper's share of the bounty out of
    escrow, the tip, or a new IOU; an IOU the helper owed the requester is settled by this
    help; and once the request is fulfilled, what is left in escrow goes back to its author.
    """
    offer, request = await _offer_for(tx, offer_id, actor_id)
    if request.author_id != actor_id:
        raise DomainError(Code.FORBIDDEN, "only the requester confirms help", "offer_id")
    check_offer_transition(offer.status, OfferStatus.COMPLETED)
    if problem := settlement_problem(
        settlement, bounty=request.bounty, offers_iou=request.offers_iou
    ):
        raise invalid(problem, "settlement")
    if tip is not None and not 1 <= tip <= MAX_TIP:
        raise invalid(f"a tip is 1 to {MAX_TIP} karma", "tip")
    offer.status, offer.completed_at = OfferStatus.COMPLETED, tx.now
    offer.settlement, offer.tip, offer.note = settlement, tip, _text(note, "note")
    await tx.session.flush()
    still_accepted = await tx.session.scalar(
        select(func.count())
        .select_from(Offer)
        .where(Offer.help_request_id == request.id, Offer.status == OfferStatus.ACCEPTED)
    )
    bounty_share = (
        request.bounty // request.max_helpers
        if settlement is Settlement.BOUNTY and request.bounty
        else None
    )
    if bounty_share:
        await flows.award_bounty(
            tx,
            actor_id=actor_id,
            help_request_id=request.id,
            offer_id=offer.id,
            helper_id=offer.helper_id,
            amount=bounty_share,
        )
    if settlement is Settlement.IOU:
        await ious.issue_iou(
            tx,
            debtor_id=request.author_id,
            creditor_id=offer.helper_id,
            help_request_id=request.id,
            offer_id=offer.id,
            policy=policy.ledger,
        )
    if tip:
        await flows.tip(
            tx,
            requester_id=request.author_id,
            helper_id=offer.helper_id,
            help_request_id=request.id,
            offer_id=offer.id,
            amount=tip,
        )
    await ious.settle_by_help(
        tx,
        debtor_id=offer.helper_id,
        creditor_id=request.author_id,
        help_request_id=request.id,
        offer_id=offer.id,
    )
    tx.emit(
        HelpCompleted(
            actor_id=actor_id,
            offer_id=offer.id,
            help_request_id=request.id,
            requester_id=request.author_id,
            helper_id=offer.helper_id,
            settlement=settlement.value,
            bounty_share=bounty_share,
            tip=tip,
        )
    )
    await record_help(tx, member_id=request.author_id, other_id=offer.helper_id)
    if not still_accepted:
        check_request_transition(request.status, HelpRequestStatus.FULFILLED)
        request.status = HelpRequestStatus.FULFILLED
        request.closed_at = request.updated_at = tx.now
        await tx.session.flush()
        await flows.refund_bounty(
            tx, actor_id=actor_id, help_request_id=request.id, author_id=request.author_id
        )
        tx.emit(HelpRequestFulfilled(actor_id=actor_id, help_request_id=request.id))
    return offer
