"""The fan-out on its own and through real sockets: subscriptions as registry entries (no
task of their own), one execution and one serialisation per event and distinct
selection, and the projector that builds plain selections without graphql-core giving
exactly what graphql-core gives."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import orjson
import pytest
from graphql import ExecutionResult, execute_subscription_event

from api import fanout as fanout_module
from api.context import Context
from api.documents import Documents
from api.fanout import SUBSCRIBER_QUEUE, Fanout, StreamKey
from api.graphql.ids import node_id
from api.graphql.opportunities import Opportunity
from api.schema import build_schema
from domain.consumers import member_channel
from tests.api.sockets import init, receive_not, send, serving, socket_to, subscribe, until
from tests.api.test_relationships import member

ADDED = "subscription { opportunityAdded { id score cursor reasons { code label } } }"

VALUES = {
    "id": 41,
    "member_id": 3,
    "kind": "HELP_REQUEST",
    "subject_type": "HELP_REQUEST",
    "subject_id": 9,
    "score": 1.25,
    "reasons": [
        {"code": "SKILL_MATCH", "label": "SEO"},
        {"code": "VIA", "label": "bob", "subject_type": "MEMBER", "subject_id": 2},
    ],
    "status": "NEW",
    "created_at": dt.datetime(2026, 5, 1, 12, 30, tzinfo=dt.UTC).isoformat(),
}


@pytest.fixture
def settings(settings, broker_url, channel_prefix):
    return dataclasses.replace(
        settings, broker_url=broker_url, broker_channel_prefix=channel_prefix
    )


def _plan(fanout: Fanout, documents: Documents, query: str, variables=None):
    document = documents.prepare(query).document
    assert document is not None
    plan = fanout._plan(StreamKey.of(query, None, variables, None), document, variables)
    assert not isinstance(plan, list), plan
    return plan


@pytest.mark.parametrize(
    "query",
    [
        ADDED,
        "subscription { opportunityAdded { __typename id kind status createdAt score } }",
        "subscription { pushed: opportunityAdded { key: cursor why: reasons { label code } } }",
        "subscription Mine { opportunityAdded { reasons { __typename code } id } }",
    ],
)
async def test_a_plain_selection_is_projected_exactly_as_graphql_core_executes_it(
    runtime, settings, query
):
    documents = Documents(build_schema(), settings)
    fanout = Fanout(runtime, documents)
    plan = _plan(fanout, documents, query)
    assert plan.project is not None
    value = Opportunity.from_values(VALUES)

    executed = plan.executor.build_per_event_executor(value)
    executed.context_value = Context.verified(runtime, request_id="t", claims=None)
    result = execute_subscription_event(executed)
    assert isinstance(result, ExecutionResult)  # plain attributes: nothing to await
    assert not result.errors
    projected = {"data": {plan.response_key: plan.project(value)}}
    assert orjson.dumps(projected) == orjson.dumps({"data": result.data})


@pytest.mark.parametrize(
    "query",
    [
        # a resolver that reads the database, as the viewer may see it
        "subscription { opportunityAdded { id subject { ... on HelpRequest { title } } } }",
        "subscription { opportunityAdded { reasons { subject { __typename } } } }",
        # fragments and directives: graphql-core's rules
        "subscription { opportunityAdded { ... on Opportunity { id } } }",
        "subscription { opportunityAdded { id @include(if: true) } }",
    ],
)
async def test_anything_but_plain_attributes_runs_through_graphql_core(runtime, settings, query):
    documents = Documents(build_schema(), settings)
    fanout = Fanout(runtime, documents)
    assert _plan(fanout, documents, query).project is None


async def test_subscriptions_hold_no_task_while_they_wait(client, settings, runtime):
    carol = await member(client, "carol")
    async with serving(settings, runtime) as served, socket_to(served) as socket:
        await init(socket, carol["token"])
        await asyncio.sleep(0.1)
        idle = len(asyncio.all_tasks())
        for op_id in ("1", "2", "3"):
            selection = ["id", "score", "cursor"][: int(op_id)]
            await subscribe(
                socket, op_id, f"subscription {{ opportunityAdded {{ {' '.join(selection)} }} }}"
            )
        await until(lambda: served.fanout.subscribers == 3 and served.fanout.streams == 3)
        await asyncio.sleep(0.1)
        # Three subscriptions listening: no task more than the socket had before them.
        assert len(asyncio.all_tasks()) == idle


async def test_each_event_is_executed_once_per_distinct_selection(client, settings, runtime):
    carol = await member(client, "carol")
    channel = member_channel(node_id(carol["id"], "Member") or 0)
    other = "subscription { opportunityAdded { id } }"
    async with serving(settings, runtime) as served, socket_to(served) as phone:  # noqa: SIM117
        async with socket_to(served) as laptop, socket_to(served) as tablet:
            for socket in (phone, laptop, tablet):
                await init(socket, carol["token"])
            await subscribe(phone, "a", ADDED)
            await subscribe(laptop, "b", ADDED)
            await subscribe(tablet, "c", other)
            await until(lambda: served.fanout.subscribers == 3)
            await until(lambda: runtime.broker.listening(channel))
            assert served.fanout.streams == 2

            before = served.fanout.executions, served.fanout.deliveries
            await runtime.broker.publish(
                channel, {"type": "opportunity.added", "opportunity": VALUES}
            )
            on_phone = await receive_not(phone, "ping")
            on_laptop = await receive_not(laptop, "ping")
            on_tablet = await receive_not(tablet, "ping")
            # Two selections: two executions, three deliveries, the same bytes for the two
            # sockets that share one
            assert served.fanout.executions - before[0] == 2
            assert served.fanout.deliveries - before[1] == 3
            assert on_phone["payload"] == on_laptop["payload"]
            assert (on_phone["id"], on_laptop["id"]) == ("a", "b")
            assert on_phone["payload"]["data"]["opportunityAdded"]["score"] == 1.25
            assert on_tablet["payload"] == {
                "data": {
                    "opportunityAdded": {
                        "id": on_phone["payload"]["data"]["opportunityAdded"]["id"]
                    }
                }
            }

            # Other message types on the channel push nothing
            await runtime.broker.publish(channel, {"type": "something.else"})
            await send(phone, {"type": "ping"})
            assert await receive_not(phone, "ping") == {"type": "pong"}

            # Completing the last subscriber of a stream releases it, and its channel with the last
            await send(tablet, {"id": "c", "type": "complete"})
            await until(lambda: served.fanout.streams == 1)
            for socket, op_id in ((phone, "a"), (laptop, "b")):
                await send(socket, {"id": op_id, "type": "complete"})
            await until(lambda: not served.fanout.streams and not runtime.broker.listening(channel))


async def test_a_socket_too_far_behind_has_its_subscription_ended(
    client, settings, runtime, monkeypatch
):
    if not settings.broker_url.startswith("memory"):
        pytest.skip("Redis hands over a burst in parts: the writer may run between them")
    # The flush never pauses here, so the socket's writer cannot run between pushes.
    monkeypatch.setattr(fanout_module, "YIELD_EVERY", 10_000)
    carol = await member(client, "carol")
    channel = member_channel(node_id(carol["id"], "Member") or 0)
    async with serving(settings, runtime) as served, socket_to(served) as socket:
        await init(socket, carol["token"])
        await subscribe(socket, "mine", "subscription { opportunityAdded { id } }")
        await until(lambda: runtime.broker.listening(channel))

        burst = [(channel, {"type": "opportunity.added", "opportunity": VALUES})] * 100
        await runtime.broker.publish_many(burst)

        kinds: list[str] = []
        while not kinds or kinds[-1] == "next":
            kinds.append((last := await receive_not(socket, "ping"))["type"])
        assert kinds == ["next"] * SUBSCRIBER_QUEUE + ["error"]
        assert last["payload"][0]["extensions"]["code"] == "SUBSCRIPTION_LAGGING"
        await until(lambda: not served.fanout.streams)
        # The socket itself goes on
        await send(socket, {"type": "ping"})
        assert await receive_not(socket, "ping") == {"type": "pong"}
