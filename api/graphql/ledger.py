"""Karma, IOUs and reciprocity: the member's accounts, their statement, and paying in kind."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, TypeVar
from weakref import WeakKeyDictionary

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from api.context import Context, Info
from api.errors import UserError
from api.graphql.commands import IDEMPOTENCY_KEY, mutate, mutate_once
from api.graphql.ids import input_id, party_nodes
from api.graphql.pagination import Connection, id_connection, id_window
from domain.ledger import flows, ious, read
from domain.ledger.models import Iou as IouRow
from domain.ledger.models import IouResolution, IouStatus, TransferReason
from domain.ledger.read import Entry, ReciprocityView
from domain.ledger.rules import Band

if TYPE_CHECKING:
    from api.graphql.marketplace import HelpRequest
    from api.graphql.members import Member

N = TypeVar("N")
MemberRef = Annotated["Member", strawberry.lazy("api.graphql.members")]
HelpRequestRef = Annotated["HelpRequest", strawberry.lazy("api.graphql.marketplace")]

strawberry.enum(
    TransferReason,
    description="Why karma moved: a welcome grant, a bounty held, awarded or refunded, a tip, "
    "a gift (`sendKarma`), a broker's share of an accepted intro, or an IOU settled in karma.",
)
strawberry.enum(IouStatus, description="`OUTSTANDING` until `SETTLED` or `FORGIVEN`.")
strawberry.enum(
    IouResolution,
    description="How an IOU ended: paid in karma, repaid by helping back, or forgiven.",
)
strawberry.enum(
    Band,
    description="Give and take from completed help: `GIVER` gives clearly more than they "
    "receive, `TAKER` clearly less, `MATCHER` about even, `NEW` has too little history.",
)


@strawberry.enum(description="Which side of an IOU.")
class IouRole(enum.Enum):
    OWED = "OWED"  # by the member (they are the debtor)
    HELD = "HELD"  # by the member (they are the creditor)


class LedgerLoaders:
    """This request's batches of reciprocity figures."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self.reciprocity = DataLoader[int, ReciprocityView](self._reciprocity)

    async def _reciprocity(self, ids: list[int]) -> list[ReciprocityView]:
        async with self._context.store.reader() as session:
            found = await read.reciprocity(session, ids)
        return [found[member_id] for member_id in ids]


_BY_CONTEXT: WeakKeyDictionary[Context, LedgerLoaders] = WeakKeyDictionary()


def ledger_loaders(context: Context) -> LedgerLoaders:
    loaders = _BY_CONTEXT.get(context)
    if loaders is None:
        loaders = _BY_CONTEXT[context] = LedgerLoaders(context)
    return loaders


@strawberry.type(description="Karma moved into or out of the viewer's account.")
class Transfer(relay.Node):
    id: relay.NodeID[int]
    amount: int = strawberry.field(description="How much moved (always positive).")
    change: int = strawberry.field(
        description="What it did to the viewer's balance: positive in, negative out."
    )
    balance_after: int = strawberry.field(description="The viewer's available karma after it.")
    reason: TransferReason
    memo: str | None
    created_at: dt.datetime
    counterparty_id: strawberry.Private[int | None]
    help_request_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, entry: Entry) -> Transfer:
        row = entry.transfer
        return cls(
            id=row.id,
            amount=row.amount,
            change=entry.change,
            balance_after=entry.balance_after,
            reason=row.reason,
            memo=row.memo,
            created_at=row.created_at,
            counterparty_id=entry.counterparty_id,
            help_request_id=row.help_request_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Transfer | None]:
        return await party_nodes(
            info,
            node_ids,
            lambda session, viewer, ids: read.entries_by_ids(
                session, viewer_id=viewer, transfer_ids=ids
            ),
            Transfer.of,
        )

    @strawberry.field(
        description="The member on the other side; null for the system (welcome grants, "
        "escrow) or when their profile is hidden from the viewer."
    )
    async def counterparty(self, info: Info) -> MemberRef | None:
        from api.graphql.members import Member

        if self.counterparty_id is None:
            return None
        profile = await info.context.loaders.profiles.load(self.counterparty_id)
        return Member.of(profile) if profile else None

    @strawberry.field(description="The help request it belongs to, if the viewer may see it.")
    async def help_request(self, info: Info) -> HelpRequestRef | None:
        return await _help_request(info, self.help_request_id)


async def _help_request(info: Info, help_request_id: int | None) -> HelpRequest | None:
    from api.graphql.marketplace import HelpRequest, market_loaders

    if help_request_id is None:
        return None
    row = await market_loaders(info.context).requests.load(help_request_id)
    return HelpRequest.of(row) if row else None


