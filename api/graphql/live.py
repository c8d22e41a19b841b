"""Subscriptions: what is pushed to a member as it happens.

Each subscription field is a *feed* (``FEEDS``): started once when a client subscribes (it
checks who may follow what, and names the broker channel to listen on, see
``api.realtime``), then asked, for each message on that channel, for the value the field
yields — or ``None`` to push nothing. Publishers send after their transaction commits, so a
message means "this changed": what is pushed is read as the viewer sees it now, or built
from what the message carries.

The fan-out (``api.fanout``) runs feeds directly: one registry entry per subscription, no
task or generator of its own. The strawberry resolvers below run the same feeds as async
generators, for the schema and for anything that iterates a subscription itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

import strawberry

from api.context import Context, Info
from api.errors import Forbidden, NotFound
from api.graphql.ids import argument_id
from api.graphql.marketplace import HelpRequest, market_loaders
from api.graphql.opportunities import Opportunity
from domain.consumers import help_request_channel, member_channel
from domain.marketplace.models import HelpRequest as HelpRequestRow
from domain.marketplace.request_read import RequestView

Value = Callable[[dict[str, Any], Callable[[], Context]], Any]
"""A message (and a fresh context, made on demand) → the field's value, ``None`` for
nothing to push, or an awaitable of either."""


@dataclasses.dataclass(frozen=True, slots=True)
class Feed:
    """One subscription once started: where it listens, and what each message yields."""

    channel: str
    value: Value


Start = Callable[[Context, Mapping[str, Any]], Awaitable[Feed]]
"""Start a feed for the viewer of this context and the field's arguments (GraphQL names);
raise an API error (UNAUTHENTICATED, FORBIDDEN, …) to refuse the subscription."""


async def _own_request(
    context: Context, viewer_id: int, request_id: int
) -> HelpRequestRow | RequestView:
    """Return one of the viewer's requests, read now; refuse anyone else's."""
    loaders = market_loaders(context)
    loaders.clear()
    row = await loaders.requests.load(request_id)
    if row is None:
        raise NotFound("no help request with this id", argument="id")
    if row.author_id != viewer_id:
        raise Forbidden("only its author can follow a help request's offers and status")
    return row


async def help_request_feed(context: Context, arguments: Mapping[str, Any]) -> Feed:
    viewer_id = await context.require_viewer()
    request_id = argument_id(arguments["id"], "HelpRequest", argument="id")
    await _own_request(context, viewer_id, request_id)

    async def read(message: dict[str, Any], fresh: Callable[[], Context]) -> HelpRequest | None:
        if message.get("type") != "help_request.updated":
            return None
        return HelpRequest.of(await _own_request(fresh(), viewer_id, request_id))

    return Feed(help_request_channel(request_id), read)


def _opportunity(message: dict[str, Any], _fresh: Callable[[], Context]) -> Opportunity | None:
    if message.get("type") != "opportunity.added":
        return None
    # Built from what the push carries: no read per subscriber.
    return Opportunity.from_values(message["opportunity"])


async def opportunity_feed(context: Context, _arguments: Mapping[str, Any]) -> Feed:
    return Feed(member_channel(await context.require_viewer()), _opportunity)


FEEDS: dict[str, Start] = {
    "helpRequestUpdated": help_request_feed,
    "opportunityAdded": opportunity_feed,
}
"""Every subscription field, by its GraphQL name: how to start it."""


async def _follow(context: Context, feed: Feed) -> AsyncGenerator[Any, None]:
    """Yield a feed's values as an async generator (one task's worth of subscription)."""

    def fresh() -> Context:
        return context

    broker = context.runtime.broker
    async with contextlib.aclosing(broker.listen(feed.channel)) as messages:
        async for message in messages:
            value = feed.value(message, fresh)
            if isinstance(value, Awaitable):
                value = await value
            if value is not None:
                yield value


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Offers and status of one of the viewer's help requests: the request as "
        "it is now, each time it changes. FORBIDDEN unless the viewer is its author."
    )
    async def help_request_updated(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[HelpRequest, None]:
        feed = await help_request_feed(info.context, {"id": id})
        async for value in _follow(info.context, feed):
            yield value

    @strawberry.subscription(
        description="The viewer's new opportunities, as matching writes them. Each carries its "
        "`cursor`: after a dropped connection, `opportunities(after: <the last cursor>)` "
        "returns what was missed. Quiet hours and the daily push limit hold some back: they "
        "wait in `opportunities`."
    )
    async def opportunity_added(self, info: Info) -> AsyncGenerator[Opportunity, None]:
        feed = await opportunity_feed(info.context, {})
        async for value in _follow(info.context, feed):
            yield value
