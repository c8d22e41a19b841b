"""Help requests: the node, the feed, and posting, editing and cancelling them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Annotated
from weakref import WeakKeyDictionary

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader
from strawberry.types.nodes import SelectedField, Selection

from api.context import Context, Info
from api.errors import UserError
from api.graphql.circle_loaders import circle_loaders
from api.graphql.circles import Circle
from api.graphql.commands import IDEMPOTENCY_KEY, mutate, mutate_once
from api.graphql.ids import argument_id, database_ids, input_id, node_id
from api.graphql.members import Member, Tag
from api.graphql.pagination import (
    Connection,
    KeyWindow,
    Window,
    key_window,
    keyset_connection,
    offset_connection,
    window,
)
from domain.errors import Code
from domain.marketplace import feed, offer_read, request_read, requests
from domain.marketplace.models import HelpRequest as HelpRequestRow
from domain.marketplace.models import Offer as OfferRow
from domain.marketplace.request_read import AudienceView, RequestView, shown_status
from domain.marketplace.rules import (
    Audience,
    AudienceScope,
    HelpRequestDraft,
    HelpRequestKind,
    HelpRequestStatus,
    MarketPolicy,
)
from domain.members.read import Profile, TagView
from domain.members.service import UNSET

strawberry.enum(HelpRequestKind, description="What kind of help is asked for.")
strawberry.enum(
    HelpRequestStatus,
    description="Where a request stands: `OPEN` → `IN_PROGRESS` (an offer accepted) → "
    "`FULFILLED`; `CANCELLED` by its author; `EXPIRED` when its time ran out while open.",
)
strawberry.enum(
    AudienceScope,
    description="Who sees a request: everyone, the author's network (1st and 2nd degree), "
    "connections alone, chosen circles, or chosen members (`SUGGESTED`: chosen from the "
    "suggested audience).",
)


class Unread(enum.Enum):
    """Not read with the request: a field loads it when asked."""

    UNREAD = enum.auto()


class MarketLoaders:
    """This request's batches of help requests and their relations."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self.requests = DataLoader[int, HelpRequestRow | RequestView | None](self._requests)
        self.tags = DataLoader[int, list[TagView]](self._tags)
        self.audiences = DataLoader[int, AudienceView](self._audiences)
        self.own_offer = DataLoader[int, OfferRow | None](self._own_offers)

    def clear(self) -> None:
        """Forget what was loaded: a mutation just changed it."""
        for loader in (self.requests, self.tags, self.audiences, self.own_offer):
            loader.clear_all()

    def prime(self, rows: Iterable[RequestView]) -> None:
        """Remember requests a query already loaded (as visible to the viewer)."""
        for row in rows:
            self.requests.prime(row.id, row)

    async def _requests(self, ids: list[int]) -> list[HelpRequestRow | RequestView | None]:
        viewer_id = await self._context.viewer_id()
        async with self._context.store.reader() as session:
            found = await request_read.requests_by_ids(
                session, viewer_id=viewer_id, request_ids=ids
            )
        return [found.get(request_id) for request_id in ids]

    async def _tags(self, ids: list[int]) -> list[list[TagView]]:
        async with self._context.store.reader() as session:
            found = await request_read.tags_by_request(session, ids)
        return [found.get(request_id, []) for request_id in ids]

    async def _audiences(self, ids: list[int]) -> list[AudienceView]:
        async with self._context.store.reader() as session:
            found = await request_read.audiences(session, ids)
        return [found[request_id] for request_id in ids]

    async def _own_offers(self, ids: list[int]) -> list[OfferRow | None]:
        viewer_id = await self._context.viewer_id()
        if viewer_id is None:
            return [None] * len(ids)
        async with self._context.store.reader() as session:
            found = await offer_read.live_offers_of(
                session, viewer_id=viewer_id, help_request_ids=ids
            )
        return [found.get(request_id) for request_id in ids]


_BY_CONTEXT: WeakKeyDictionary[Context, MarketLoaders] = WeakKeyDictionary()


def market_loaders(context: Context) -> MarketLoaders:
    """Return the marketplace loaders of this request."""
    loaders = _BY_CONTEXT.get(context)
    if loaders is None:
        loaders = _BY_CONTEXT[context] = MarketLoaders(context)
    return loaders