@strawberry.type(description="A member's karma; the member alone sees it.")
class KarmaAccount:
    member_id: strawberry.Private[int]
    available: int = strawberry.field(description="Karma the member can spend now.")
    held: int = strawberry.field(
        description="Karma in escrow for the bounties of the member's open requests."
    )
    balance: int = strawberry.field(description="All the member's karma: available + held.")

    @strawberry.field(description="Transfers into and out of the member's karma, newest first.")
    async def statement(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Transfer]:
        wanted = id_window("transfer", first, after, last, before)
        async with info.context.store.reader() as session:
            page = await read.statement_of(
                session,
                self.member_id,
                limit=wanted.limit,
                after=wanted.after,
                before=wanted.before,
                backward=wanted.backward,
            )
        return id_connection(
            "transfer",
            [(entry.transfer.id, Transfer.of(entry)) for entry in page.items],
            has_next=page.has_next,
            has_previous=page.has_previous,
        )


async def karma_of(info: Info, member_id: int) -> KarmaAccount | None:
    """Return a member's karma when the viewer is that member; null for anyone else."""
    if await info.context.viewer_id() != member_id:
        return None
    async with info.context.store.reader() as session:
        view = await read.karma_of(session, member_id)
    return KarmaAccount(
        member_id=member_id, available=view.available, held=view.held, balance=view.balance
    )


@strawberry.type(description='"I owe you one": the debtor owes the creditor a favour.')
class Iou(relay.Node):
    id: relay.NodeID[int]
    row: strawberry.Private[IouRow]
    status: IouStatus
    value: int = strawberry.field(description="What settling it in karma costs.")
    created_at: dt.datetime
    settled_at: dt.datetime | None = strawberry.field(
        description="When it was settled or forgiven."
    )
    resolution: IouResolution | None
    called_in_at: dt.datetime | None

    @classmethod
    def of(cls, row: IouRow) -> Iou:
        return cls(
            id=row.id,
            row=row,
            status=row.status,
            value=row.value,
            created_at=row.created_at,
            settled_at=row.settled_at,
            resolution=row.resolution,
            called_in_at=row.called_in_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Iou | None]:
        return await party_nodes(
            info,
            node_ids,
            lambda session, viewer, ids: read.ious_by_ids(session, viewer_id=viewer, iou_ids=ids),
            Iou.of,
        )

    @strawberry.field(description="Who owes; null when their profile is hidden from the viewer.")
    async def debtor(self, info: Info) -> MemberRef | None:
        return await _member(info, self.row.debtor_id)

    @strawberry.field(description="Who is owed; null when their profile is hidden.")
    async def creditor(self, info: Info) -> MemberRef | None:
        return await _member(info, self.row.creditor_id)

    @strawberry.field(description="Why it is owed: the help it was issued for.")
    async def reason(self, info: Info) -> str:
        request = await _help_request(info, self.row.help_request_id)
        return f"for help with “{request.title}”" if request else "for help"

    @strawberry.field(description="The help request it was issued for.")
    async def help_request(self, info: Info) -> HelpRequestRef | None:
        return await _help_request(info, self.row.help_request_id)

    @strawberry.field(description="The creditor's request the debtor is asked to help on.")
    async def called_in_for(self, info: Info) -> HelpRequestRef | None:
        return await _help_request(info, self.row.called_in_request_id)


async def _member(info: Info, member_id: int) -> Member | None:
    from api.graphql.members import Member

    profile = await info.context.loaders.profiles.load(member_id)
    return Member.of(profile) if profile else None


async def ious_of(
    info: Info,
    member_id: int,
    role: IouRole | None,
    status: list[IouStatus] | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Iou] | None:
    """Return a page of a member's IOUs when the viewer is that member; null otherwise."""
    if await info.context.viewer_id() != member_id:
        return None
    wanted = id_window("iou", first, after, last, before)
    owed = None if role is None else role is IouRole.OWED
    async with info.context.store.reader() as session:
        page = await read.ious_of(
            session,
            member_id,
            owed=owed,
            statuses=status or (),
            limit=wanted.limit,
            after=wanted.after,
            before=wanted.before,
            backward=wanted.backward,
        )
    return id_connection(
        "iou",
        [(row.id, Iou.of(row)) for row in page.items],
        has_next=page.has_next,
        has_previous=page.has_previous,
    )


@strawberry.type(description="How a member gives and takes, derived from completed help.")
class Reciprocity:
    band: Band
    help_given: int = strawberry.field(description="Help they completed for others.")
    help_received: int = strawberry.field(description="Help others completed for them.")
    karma_earned: int = strawberry.field(
        description="Bounties, tips, gifts, brokering and IOU settlements received."
    )
    karma_spent: int = strawberry.field(
        description="Bounties paid out, tips, gifts and IOU settlements given."
    )
    ious_held: int = strawberry.field(description="Outstanding IOUs owed to them.")
    ious_owed: int = strawberry.field(description="Outstanding IOUs they owe.")

    @classmethod
    def of(cls, view: ReciprocityView) -> Reciprocity:
        return cls(
            band=view.band,
            help_given=view.help_given,
            help_received=view.help_received,
            karma_earned=view.karma_earned,
            karma_spent=view.karma_spent,
            ious_held=view.ious_held,
            ious_owed=view.ious_owed,
        )


async def reciprocity_of(info: Info, member_id: int) -> Reciprocity:
    return Reciprocity.of(await ledger_loaders(info.context).reciprocity.load(member_id))


