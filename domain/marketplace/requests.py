"""Commands on help requests: posting, editing, cancelling, and expiring them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, func, select, update

from domain.errors import Code, DomainError, invalid, not_found
from domain.events import (
    HelpRequestCancelled,
    HelpRequestEdited,
    HelpRequestExpired,
    HelpRequestPosted,
)
from domain.ledger import flows, ious
from domain.marketplace.models import (
    HelpRequest,
    HelpRequestCircle,
    HelpRequestMember,
    HelpRequestTag,
    Offer,
)
from domain.marketplace.request_read import shown_status, visible_requests
from domain.marketplace.rules import (
    LIVE_OFFERS,
    Audience,
    AudienceScope,
    HelpRequestDraft,
    HelpRequestStatus,
    MarketPolicy,
    OfferStatus,
    check_draft,
    check_request_transition,
    expiry_of,
)
from domain.members.models import Member, Tag, TagKind
from domain.members.service import UNSET, Unset
from domain.members.tagging import ensure_tags
from domain.members.visibility import can_see, relations
from domain.network.models import Block, CircleMembership, MembershipStatus
from domain.store import Transaction

_UNFINISHED = (HelpRequestStatus.OPEN, HelpRequestStatus.IN_PROGRESS)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelpRequestChanges:
    """What an edit changes; fields left unset stay as they are."""

    title: str | Unset = UNSET
    details: str | Unset | None = UNSET
    tags: Sequence[str] | Unset = UNSET
    expires_at: dt.datetime | Unset = UNSET


async def post_help_request(
    tx: Transaction, *, actor_id: int, draft: HelpRequestDraft, policy: MarketPolicy
) -> HelpRequest:
    """Post the actor's ask, shown to the audience they chose."""
    check_draft(draft, now=tx.now, policy=policy).raise_any()
    # The author's row serialises their posts, so two at once cannot both pass the cap.
    if await tx.session.get(Member, actor_id, with_for_update=True) is None:
        raise not_found("member")
    unfinished = await tx.session.scalar(
        select(func.count())
        .select_from(HelpRequest)
        .where(HelpRequest.author_id == actor_id, HelpRequest.status.in_(_UNFINISHED))
    )
    if (unfinished or 0) >= policy.max_open_requests:
        raise DomainError(
            Code.LIMIT_EXCEEDED,
            f"at most {policy.max_open_requests} open requests: close or cancel one first",
        )
    if draft.offers_iou:
        await ious.refuse_over_cap(tx, actor_id, policy.ledger, "offers_iou")
    audience = draft.audience
    circle_ids = member_ids = frozenset[int]()
    if audience.scope is AudienceScope.CIRCLES:
        circle_ids = await _own_circles(tx, actor_id, audience.circle_ids)
    elif audience.scope in (AudienceScope.MEMBERS, AudienceScope.SUGGESTED):
        member_ids = await _reachable_members(tx, actor_id, audience.member_ids)
    request_tags = await ensure_tags(
        tx, draft.tags, kind=TagKind.TOPIC, limit=policy.max_tags, field="tags"
    )
    request = HelpRequest(
        author_id=actor_id,
        title=" ".join(draft.title.split()),
        details=(draft.details or "").strip() or None,
        kind=draft.kind,
        status=HelpRequestStatus.OPEN,
        audience_scope=audience.scope,
        bounty=draft.bounty,
        offers_iou=draft.offers_iou,
        max_helpers=draft.max_helpers,
        accepted_count=0,
        expires_at=expiry_of(draft, now=tx.now, policy=policy),
        created_at=tx.now,
        updated_at=tx.now,
        search_text="",
    )
    request.search_text = _search_text(request, request_tags)
    tx.session.add(request)
    await tx.session.flush()
    tx.session.add_all(
        HelpRequestTag(help_request_id=request.id, tag_id=tag.id, position=position)
        for position, tag in enumerate(request_tags)
    )
    tx.session.add_all(
        HelpRequestCircle(help_request_id=request.id, circle_id=circle_id)
        for circle_id in sorted(circle_ids)
    )
    tx.session.add_all(
        HelpRequestMember(help_request_id=request.id, member_id=member_id)
        for member_id in sorted(member_ids)
    )
    await tx.session.flush()
    if request.bounty:
        await flows.hold_bounty(
            tx, author_id=actor_id, help_request_id=request.id, bounty=request.bounty
        )
    tx.emit(
        HelpRequestPosted(
            actor_id=actor_id,
            help_request_id=request.id,
            author_id=actor_id,
            kind=request.kind.value,
            scope=request.audience_scope.value,
            tags=tuple(tag.slug for tag in request_tags),
            bounty=request.bounty,
            offers_iou=request.offers_iou,
            expires_at=request.expires_at,
        )
    )
    return request


