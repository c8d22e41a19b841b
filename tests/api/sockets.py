"""Talking to the API the way a live client does: a real uvicorn server in the test's event
loop (sharing the test's runtime and clock) and real WebSocket clients (``websockets``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from api.app import create_app
from api.context import Runtime
from api.settings import Settings

TRANSPORT = "graphql-transport-ws"
LEGACY = "graphql-ws"

HELP_REQUEST_UPDATED = """
subscription($id: ID!) {
  helpRequestUpdated(id: $id) { id status offers { totalCount nodes { status } } }
}
"""


class Served:
    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app

    @property
    def fanout(self) -> Any:
        return self.app.state.fanout


@contextlib.asynccontextmanager
async def serving(settings: Settings, runtime: Runtime) -> AsyncIterator[Served]:
    """Serve the app on a free loopback port in this event loop, as `python -m api serve`
    would (uvicorn, lifespan on), until the block ends."""
    app = create_app(settings, runtime)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws_max_size=settings.ws_max_message_bytes,
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield Served(f"ws://127.0.0.1:{port}/graphql", app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@contextlib.asynccontextmanager
async def socket_to(
    served: Served, protocol: str | None = TRANSPORT, **options: Any
) -> AsyncIterator[ClientConnection]:
    async with connect(
        served.url, subprotocols=[Subprotocol(protocol)] if protocol else None, **options
    ) as client:
        yield client


async def send(client: ClientConnection, message: dict[str, Any]) -> None:
    await client.send(orjson.dumps(message).decode())


async def receive(client: ClientConnection, within: float = 5) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(client.recv(), within))
    return message


async def receive_not(client: ClientConnection, *kinds: str, within: float = 5) -> dict:
    """Return the next message that is not one of these (keep-alives)."""
    while True:
        message = await receive(client, within)
        if message["type"] not in kinds:
            return message


async def closed_with(client: ClientConnection, within: float = 5) -> tuple[int, str]:
    """Wait for the server to close the socket; return its code and reason."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(client.recv(), within)
    assert client.close_code is not None
    return client.close_code, client.close_reason or ""


async def init(client: ClientConnection, token: str | None = None) -> dict[str, Any]:
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await send(client, {"type": "connection_init", "payload": payload})
    return await receive(client)


async def subscribe(
    client: ClientConnection,
    op_id: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    legacy: bool = False,
) -> None:
    await send(
        client,
        {
            "id": op_id,
            "type": "start" if legacy else "subscribe",
            "payload": {"query": query, "variables": variables or {}},
        },
    )


async def until(condition: Any, within: float = 5) -> None:
    """Wait until ``condition()`` holds (a subscription is listening, a stream stopped)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)
