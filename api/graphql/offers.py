"""Offers of help: the type and its mutations (the requester accepts, declines, completes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Annotated, TypeVar

import strawberry
from strawberry import relay

from api.context import Info
from api.errors import UserError
from api.graphql.commands import IDEMPOTENCY_KEY, mutate_once
from api.graphql.ids import input_id, party_nodes
from domain.marketplace import offer_read, offers
from domain.marketplace.models import Offer as OfferRow
from domain.marketplace.rules import OfferStatus, Settlement
from domain.store import Transaction

if TYPE_CHECKING:
    from api.graphql.marketplace import HelpRequest
    from api.graphql.members import Member

HelpRequestRef = Annotated["HelpRequest", strawberry.lazy("api.graphql.marketplace")]
MemberRef = Annotated["Member", strawberry.lazy("api.graphql.members")]

strawberry.enum(OfferStatus, description="Where an offer of help stands.")
strawberry.enum(
    Settlement,
    description="How completed help is settled: the request's karma bounty, an IOU from the "
    "requester, or thanks alone.",
)


@strawberry.type(description="An offer of help, seen by its helper and by the requester.")
class Offer(relay.Node):
    id: relay.NodeID[int]
    row: strawberry.Private[OfferRow]
    message: str | None
    status: OfferStatus
    created_at: dt.datetime
    responded_at: dt.datetime | None
    completed_at: dt.datetime | None
    settlement: Settlement | None
    tip: int | None
    note: str | None

    @classmethod
    def of(cls, row: OfferRow) -> Offer:
        return cls(
            id=row.id,
            row=row,
            message=row.message,
            status=row.status,
            created_at=row.created_at,
            responded_at=row.responded_at,
            completed_at=row.completed_at,
            settlement=row.settlement,
            tip=row.tip,
            note=row.note,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Offer | None]:
        return await party_nodes(
            info,
            node_ids,
            lambda session, viewer, ids: offer_read.offers_by_ids(
                session, viewer_id=viewer, offer_ids=ids
            ),
            Offer.of,
        )

    @strawberry.field
    async def helper(self, info: Info) -> MemberRef | None:
        from api.graphql.members import Member

        profile = await info.context.loaders.profiles.load(self.row.helper_id)
        return Member.of(profile) if profile else None

    @strawberry.field
    async def help_request(self, info: Info) -> HelpRequestRef | None:
        from api.graphql.marketplace import HelpRequest

        (found,) = await HelpRequest.resolve_nodes(
            info=info, node_ids=[str(self.row.help_request_id)]
        )
        return found


@strawberry.type
class OfferPayload:
    offer: Offer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OfferHelpPayload(OfferPayload):
    pass


@strawberry.type
class WithdrawOfferPayload(OfferPayload):
    pass


@strawberry.type
class AcceptOfferPayload(OfferPayload):
    pass


@strawberry.type
class DeclineOfferPayload(OfferPayload):
    pass


@strawberry.type
class CompleteHelpPayload(OfferPayload):
    pass


@strawberry.input
class OfferHelpInput:
    help_request_id: strawberry.ID
    message: str | None = None


@strawberry.input
class WithdrawOfferInput:
    offer_id: strawberry.ID


@strawberry.input
class AcceptOfferInput:
    offer_id: strawberry.ID


@strawberry.input
class DeclineOfferInput:
    offer_id: strawberry.ID


@strawberry.input
class CompleteHelpInput:
    offer_id: strawberry.ID
    settlement: Settlement
    tip: int | None = strawberry.field(default=None, description="Extra karma for the helper.")
    note: str | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


P = TypeVar("P", bound=OfferPayload)


async def _offer_command(
    info: Info,
    payload: type[P],
    raw_id: strawberry.ID,
    kind: str,
    field: str,
    command: Callable[[Transaction, int, int], Awaitable[OfferRow]],
    *,
    input: object = None,
    key: str | None = None,
) -> P:
    actor_id = await info.context.require_viewer()
    target = input_id(raw_id, kind, field=field)
    if isinstance(target, list):
        return payload(user_errors=target)
    result = await mutate_once(
        info,
        actor_id=actor_id,
        key=key,
        operation=payload.__name__,
        input=input,
        command=lambda tx: command(tx, actor_id, target),
    )
    if isinstance(result, list):
        return payload(user_errors=result)
    async with info.context.store.reader() as session:
        found = await offer_read.offers_by_ids(session, viewer_id=actor_id, offer_ids=[result])
    return payload(offer=Offer.of(found[result]) if result in found else None)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Offer to help on a request you can see.")
    async def offer_help(self, info: Info, input: OfferHelpInput) -> OfferHelpPayload:
        return await _offer_command(
            info,
            OfferHelpPayload,
            input.help_request_id,
            "HelpRequest",
            "helpRequestId",
            lambda tx, actor, request_id: offers.offer_help(
                tx, actor_id=actor, help_request_id=request_id, message=input.message
            ),
        )

    @strawberry.mutation(description="Withdraw your offer, pending or accepted.")
    async def withdraw_offer(self, info: Info, input: WithdrawOfferInput) -> WithdrawOfferPayload:
        return await _offer_command(
            info,
            WithdrawOfferPayload,
            input.offer_id,
            "Offer",
            "offerId",
            lambda tx, actor, offer_id: offers.withdraw_offer(
                tx, actor_id=actor, offer_id=offer_id
            ),
        )

    @strawberry.mutation(description="Accept an offer on your request; it is then under way.")
    async def accept_offer(self, info: Info, input: AcceptOfferInput) -> AcceptOfferPayload:
        return await _offer_command(
            info,
            AcceptOfferPayload,
            input.offer_id,
            "Offer",
            "offerId",
            lambda tx, actor, offer_id: offers.accept_offer(tx, actor_id=actor, offer_id=offer_id),
        )

    @strawberry.mutation(description="Decline a pending offer on your request.")
    async def decline_offer(self, info: Info, input: DeclineOfferInput) -> DeclineOfferPayload:
        return await _offer_command(
            info,
            DeclineOfferPayload,
            input.offer_id,
            "Offer",
            "offerId",
            lambda tx, actor, offer_id: offers.decline_offer(tx, actor_id=actor, offer_id=offer_id),
        )

    @strawberry.mutation(
        description="Confirm an accepted offer's help and how it is settled: the helper's "
        "share of the bounty, an IOU from you, or thanks; a tip moves from your karma. The "
        "last completion fulfils the request and returns what is left of its bounty."
    )
    async def complete_help(self, info: Info, input: CompleteHelpInput) -> CompleteHelpPayload:
        return await _offer_command(
            info,
            CompleteHelpPayload,
            input.offer_id,
            "Offer",
            "offerId",
            lambda tx, actor, offer_id: offers.complete_help(
                tx,
                actor_id=actor,
                offer_id=offer_id,
                settlement=input.settlement,
                tip=input.tip,
                note=input.note,
                policy=info.context.runtime.market_policy,
            ),
            input=input,
            key=input.idempotency_key,
        )


NODES = (Offer,)