@strawberry.input
class SendKarmaInput:
    to_member_id: strawberry.ID
    amount: int
    memo: str | None = strawberry.field(default=None, description="Up to 280 characters.")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class SettleIouInput:
    iou_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class ForgiveIouInput:
    iou_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class CallInIouInput:
    iou_id: strawberry.ID
    help_request_id: strawberry.ID


@strawberry.type
class SendKarmaPayload:
    transfer: Transfer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class IouPayload:
    iou: Iou | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SettleIouPayload(IouPayload):
    pass


@strawberry.type
class ForgiveIouPayload(IouPayload):
    pass


@strawberry.type
class CallInIouPayload(IouPayload):
    pass


async def _iou_now(info: Info, actor_id: int, iou_id: int) -> Iou | None:
    async with info.context.store.reader() as session:
        found = await read.ious_by_ids(session, viewer_id=actor_id, iou_ids=[iou_id])
    return Iou.of(found[iou_id]) if iou_id in found else None


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Give karma to a member you can see: a thank-you, or paying it forward "
        "(`INSUFFICIENT_KARMA` when your available karma cannot cover it)."
    )
    async def send_karma(self, info: Info, input: SendKarmaInput) -> SendKarmaPayload:
        actor_id = await info.context.require_viewer()
        to_member_id = input_id(input.to_member_id, "Member", field="toMemberId")
        if isinstance(to_member_id, list):
            return SendKarmaPayload(user_errors=to_member_id)
        # Without a key of the client's, each call is a transfer of its own.
        transfer_key = f"gift:{actor_id}:{input.idempotency_key or secrets.token_hex(16)}"

        result = await mutate_once(
            info,
            actor_id=actor_id,
            key=input.idempotency_key,
            operation="sendKarma",
            input=input,
            command=lambda tx: flows.send_karma(
                tx,
                actor_id=actor_id,
                to_member_id=to_member_id,
                amount=input.amount,
                memo=input.memo,
                key=transfer_key,
                policy=info.context.runtime.ledger_policy,
            ),
        )
        if isinstance(result, list):
            return SendKarmaPayload(user_errors=result)
        async with info.context.store.reader() as session:
            found = await read.entries_by_ids(session, viewer_id=actor_id, transfer_ids=[result])
        return SendKarmaPayload(transfer=Transfer.of(found[result]))

    @strawberry.mutation(
        description="Settle an IOU you owe by paying its value in karma to its creditor."
    )
    async def settle_iou(self, info: Info, input: SettleIouInput) -> SettleIouPayload:
        actor_id = await info.context.require_viewer()
        iou_id = input_id(input.iou_id, "Iou", field="iouId")
        if isinstance(iou_id, list):
            return SettleIouPayload(user_errors=iou_id)
        result = await mutate_once(
            info,
            actor_id=actor_id,
            key=input.idempotency_key,
            operation="settleIou",
            input=input,
            command=lambda tx: ious.settle_iou(tx, actor_id=actor_id, iou_id=iou_id),
        )
        if isinstance(result, list):
            return SettleIouPayload(user_errors=result)
        return SettleIouPayload(iou=await _iou_now(info, actor_id, result))

    @strawberry.mutation(description="Let an IOU owed to you go.")
    async def forgive_iou(self, info: Info, input: ForgiveIouInput) -> ForgiveIouPayload:
        actor_id = await info.context.require_viewer()
        iou_id = input_id(input.iou_id, "Iou", field="iouId")
        if isinstance(iou_id, list):
            return ForgiveIouPayload(user_errors=iou_id)
        result = await mutate_once(
            info,
            actor_id=actor_id,
            key=input.idempotency_key,
            operation="forgiveIou",
            input=input,
            command=lambda tx: ious.forgive_iou(tx, actor_id=actor_id, iou_id=iou_id),
        )
        if isinstance(result, list):
            return ForgiveIouPayload(user_errors=result)
        return ForgiveIouPayload(iou=await _iou_now(info, actor_id, result))

    @strawberry.mutation(
        description="Ask the member who owes you to help on one of your open requests; they "
        "must be able to see it. Matching puts it first among their opportunities."
    )
    async def call_in_iou(self, info: Info, input: CallInIouInput) -> CallInIouPayload:
        actor_id = await info.context.require_viewer()
        iou_id = input_id(input.iou_id, "Iou", field="iouId")
        request_id = input_id(input.help_request_id, "HelpRequest", field="helpRequestId")
        if isinstance(iou_id, list) or isinstance(request_id, list):
            errors = [*(iou_id if isinstance(iou_id, list) else [])]
            errors += request_id if isinstance(request_id, list) else []
            return CallInIouPayload(user_errors=errors)
        result = await mutate(
            info,
            lambda tx: ious.call_in_iou(
                tx, actor_id=actor_id, iou_id=iou_id, help_request_id=request_id
            ),
        )
        if isinstance(result, list):
            return CallInIouPayload(user_errors=result)
        return CallInIouPayload(iou=Iou.of(result))


NODES = (Transfer, Iou)