async def edit_help_request(
    tx: Transaction,
    *,
    actor_id: int,
    help_request_id: int,
    changes: HelpRequestChanges,
    policy: MarketPolicy,
) -> HelpRequest:
    """Change the wording, tags or expiry of the actor's open request nobody offered on yet."""
    request = await _own_request_for_update(tx, actor_id, help_request_id)
    status = shown_status(request, tx.now)
    if status is not HelpRequestStatus.OPEN:
        raise DomainError(
            Code.INVALID_TRANSITION,
            f"this request is {status.value.lower().replace('_', ' ')}: it cannot be edited",
        )
    offered = await tx.session.scalar(
        select(Offer.id).where(Offer.help_request_id == request.id).limit(1)
    )
    if offered is not None:
        raise DomainError(
            Code.INVALID_TRANSITION, "someone has offered help: this request cannot be edited"
        )
    current_tags = (
        await tx.session.scalars(
            select(Tag.label)
            .join(HelpRequestTag, HelpRequestTag.tag_id == Tag.id)
            .where(HelpRequestTag.help_request_id == request.id)
            .order_by(HelpRequestTag.position)
        )
    ).all()
    draft = HelpRequestDraft(
        title=request.title if isinstance(changes.title, Unset) else changes.title,
        details=request.details if isinstance(changes.details, Unset) else changes.details,
        kind=request.kind,
        tags=current_tags if isinstance(changes.tags, Unset) else changes.tags,
        # The audience stays as posted, and was checked then.
        audience=Audience(scope=AudienceScope.PUBLIC),
        bounty=request.bounty,
        offers_iou=request.offers_iou,
        max_helpers=request.max_helpers,
        expires_at=None if isinstance(changes.expires_at, Unset) else changes.expires_at,
    )
    check_draft(draft, now=tx.now, policy=policy).raise_any()
    changed: list[str] = []
    if not isinstance(changes.title, Unset):
        request.title = " ".join(draft.title.split())
        changed.append("title")
    if not isinstance(changes.details, Unset):
        request.details = (draft.details or "").strip() or None
        changed.append("details")
    if not isinstance(changes.expires_at, Unset):
        request.expires_at = changes.expires_at
        changed.append("expires_at")
    request_tags = await ensure_tags(
        tx, draft.tags, kind=TagKind.TOPIC, limit=policy.max_tags, field="tags"
    )
    if not isinstance(changes.tags, Unset):
        await tx.session.execute(
            delete(HelpRequestTag).where(HelpRequestTag.help_request_id == request.id)
        )
        tx.session.add_all(
            HelpRequestTag(help_request_id=request.id, tag_id=tag.id, position=position)
            for position, tag in enumerate(request_tags)
        )
        changed.append("tags")
    if changed:
        request.updated_at = tx.now
        request.search_text = _search_text(request, request_tags)
        await tx.session.flush()
        tx.emit(
            HelpRequestEdited(actor_id=actor_id, help_request_id=request.id, fields=tuple(changed))
        )
    return request


async def cancel_help_request(
    tx: Transaction, *, actor_id: int, help_request_id: int
) -> HelpRequest:
    """Withdraw the actor's unfinished request; the live offers on it are cancelled."""
    request = await _own_request_for_update(tx, actor_id, help_request_id)
    check_request_transition(shown_status(request, tx.now), HelpRequestStatus.CANCELLED)
    cancelled = (
        await tx.session.scalars(
            update(Offer)
            .where(Offer.help_request_id == request.id, Offer.status.in_(LIVE_OFFERS))
            .values(status=OfferStatus.CANCELLED, responded_at=tx.now)
            .returning(Offer.id)
        )
    ).all()
    request.status = HelpRequestStatus.CANCELLED
    request.closed_at = request.updated_at = tx.now
    await tx.session.flush()
    await flows.refund_bounty(
        tx, actor_id=actor_id, help_request_id=request.id, author_id=request.author_id
    )
    tx.emit(
        HelpRequestCancelled(
            actor_id=actor_id,
            help_request_id=request.id,
            bounty=request.bounty,
            cancelled_offer_ids=tuple(sorted(cancelled)),
        )
    )
    return request