@strawberry.type(description="Who a request is shown to.")
class HelpRequestAudience:
    scope: AudienceScope
    request_id: strawberry.Private[int]
    is_author: strawberry.Private[bool]

    @strawberry.field(description="The chosen circles; null unless the viewer is the author.")
    async def circles(self, info: Info) -> list[Circle] | None:
        if not self.is_author:
            return None
        audience = await market_loaders(info.context).audiences.load(self.request_id)
        rows = await circle_loaders(info.context).circles.load_many(list(audience.circle_ids))
        return [Circle.of(row) for row in rows if row is not None]

    @strawberry.field(description="The chosen members; null unless the viewer is the author.")
    async def members(self, info: Info) -> list[Member] | None:
        if not self.is_author:
            return None
        audience = await market_loaders(info.context).audiences.load(self.request_id)
        profiles = await info.context.loaders.profiles.load_many(list(audience.member_ids))
        return [Member.of(profile) for profile in profiles if profile is not None]


if TYPE_CHECKING:
    from api.graphql.offers import Offer

OfferRef = Annotated["Offer", strawberry.lazy("api.graphql.offers")]


@strawberry.type(description="An ask for help, shown to the audience its author chose.")
class HelpRequest(relay.Node):
    id: relay.NodeID[int]
    row: strawberry.Private[HelpRequestRow | RequestView]
    # Plain values, copied once: a field without a resolver costs graphql-core a getattr,
    # where a method costs strawberry's whole resolver machinery, per request per field.
    title: str
    details: str | None
    kind: HelpRequestKind
    bounty: int | None = strawberry.field(
        description="Karma the helpers share on completion, held until then."
    )
    offers_iou: bool = strawberry.field(description="Whether the author offers an IOU in return.")
    max_helpers: int = strawberry.field(description="How many offers the author may accept.")
    expires_at: dt.datetime
    created_at: dt.datetime
    # What the feed read with the request, if it did: its author as the viewer may see them,
    # and its tags. Fields answer from these at once, and load them when not read.
    read_author: strawberry.Private[Profile | Unread | None] = Unread.UNREAD
    read_tags: strawberry.Private[list[TagView] | Unread] = Unread.UNREAD

    @classmethod
    def of(
        cls,
        row: HelpRequestRow | RequestView,
        *,
        author: Profile | Unread | None = Unread.UNREAD,
        tags: list[TagView] | Unread = Unread.UNREAD,
    ) -> HelpRequest:
        return cls(
            id=row.id,
            row=row,
            title=row.title,
            details=row.details,
            kind=row.kind,
            bounty=row.bounty,
            offers_iou=row.offers_iou,
            max_helpers=row.max_helpers,
            expires_at=row.expires_at,
            created_at=row.created_at,
            read_author=author,
            read_tags=tags,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[HelpRequest | None]:
        ids = database_ids(node_ids)
        rows = await market_loaders(info.context).requests.load_many(ids)
        return [HelpRequest.of(row) if row else None for row in rows]

    # Synchronous when the feed read them: an async resolver costs a coroutine and a task
    # per request on the page. graphql-core awaits what is returned when it is awaitable.
    @strawberry.field(
        description="Null when the author's profile is hidden from the viewer.",
        graphql_type=Member | None,
    )
    def author(self, info: Info) -> Member | Awaitable[Member | None] | None:
        if isinstance(self.read_author, Unread):
            return self._load_author(info)
        return Member.of(self.read_author) if self.read_author else None

    async def _load_author(self, info: Info) -> Member | None:
        profile = await info.context.loaders.profiles.load(self.row.author_id)
        return Member.of(profile) if profile else None

    @strawberry.field(graphql_type=list[Tag])
    def tags(self, info: Info) -> list[Tag] | Awaitable[list[Tag]]:
        if isinstance(self.read_tags, Unread):
            return self._load_tags(info)
        return [Tag.of(tag) for tag in self.read_tags]

    async def _load_tags(self, info: Info) -> list[Tag]:
        return [Tag.of(tag) for tag in await market_loaders(info.context).tags.load(self.id)]

    @strawberry.field
    async def audience(self, info: Info) -> HelpRequestAudience:
        viewer_id = await info.context.viewer_id()
        return HelpRequestAudience(
            scope=self.row.audience_scope,
            request_id=self.id,
            is_author=viewer_id == self.row.author_id,
        )

    @strawberry.field
    def status(self, info: Info) -> HelpRequestStatus:
        return shown_status(self.row, info.context.store.clock())

    @strawberry.field(
        description="Offers on this request: all of them for its author, the viewer's own "
        "for anyone else."
    )
    async def offers(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[OfferRef]:
        from api.graphql.offers import Offer

        viewer_id = await info.context.viewer_id()
        wanted = window(first, after, last, before)
        if viewer_id is None:
            return offset_connection([], offset=wanted.offset, has_next=False, total=0)
        async with info.context.store.reader() as session:
            rows, has_next, total = await offer_read.offers_on(
                session,
                viewer_id=viewer_id,
                help_request_id=self.id,
                limit=wanted.limit,
                offset=wanted.offset,
            )
        return offset_connection(
            [Offer.of(row) for row in rows],
            offset=wanted.offset,
            has_next=has_next,
            backward=wanted.backward,
            total=total,
        )

    @strawberry.field(description="The viewer's own live (pending or accepted) offer, if any.")
    async def viewer_offer(self, info: Info) -> OfferRef | None:
        from api.graphql.offers import Offer

        row = await market_loaders(info.context).own_offer.load(self.id)
        return Offer.of(row) if row else None

    @strawberry.field(
        description="Whether the viewer may offer help now: signed in, not the author, the "
        "request open or in progress with room for a helper, and no live offer of theirs."
    )
    async def viewer_can_offer(self, info: Info) -> bool:
        viewer_id = await info.context.viewer_id()
        row = self.row
        if viewer_id is None or viewer_id == row.author_id:
            return False
        status = shown_status(row, info.context.store.clock())
        if status not in (HelpRequestStatus.OPEN, HelpRequestStatus.IN_PROGRESS):
            return False
        if row.accepted_count >= row.max_helpers:
            return False
        return await market_loaders(info.context).own_offer.load(self.id) is None


@strawberry.input(description="Which requests the feed shows; every part narrows it.")
class HelpRequestFilter:
    status: list[HelpRequestStatus] | None = None
    kind: list[HelpRequestKind] | None = None
    tags: list[str] | None = strawberry.field(
        default=None, description="Requests with any of these tags."
    )
    author_id: strawberry.ID | None = None
    query: str | None = strawberry.field(
        default=None, description="Words in the title, details or tags; best match first."
    )
    from_network: bool = strawberry.field(
        default=False, description="Only requests by the viewer's 1st and 2nd degree."
    )
    matching_me: bool = strawberry.field(
        default=False, description="Only requests tagged with the viewer's skills or gives."
    )


async def help_requests_query(
    info: Info,
    filter: HelpRequestFilter | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[HelpRequest]:
    wanted_filter = filter or HelpRequestFilter()
    # Best match first is a ranking, paged by position; newest first pages by (time, id), so
    # that a request posted meanwhile shifts nothing. Their cursors do not mix.
    wanted: Window | KeyWindow = (
        window(first, after, last, before)
        if feed.ranks_by_relevance(wanted_filter.query)
        else key_window(first, after, last, before)
    )
    # What the page reads with its rows: anything the query might select by these names.
    selected = _field_names(info.selected_fields)
    with_authors, with_tags = "author" in selected, "tags" in selected
    author_id = None
    if wanted_filter.author_id is not None:
        author_id = argument_id(wanted_filter.author_id, "Member", argument="filter.authorId")
    async with info.context.store.reader() as session:
        page = await feed.page(
            session,
            viewer_id=await info.context.viewer_id(),
            now=info.context.store.clock(),
            statuses=wanted_filter.status or (),
            kinds=wanted_filter.kind or (),
            tags=wanted_filter.tags or (),
            author_id=author_id,
            query=wanted_filter.query,
            from_network=wanted_filter.from_network,
            matching_me=wanted_filter.matching_me,
            limit=wanted.limit,
            offset=wanted.offset if isinstance(wanted, Window) else 0,
            after=wanted.after if isinstance(wanted, KeyWindow) else None,
            before=wanted.before if isinstance(wanted, KeyWindow) else None,
            with_total="totalCount" in selected,
            with_authors=with_authors,
            with_tags=with_tags,
        )
    market_loaders(info.context).prime(page.requests)
    nodes = [
        HelpRequest.of(
            row,
            author=page.authors.get(row.author_id) if with_authors else Unread.UNREAD,
            tags=page.tags.get(row.id, []) if with_tags else Unread.UNREAD,
        )
        for row in page.requests
    ]
    if isinstance(wanted, Window):
        return offset_connection(
            nodes,
            offset=wanted.offset,
            has_next=page.has_next,
            backward=wanted.backward,
            total=page.total,
        )
    return keyset_connection(
        [((node.created_at, node.id), node) for node in nodes],
        has_next=page.has_next,
        has_previous=page.has_previous,
        total=page.total,
    )


def _field_names(selections: Iterable[Selection]) -> set[str]:
    """Return the names of every field selected at any depth, fragments included."""
    names: set[str] = set()
    pending = list(selections)
    while pending:
        selection = pending.pop()
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        pending.extend(selection.selections)
    return names


NODES = (HelpRequest,)


@strawberry.type
class Query:
    help_requests: Connection[HelpRequest] = strawberry.field(
        resolver=help_requests_query,
        description="Help requests the viewer may see, newest first (best match first when "
        "`filter.query` has words). Cursors belong to the order that gave them out.",
    )


@strawberry.input
class AudienceInput:
    scope: AudienceScope
    circle_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="For `CIRCLES`: circles the author is a member of."
    )
    member_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="For `MEMBERS` and `SUGGESTED`: members the author may see.",
    )


@strawberry.input
class PostHelpRequestInput:
    title: str = strawberry.field(description="5 to 140 characters.")
    details: str | None = None
    kind: HelpRequestKind
    tags: list[str] = strawberry.field(default_factory=list, description="Free text, normalised.")
    audience: AudienceInput
    bounty: int | None = strawberry.field(
        default=None, description="Karma offered, held in escrow until the help is completed."
    )
    offers_iou: bool = False
    max_helpers: int = 1
    expires_at: dt.datetime | None = strawberry.field(
        default=None, description="When it lapses; by default in 14 days."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input(description="Fields left out stay as they are.")
class EditHelpRequestInput:
    help_request_id: strawberry.ID
    title: str | None = strawberry.UNSET
    details: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    expires_at: dt.datetime | None = strawberry.UNSET


@strawberry.input
class CancelHelpRequestInput:
    help_request_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type
class HelpRequestPayload:
    help_request: HelpRequest | None = strawberry.field(
        default=None, description="The request as the viewer now sees it."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PostHelpRequestPayload(HelpRequestPayload):
    pass


@strawberry.type
class EditHelpRequestPayload(HelpRequestPayload):
    pass


@strawberry.type
class CancelHelpRequestPayload(HelpRequestPayload):
    pass


def _policy(info: Info) -> MarketPolicy:
    return info.context.runtime.market_policy


@dataclasses.dataclass(frozen=True)
class _AudienceIds:
    circle_ids: frozenset[int]
    member_ids: frozenset[int]


def _audience_ids(audience: AudienceInput) -> _AudienceIds | list[UserError]:
    errors: list[UserError] = []
    found: dict[str, set[int]] = {"circleIds": set(), "memberIds": set()}
    for field, raw_ids, type_name in (
        ("circleIds", audience.circle_ids, "Circle"),
        ("memberIds", audience.member_ids, "Member"),
    ):
        for raw in raw_ids:
            decoded = node_id(raw, type_name)
            if decoded is None:
                errors.append(
                    UserError(
                        field=["input", "audience", field],
                        code=Code.INVALID_INPUT,
                        message=f"not a {type_name} id",
                    )
                )
                break
            found[field].add(decoded)
    if errors:
        return errors
    return _AudienceIds(frozenset(found["circleIds"]), frozenset(found["memberIds"]))


async def _seen_now(info: Info, request_id: int) -> HelpRequest | None:
    loaders = market_loaders(info.context)
    loaders.clear()
    row = await loaders.requests.load(request_id)
    return HelpRequest.of(row) if row else None


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Ask for help, shown to the audience chosen; at most `MAX_OPEN_REQUESTS` "
        "open at once (`LIMIT_EXCEEDED`). A bounty moves from the author's karma into escrow "
        "(`INSUFFICIENT_KARMA` when it cannot be covered); asking on an IOU is refused "
        "(`LIMIT_EXCEEDED`) while the author owes `MAX_IOUS_OWED` IOUs."
    )
    async def post_help_request(
        self, info: Info, input: PostHelpRequestInput
    ) -> PostHelpRequestPayload:
        actor_id = await info.context.require_viewer()
        ids = _audience_ids(input.audience)
        if isinstance(ids, list):
            return PostHelpRequestPayload(user_errors=ids)
        draft = HelpRequestDraft(
            title=input.title,
            details=input.details,
            kind=input.kind,
            tags=input.tags,
            audience=Audience(
                scope=input.audience.scope, circle_ids=ids.circle_ids, member_ids=ids.member_ids
            ),
            bounty=input.bounty,
            offers_iou=input.offers_iou,
            max_helpers=input.max_helpers,
            expires_at=input.expires_at,
        )
        result = await mutate_once(
            info,
            actor_id=actor_id,
            key=input.idempotency_key,
            operation="postHelpRequest",
            input=input,
            command=lambda tx: requests.post_help_request(
                tx, actor_id=actor_id, draft=draft, policy=_policy(info)
            ),
        )
        if isinstance(result, list):
            return PostHelpRequestPayload(user_errors=result)
        return PostHelpRequestPayload(help_request=await _seen_now(info, result))

    @strawberry.mutation(
        description="Change the title, details, tags or expiry of one of the viewer's open "
        "requests nobody has offered on yet (`INVALID_TRANSITION` otherwise)."
    )
    async def edit_help_request(
        self, info: Info, input: EditHelpRequestInput
    ) -> EditHelpRequestPayload:
        actor_id = await info.context.require_viewer()
        request_id = input_id(input.help_request_id, "HelpRequest", field="helpRequestId")
        if isinstance(request_id, list):
            return EditHelpRequestPayload(user_errors=request_id)
        changes = requests.HelpRequestChanges(
            title=UNSET if input.title is strawberry.UNSET else input.title or "",
            details=UNSET if input.details is strawberry.UNSET else input.details,
            tags=UNSET if input.tags is strawberry.UNSET else input.tags or [],
            expires_at=UNSET if not input.expires_at else input.expires_at,
        )
        result = await mutate(
            info,
            lambda tx: requests.edit_help_request(
                tx,
                actor_id=actor_id,
                help_request_id=request_id,
                changes=changes,
                policy=_policy(info),
            ),
        )
        if isinstance(result, list):
            return EditHelpRequestPayload(user_errors=result)
        return EditHelpRequestPayload(help_request=await _seen_now(info, result.id))

    @strawberry.mutation(
        description="Withdraw one of the viewer's open or in-progress requests; the live "
        "offers on it are cancelled and its bounty, if any, returns from escrow."
    )
    async def cancel_help_request(
        self, info: Info, input: CancelHelpRequestInput
    ) -> CancelHelpRequestPayload:
        actor_id = await info.context.require_viewer()
        request_id = input_id(input.help_request_id, "HelpRequest", field="helpRequestId")
        if isinstance(request_id, list):
            return CancelHelpRequestPayload(user_errors=request_id)
        result = await mutate_once(
            info,
            actor_id=actor_id,
            key=input.idempotency_key,
            operation="cancelHelpRequest",
            input=input,
            command=lambda tx: requests.cancel_help_request(
                tx, actor_id=actor_id, help_request_id=request_id
            ),
        )
        if isinstance(result, list):
            return CancelHelpRequestPayload(user_errors=result)
        return CancelHelpRequestPayload(help_request=await _seen_now(info, result))
