"""Subscriptions: what is pushed to a member as it happens.

Each subscription listens on a broker channel (see ``api.realtime``) and yields what the
viewer should see for each message. Publishers send after their transaction commits, so a
message means "this changed": read it again, as the viewer sees it now.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import strawberry

from api.context import Context, Info
from api.errors import Forbidden, NotFound
from api.graphql.ids import argument_id
from api.graphql.marketplace import HelpRequest, market_loaders
from api.graphql.opportunities import Opportunity
from domain.consumers import help_request_channel, member_channel
from domain.marketplace.models import HelpRequest as HelpRequestRow
from domain.marketplace.request_read import RequestView


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


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Offers and status of one of the viewer's help requests: the request as "
        "it is now, each time it changes. FORBIDDEN unless the viewer is its author."
    )
    async def help_request_updated(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[HelpRequest, None]:
        viewer_id = await info.context.require_viewer()
        request_id = argument_id(id, "HelpRequest", argument="id")
        await _own_request(info.context, viewer_id, request_id)
        channel = help_request_channel(request_id)
        async with contextlib.aclosing(info.context.runtime.broker.listen(channel)) as messages:
            async for message in messages:
                if message.get("type") != "help_request.updated":
                    continue
                yield HelpRequest.of(await _own_request(info.context, viewer_id, request_id))

    @strawberry.subscription(
        description="The viewer's new opportunities, as matching writes them. Each carries its "
        "`cursor`: after a dropped connection, `opportunities(after: <the last cursor>)` "
        "returns what was missed. Quiet hours and the daily push limit hold some back: they "
        "wait in `opportunities`."
    )
    async def opportunity_added(self, info: Info) -> AsyncGenerator[Opportunity, None]:
        viewer_id = await info.context.require_viewer()
        channel = member_channel(viewer_id)
        async with contextlib.aclosing(info.context.runtime.broker.listen(channel)) as messages:
            async for message in messages:
                if message.get("type") == "opportunity.added":
                    # Built from what the push carries: no read per subscriber.
                    yield Opportunity.from_values(message["opportunity"])
