"""Domain events and the transactional outbox they are written to.

A service emits events inside its transaction; they become durable with the state change
they describe, or not at all. Consumers (matching, realtime, webhooks) read the outbox
after commit, so an event may be seen twice but is never lost.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from domain.store import OUTBOX_TABLE, Base, Id


class OutboxEvent(Base):
    """One event, in commit order of its id."""

    __tablename__ = OUTBOX_TABLE

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))
    # The member whose action caused the event, when one did.
    actor_id: Mapped[int | None] = mapped_column(Id)
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[dt.datetime]

    __table_args__ = (
        Index(None, "type", "id"),
        # Consumers re-read the last minutes of events (domain.consumers.RESCAN).
        Index(None, "occurred_at"),
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every domain event: a frozen record of something that happened."""

    type: ClassVar[str]
    actor_id: int | None = None

    def outbox_values(self, occurred_at: dt.datetime) -> dict[str, Any]:
        """Return the values of the outbox row that records this event."""
        payload = {
            name: _jsonable(value) for name, value in vars(self).items() if name != "actor_id"
        }
        return {
            "type": self.type,
            "actor_id": self.actor_id,
            "payload": payload,
            "occurred_at": occurred_at,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list | frozenset | set):
        return [_jsonable(item) for item in value]
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemberJoined(Event):
    type: ClassVar[str] = "member.joined"
    member_id: int
    handle: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProfileUpdated(Event):
    type: ClassVar[str] = "member.profile_updated"
    member_id: int
    fields: tuple[str, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GiveAdded(Event):
    type: ClassVar[str] = "member.give_added"
    member_id: int
    give_id: int
    tag: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class GoalAdded(Event):
    type: ClassVar[str] = "member.goal_added"
    member_id: int
    goal_id: int
    tags: tuple[str, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SessionStarted(Event):
    type: ClassVar[str] = "session.started"
    member_id: int
    session_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class SessionRevoked(Event):
    type: ClassVar[str] = "session.revoked"
    member_id: int
    session_id: int
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConnectionRequested(Event):
    type: ClassVar[str] = "connection.requested"
    relationship_id: int
    requester_id: int
    addressee_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConnectionAccepted(Event):
    type: ClassVar[str] = "connection.accepted"
    relationship_id: int
    member_ids: tuple[int, int]
    introduced_by_id: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConnectionDeclined(Event):
    type: ClassVar[str] = "connection.declined"
    relationship_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConnectionRemoved(Event):
    type: ClassVar[str] = "connection.removed"
    relationship_id: int
    member_ids: tuple[int, int]


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemberBlocked(Event):
    type: ClassVar[str] = "member.blocked"
    blocker_id: int
    blocked_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemberUnblocked(Event):
    type: ClassVar[str] = "member.unblocked"
    blocker_id: int
    blocked_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class RelationshipStrengthChanged(Event):
    type: ClassVar[str] = "relationship.strength_changed"
    relationship_id: int
    strength: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class IntroRequested(Event):
    type: ClassVar[str] = "intro.requested"
    intro_id: int
    requester_id: int
    broker_id: int
    target_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class IntroForwarded(Event):
    type: ClassVar[str] = "intro.forwarded"
    intro_id: int
    broker_id: int
    target_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class IntroAccepted(Event):
    """The broker's part in a new connection: the ledger credits it."""

    type: ClassVar[str] = "intro.accepted"
    intro_id: int
    requester_id: int
    broker_id: int
    target_id: int
    relationship_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class IntroDeclined(Event):
    type: ClassVar[str] = "intro.declined"
    intro_id: int
    declined_by_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class IntroExpired(Event):
    type: ClassVar[str] = "intro.expired"
    intro_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CircleCreated(Event):
    type: ClassVar[str] = "circle.created"
    circle_id: int
    owner_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CircleJoined(Event):
    type: ClassVar[str] = "circle.joined"
    circle_id: int
    member_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CircleJoinRequested(Event):
    type: ClassVar[str] = "circle.join_requested"
    circle_id: int
    member_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CircleInvited(Event):
    type: ClassVar[str] = "circle.invited"
    circle_id: int
    member_id: int
    invited_by_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CircleLeft(Event):
    type: ClassVar[str] = "circle.left"
    circle_id: int
    member_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CircleRoleChanged(Event):
    type: ClassVar[str] = "circle.role_changed"
    circle_id: int
    member_id: int
    role: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class CircleRequestDeclined(Event):
    type: ClassVar[str] = "circle.request_declined"
    circle_id: int
    member_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CircleMemberRemoved(Event):
    type: ClassVar[str] = "circle.member_removed"
    circle_id: int
    member_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CircleDeleted(Event):
    type: ClassVar[str] = "circle.deleted"
    circle_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class OfferMade(Event):
    type: ClassVar[str] = "offer.made"
    offer_id: int
    help_request_id: int
    helper_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class OfferWithdrawn(Event):
    type: ClassVar[str] = "offer.withdrawn"
    offer_id: int
    help_request_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class OfferAccepted(Event):
    type: ClassVar[str] = "offer.accepted"
    offer_id: int
    help_request_id: int
    helper_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class OfferDeclined(Event):
    type: ClassVar[str] = "offer.declined"
    offer_id: int
    help_request_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelpCompleted(Event):
    """Help confirmed by the requester: the ledger settles it (bounty share, IOU or thanks)."""

    type: ClassVar[str] = "help.completed"
    offer_id: int
    help_request_id: int
    requester_id: int
    helper_id: int
    settlement: str
    bounty_share: int | None
    tip: int | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelpRequestFulfilled(Event):
    type: ClassVar[str] = "help_request.fulfilled"
    help_request_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelpRequestPosted(Event):
    """A new ask; ``bounty`` is what the ledger holds in escrow until completion."""

    type: ClassVar[str] = "help_request.posted"
    help_request_id: int
    author_id: int
    kind: str
    scope: str
    tags: tuple[str, ...]
    bounty: int | None
    offers_iou: bool
    expires_at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelpRequestEdited(Event):
    type: ClassVar[str] = "help_request.edited"
    help_request_id: int
    fields: tuple[str, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelpRequestCancelled(Event):
    """The author withdrew the ask: the ledger releases its bounty, if any."""

    type: ClassVar[str] = "help_request.cancelled"
    help_request_id: int
    bounty: int | None
    cancelled_offer_ids: tuple[int, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelpRequestExpired(Event):
    """The ask lapsed unanswered: the ledger releases its bounty, if any."""

    type: ClassVar[str] = "help_request.expired"
    help_request_id: int
    bounty: int | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class KarmaTransferred(Event):
    """A ledger transfer; member ids are None for system accounts (issuer, escrow)."""

    type: ClassVar[str] = "karma.transferred"
    transfer_id: int
    from_member_id: int | None
    to_member_id: int | None
    amount: int
    reason: str
    help_request_id: int | None
    offer_id: int | None
    iou_id: int | None
    intro_id: int | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class IouIssued(Event):
    type: ClassVar[str] = "iou.issued"
    iou_id: int
    debtor_id: int
    creditor_id: int
    help_request_id: int
    offer_id: int
    value: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class IouSettled(Event):
    """Settled in karma (``transfer_id``) or by the debtor helping back (``offer_id``)."""

    type: ClassVar[str] = "iou.settled"
    iou_id: int
    debtor_id: int
    creditor_id: int
    resolution: str
    transfer_id: int | None
    offer_id: int | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class IouForgiven(Event):
    type: ClassVar[str] = "iou.forgiven"
    iou_id: int
    debtor_id: int
    creditor_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class IouCalledIn(Event):
    """The creditor asks the debtor to help on one of their requests (matching pushes it)."""

    type: ClassVar[str] = "iou.called_in"
    iou_id: int
    debtor_id: int
    creditor_id: int
    help_request_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class OpportunityDismissed(Event):
    """A member set an opportunity aside, and why (matching learns from it)."""

    type: ClassVar[str] = "opportunity.dismissed"
    opportunity_id: int
    member_id: int
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class RelationshipCooling(Event):
    """Two connected members have not been in touch for a long while (matching offers it)."""

    type: ClassVar[str] = "relationship.cooling"
    relationship_id: int
    strength: float
    quiet_since: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class WebhookTestRequested(Event):
    """A partner asked for a test delivery to one of their endpoints."""

    type: ClassVar[str] = "webhook.test"
    endpoint_id: int
    partner_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class WebhookEndpointDisabled(Event):
    """An endpoint was turned off: it answered 410 Gone, or failed for days on end."""

    type: ClassVar[str] = "webhook_endpoint.disabled"
    endpoint_id: int
    partner_id: int
    reason: str