async def expire_help_requests(
    tx: Transaction, now: dt.datetime, *, limit: int | None = None
) -> int:
    """Record open requests past their expiry as expired (at most ``limit``); return how many.

    Safe in several processes at once: rows another transaction holds are skipped, and each
    request is expired, and its event written, once.
    """
    lapsed = list(
        await tx.session.scalars(
            select(HelpRequest.id)
            .where(HelpRequest.status == HelpRequestStatus.OPEN, HelpRequest.expires_at <= now)
            .order_by(HelpRequest.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not lapsed:
        return 0
    expired = (
        await tx.session.execute(
            update(HelpRequest)
            .where(HelpRequest.id.in_(lapsed), HelpRequest.status == HelpRequestStatus.OPEN)
            .values(status=HelpRequestStatus.EXPIRED, closed_at=now, updated_at=now)
            .returning(HelpRequest.id, HelpRequest.bounty, HelpRequest.author_id)
        )
    ).all()
    expired_ids = [row.id for row in expired]
    # Nobody can accept an offer on an expired request: its pending offers end with it.
    await tx.session.execute(
        update(Offer)
        .where(Offer.help_request_id.in_(expired_ids), Offer.status == OfferStatus.PENDING)
        .values(status=OfferStatus.CANCELLED, responded_at=now)
    )
    for row in sorted(expired):
        if row.bounty:
            await flows.refund_bounty(
                tx, actor_id=None, help_request_id=row.id, author_id=row.author_id
            )
        tx.emit(HelpRequestExpired(help_request_id=row.id, bounty=row.bounty))
    return len(expired)


async def _own_request_for_update(
    tx: Transaction, actor_id: int, help_request_id: int
) -> HelpRequest:
    """Lock the request; refuse one the actor did not write (unseen ones do not exist)."""
    request = await tx.session.scalar(
        select(HelpRequest)
        .where(HelpRequest.id == help_request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if request is None:
        raise not_found("help request", "help_request_id")
    if request.author_id != actor_id:
        seen = await tx.session.scalar(
            select(HelpRequest.id).where(HelpRequest.id == request.id, visible_requests(actor_id))
        )
        if seen is None:
            raise not_found("help request", "help_request_id")
        raise DomainError(Code.FORBIDDEN, "only its author can change a help request")
    return request


async def _own_circles(
    tx: Transaction, actor_id: int, circle_ids: frozenset[int]
) -> frozenset[int]:
    """Return the chosen circles, refusing any the actor is not an active member of."""
    mine = set(
        await tx.session.scalars(
            select(CircleMembership.circle_id).where(
                CircleMembership.member_id == actor_id,
                CircleMembership.status == MembershipStatus.ACTIVE,
                CircleMembership.circle_id.in_(circle_ids),
            )
        )
    )
    if mine != circle_ids:
        raise invalid("you can only ask circles you are a member of", ("audience", "circle_ids"))
    return circle_ids


async def _reachable_members(
    tx: Transaction, actor_id: int, member_ids: frozenset[int]
) -> frozenset[int]:
    """Return the chosen members, refusing any the actor may not see or is blocked with."""
    field = ("audience", "member_ids")
    if actor_id in member_ids:
        raise invalid("you always see your own request: choose other members", field)
    members = (await tx.session.scalars(select(Member).where(Member.id.in_(member_ids)))).all()
    related = await relations(tx.session, viewer_id=actor_id, member_ids=member_ids)
    blocked = set(
        await tx.session.scalars(
            select(Block.blocker_id)
            .where(Block.blocked_id == actor_id, Block.blocker_id.in_(member_ids))
            .union(
                select(Block.blocked_id).where(
                    Block.blocker_id == actor_id, Block.blocked_id.in_(member_ids)
                )
            )
        )
    )
    seen = {
        member.id
        for member in members
        if member.id not in blocked and can_see(member.visibility, related[member.id])
    }
    if seen != member_ids:
        raise invalid("you can only ask members you can see", field)
    return member_ids


def _search_text(request: HelpRequest, request_tags: Sequence[Tag]) -> str:
    labels = [f"{tag.label} {tag.slug.replace('-', ' ')}" for tag in request_tags]
    return "\n".join(part for part in (request.title, request.details or "", *labels) if part)


__all__ = [
    "HelpRequestChanges",
    "cancel_help_request",
    "edit_help_request",
    "expire_help_requests",
    "post_help_request",
]
