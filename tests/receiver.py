"""A partner's webhook endpoint on loopback: a real HTTP server that records what it is sent
and answers as the test says."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclasses.dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


# What to answer: (status, headers, body) for each request received.
Answer = Callable[[Received], tuple[int, dict[str, str], bytes]]


def ok(_received: Received) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, b"thanks"


class Receiver:
    """Serves on 127.0.0.1 in the test's event loop until stopped."""

    def __init__(self, answer: Answer = ok, *, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.received: list[Received] = []
        # Webhook ids received while a request with the same id was still being answered.
        self.overlaps: list[str] = []
        self._in_flight: Counter[str] = Counter()
        self.arrived = asyncio.Event()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[Any] | None = None
        self.port = 0

    async def _handle(self, request: Request) -> Response:
        received = Received(
            path=request.url.path,
            headers={key.lower(): value for key, value in request.headers.items()},
            body=await request.body(),
        )
        self.received.append(received)
        self.arrived.set()
        webhook_id = received.headers.get("webhook-id", "")
        if self._in_flight[webhook_id]:
            self.overlaps.append(webhook_id)
        self._in_flight[webhook_id] += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            status, headers, body = self.answer(received)
            return Response(body, status_code=status, headers=headers)
        finally:
            self._in_flight[webhook_id] -= 1

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> Receiver:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "GET"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        assert self._task is not None
        self._server.should_exit = True
        await self._task

    async def wait_for(self, count: int, seconds: float = 10.0) -> list[Received]:
        """Wait until ``count`` requests have arrived; return them all."""
        async with asyncio.timeout(seconds):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received
