"""GraphQL subscriptions over WebSocket: both protocols, sign-in, pushes as the author sees
them, and every refusal a client can run into. A real uvicorn server, real clients, on the
in-memory broker and (with TEST_REDIS_URL) on Redis."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from websockets.exceptions import InvalidStatus

from api.context import Runtime
from api.graphql.ids import node_id
from domain.consumers import help_request_channel
from domain.store import utc_now
from tests.api.graphql import gql
from tests.api.sockets import (
    HELP_REQUEST_UPDATED,
    LEGACY,
    TRANSPORT,
    closed_with,
    init,
    receive,
    receive_not,
    send,
    serving,
    socket_to,
    subscribe,
    until,
)
from tests.api.test_offers import OFFER, post
from tests.api.test_relationships import member

UPDATED = {"type": "help_request.updated"}


@pytest.fixture
def settings(settings, broker_url, channel_prefix):
    return dataclasses.replace(
        settings, broker_url=broker_url, broker_channel_prefix=channel_prefix
    )


async def listening(runtime, request_gid):
    channel = help_request_channel(node_id(request_gid, "HelpRequest") or 0)
    await until(lambda: runtime.broker.listening(channel))
    return channel


async def test_an_author_sees_offers_arrive_on_their_request(client, settings, runtime):
    # Given carol's request and carol subscribed to it over graphql-transport-ws
    carol, alice = await member(client, "carol"), await member(client, "alice")
    request_id = await post(client, carol)
    async with serving(settings, runtime) as served, socket_to(served) as socket:
        assert socket.subprotocol == TRANSPORT
        assert await init(socket, carol["token"]) == {"type": "connection_ack"}
        await subscribe(socket, "1", HELP_REQUEST_UPDATED, {"id": request_id})
        channel = await listening(runtime, request_id)

        # When alice offers help and the change is published
        offered = await gql(client, OFFER, {"id": request_id}, token=alice["token"])
        assert offered["data"]["offerHelp"]["userErrors"] == []
        await runtime.broker.publish(channel, {**UPDATED, "help_request_id": 1})

        # Then carol sees her request as it is now, with alice's offer
        pushed = await receive_not(socket, "ping")
        assert pushed == {
            "id": "1",
            "type": "next",
            "payload": {
                "data": {
                    "helpRequestUpdated": {
                        "id": request_id,
                        "status": "OPEN",
                        "offers": {"totalCount": 1, "nodes": [{"status": "PENDING"}]},
                    }
                }
            },
        }

        # And completing the subscription stops it: the channel is released
        await send(socket, {"id": "1", "type": "complete"})
        await until(lambda: not runtime.broker.listening(channel) and not served.fanout.streams)


async def test_two_devices_of_one_member_share_one_execution(client, settings, runtime, statements):
    carol = await member(client, "carol")
    request_id = await post(client, carol)
    async with serving(settings, runtime) as served, socket_to(served) as phone:
        async with socket_to(served) as laptop:
            for socket in (phone, laptop):
                await init(socket, carol["token"])
                await subscribe(socket, "live", HELP_REQUEST_UPDATED, {"id": request_id})
            channel = await listening(runtime, request_id)
            await until(lambda: subscribers(served) == 2)
            # One stream for both: one resolver, one execution, one serialisation per event.
            assert served.fanout.streams == 1

            statements.counting = True
            await runtime.broker.publish(channel, UPDATED)
            on_phone = await receive_not(phone, "ping")
            on_laptop = await receive_not(laptop, "ping")
            statements.counting = False
            assert on_phone == on_laptop
            assert on_phone["payload"]["data"]["helpRequestUpdated"]["id"] == request_id
            for_two = statements.count

        # The same push to one device reads the database exactly as much
        await until(lambda: subscribers(served) == 1)
        statements.count = 0
        statements.counting = True
        await runtime.broker.publish(channel, UPDATED)
        assert await receive_not(phone, "ping") == on_phone
        statements.counting = False
        assert statements.count == for_two > 0


def subscribers(served):
    return sum(len(stream.subscribers) for stream in served.fanout._streams.values())


async def test_someone_elses_request_is_refused(client, settings, runtime):
    carol, alice = await member(client, "carol"), await member(client, "alice")
    request_id = await post(client, carol)
    async with serving(settings, runtime) as served, socket_to(served) as socket:
        await init(socket, alice["token"])
        await subscribe(socket, "1", HELP_REQUEST_UPDATED, {"id": request_id})
        refused = await receive_not(socket, "ping")
        assert refused["type"] == "error"
        assert refused["id"] == "1"
        assert [e["extensions"]["code"] for e in refused["payload"]] == ["FORBIDDEN"]
        assert refused["payload"][0]["path"] == ["helpRequestUpdated"]

        missing = "SGVscFJlcXVlc3Q6OTk5OTk="  # HelpRequest:99999
        await subscribe(socket, "2", HELP_REQUEST_UPDATED, {"id": missing})
        assert (await receive_not(socket, "ping"))["payload"][0]["extensions"]["code"] == (
            "NOT_FOUND"
        )
        # The connection stays usable
        await send(socket, {"type": "ping"})
        assert await receive_not(socket, "ping") == {"type": "pong"}


async def test_an_anonymous_connection_is_allowed_but_subscriptions_need_a_viewer(
    client, settings, runtime
):
    carol = await member(client, "carol")
    request_id = await post(client, carol)
    async with serving(settings, runtime) as served, socket_to(served) as socket:
        assert await init(socket) == {"type": "connection_ack"}
        await subscribe(socket, "1", HELP_REQUEST_UPDATED, {"id": request_id})
        refused = await receive_not(socket, "ping")
        assert refused["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_bad_token_closes_the_socket_with_4403(settings, runtime):
    async with serving(settings, runtime) as served:
        async with socket_to(served) as socket:
            await send(
                socket, {"type": "connection_init", "payload": {"authorization": "Bearer nope"}}
            )
            code, reason = await closed_with(socket)
            assert code == 4403
            assert "malformed" in reason
        async with socket_to(served, LEGACY) as socket:
            await send(
                socket, {"type": "connection_init", "payload": {"authorization": "Bearer nope"}}
            )
            assert (await receive(socket))["type"] == "connection_error"
            assert (await closed_with(socket))[0] == 4403


async def test_the_legacy_protocol_runs_subscriptions_only(client, settings, runtime):
    carol = await member(client, "carol")
    request_id = await post(client, carol)
    async with serving(settings, runtime) as served, socket_to(served, LEGACY) as socket:
        assert socket.subprotocol == LEGACY
        assert await init(socket, carol["token"]) == {"type": "connection_ack"}
        assert await receive(socket) == {"type": "ka"}

        await subscribe(socket, "q", "{ viewer { handle } }", legacy=True)
        refused = await receive_not(socket, "ka")
        assert refused["type"] == "error"
        assert "subscriptions only" in refused["payload"]["message"]

        await subscribe(socket, "s", HELP_REQUEST_UPDATED, {"id": request_id}, legacy=True)
        channel = await listening(runtime, request_id)
        await runtime.broker.publish(channel, UPDATED)
        pushed = await receive_not(socket, "ka")
        assert pushed["type"] == "data"
        assert pushed["id"] == "s"
        assert pushed["payload"]["data"]["helpRequestUpdated"]["status"] == "OPEN"

        await send(socket, {"id": "s", "type": "stop"})
        await until(lambda: not served.fanout.streams)
        await send(socket, {"type": "connection_terminate"})
        assert (await closed_with(socket))[0] == 1000


async def test_queries_and_mutations_run_over_graphql_transport_ws(client, settings, runtime):
    carol = await member(client, "carol")
    async with serving(settings, runtime) as served, socket_to(served) as socket:
        await init(socket, carol["token"])
        await subscribe(socket, "q", "{ viewer { handle } }")
        assert await receive_not(socket, "ping") == {
            "id": "q",
            "type": "next",
            "payload": {"data": {"viewer": {"handle": "carol"}}},
        }
        assert await receive_not(socket, "ping") == {"id": "q", "type": "complete"}

        await subscribe(socket, "bad", "{ viewer { nope } }")
        invalid = await receive_not(socket, "ping")
        assert invalid["type"] == "error"
        assert invalid["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_subscriptions_per_connection_are_capped(client, settings, runtime):
    settings = dataclasses.replace(settings, ws_max_subscriptions=2)
    carol = await member(client, "carol")
    request_id = await post(client, carol)
    async with serving(settings, runtime) as served, socket_to(served) as socket:
        await init(socket, carol["token"])
        for op_id in ("1", "2", "3"):
            await subscribe(socket, op_id, HELP_REQUEST_UPDATED, {"id": request_id})
        refused = await receive_not(socket, "ping")
        assert refused["id"] == "3"
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": 2}

        # Completing one makes room again
        await send(socket, {"id": "1", "type": "complete"})
        await until(lambda: subscribers(served) == 1)
        await subscribe(socket, "4", HELP_REQUEST_UPDATED, {"id": request_id})
        await until(lambda: subscribers(served) == 2)


async def test_protocol_breaches_close_the_socket(client, settings, runtime):
    carol = await member(client, "carol")
    request_id = await post(client, carol)
    async with serving(settings, runtime) as served:
        async with socket_to(served) as socket:  # subscribe before connection_ack
            await subscribe(socket, "1", HELP_REQUEST_UPDATED, {"id": request_id})
            assert (await closed_with(socket))[0] == 4401
        async with socket_to(served) as socket:  # an id already in use
            await init(socket, carol["token"])
            await subscribe(socket, "1", HELP_REQUEST_UPDATED, {"id": request_id})
            await subscribe(socket, "1", HELP_REQUEST_UPDATED, {"id": request_id})
            assert await closed_with(socket) == (4409, "Subscriber for 1 already exists")
        await until(lambda: not served.fanout.streams)  # cancelled with its socket
        async with socket_to(served) as socket:  # initialising twice
            await init(socket, carol["token"])
            await send(socket, {"type": "connection_init"})
            assert (await closed_with(socket))[0] == 4429
        async with socket_to(served) as socket:
            await socket.send("not json")
            assert (await closed_with(socket))[0] == 4400
        async with socket_to(served, None) as socket:  # no subprotocol we speak
            assert (await closed_with(socket))[0] == 4406


async def test_a_message_over_the_size_limit_closes_the_socket(settings, runtime):
    settings = dataclasses.replace(settings, ws_max_message_bytes=2048)
    async with serving(settings, runtime) as served, socket_to(served) as socket:
        await init(socket)
        await subscribe(socket, "1", "{ viewer { handle } }" + " " * 4000)
        assert (await closed_with(socket))[0] == 1009


async def test_connection_init_must_come_in_time(settings, runtime):
    settings = dataclasses.replace(settings, ws_init_timeout=dt.timedelta(seconds=0.2))
    async with serving(settings, runtime) as served, socket_to(served) as socket:
        assert await closed_with(socket) == (4408, "Connection initialisation timeout")


async def test_browsers_of_other_sites_are_refused(settings, runtime):
    async with serving(settings, runtime) as served:
        with pytest.raises(InvalidStatus) as refused:
            async with socket_to(served, origin="https://evil.example"):
                pass
        assert refused.value.response.status_code == 403
        async with socket_to(served, origin="http://localhost:3000") as socket:
            assert await init(socket) == {"type": "connection_ack"}

    listed = dataclasses.replace(settings, allowed_origins=("https://app.rapport.example",))
    async with serving(listed, runtime) as served:
        async with socket_to(served, origin="https://app.rapport.example") as socket:
            assert await init(socket) == {"type": "connection_ack"}
        with pytest.raises(InvalidStatus):
            async with socket_to(served, origin="http://localhost:3000"):
                pass


async def test_the_socket_closes_when_the_token_expires(client, settings, runtime, clock):
    carol = await member(client, "carol")
    async with serving(settings, runtime) as served, socket_to(served) as socket:
        await init(socket, carol["token"])
        # When the token's time is up (the test clock jumps past it)
        clock.advance(minutes=16)
        # Then the next thing the socket does finds it closed as unauthorised
        await send(socket, {"type": "ping"})
        assert await closed_with(socket) == (4401, "Unauthorized: the access token expired")


async def test_an_idle_socket_closes_when_its_token_expires(client, settings):
    # A runtime on the real clock, with two-second access tokens: nothing has to happen on
    # the socket for it to close.
    settings = dataclasses.replace(settings, access_token_ttl=dt.timedelta(seconds=2))
    runtime = Runtime.create(settings, clock=utc_now)
    try:
        carol = await member(client, "carol")
        token, expires_at = runtime.tokens.issue(
            member_id=int(node_id(carol["id"], "Member") or 0), session_id=_session_of(carol)
        )
        async with serving(settings, runtime) as served, socket_to(served) as socket:
            assert await init(socket, token) == {"type": "connection_ack"}
            code, _ = await closed_with(socket, within=10)
            assert code == 4401
            assert utc_now() >= expires_at
    finally:
        await runtime.store.dispose()


def _session_of(member_payload):
    import jwt

    return int(jwt.decode(member_payload["token"], options={"verify_signature": False})["sid"])
