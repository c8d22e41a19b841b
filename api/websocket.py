"""GraphQL over WebSocket at ``/graphql``: ``graphql-transport-ws`` (current; queries,
mutations and subscriptions) and ``graphql-ws`` (legacy; subscriptions only).

The caller signs in with ``{"authorization": "Bearer <token>"}`` in ``connection_init``,
checked as over HTTP (token, then session); the socket is closed when that token expires.
Subscriptions run through the process's fan-out (see ``api.fanout``): one execution per
distinct subscription, whatever the number of sockets that asked for it. An idle socket
costs one task (the one that reads it) and two timers (keep-alive, token expiry); a push
is queued on the socket and written by a task that lives only while there is something
to write.

Close codes (README, "Subscriptions"): 4400 malformed message, 4401 subscribe before
``connection_ack`` or access token expired, 4403 bad token, 4406 no supported subprotocol,
4408 no ``connection_init`` in time, 4409 subscription id already in use, 4429 second
``connection_init``, 1009 message too big.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
from graphql import GraphQLError, OperationType, get_operation_ast
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.context import Context, Runtime
from api.documents import Documents, coded
from api.errors import Unauthenticated, mask
from api.fanout import LAGGING, SUBSCRIBER_QUEUE, Ended, Fanout, Stream, StreamKey
from api.tokens import Claims

log = logging.getLogger("rapport.websocket")

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
EXPIRY_RECHECK_SECONDS = 30.0
"""How often a socket re-reads the clock while its token is valid (clocks can jump)."""


class GraphQLWebSocket:
    """The Starlette endpoint for ``WebSocket /graphql``."""

    def __init__(self, runtime: Runtime, documents: Documents, fanout: Fanout) -> None:
        self.runtime = runtime
        self.documents = documents
        self.fanout = fanout
        settings = runtime.settings
        self.allowed_origins = settings.allowed_origins
        self.max_subscriptions = settings.ws_max_subscriptions
        self.init_timeout = settings.ws_init_timeout.total_seconds()
        self.max_message_bytes = settings.ws_max_message_bytes
        self.ping_interval = settings.ws_ping_interval.total_seconds()

    async def handle(self, websocket: WebSocket) -> None:
        if not self.origin_allowed(websocket):
            # Closing before accepting refuses the handshake with 403: a page of another
            # site must not ride on a member's browser (cross-site WebSocket hijacking).
            await websocket.close(code=4403)
            return
        offered = websocket.scope.get("subprotocols") or []
        protocol = next((name for name in PROTOCOLS if name in offered), None)
        await websocket.accept(subprotocol=protocol)
        if protocol is None:
            await websocket.close(code=4406, reason="Subprotocol not acceptable")
            return
        request_id = websocket.scope.get("state", {}).get("request_id") or secrets.token_hex(8)
        await _Connection(self, websocket, protocol, request_id).serve()

    def origin_allowed(self, websocket: WebSocket) -> bool:
        """Browsers send Origin: allow the same host, localhost (by default) or the list."""
        origin = websocket.headers.get("origin")
        if origin is None:
            return True  # not a browser: nothing to hijack
        origin = origin.strip().rstrip("/").lower()
        if "*" in self.allowed_origins or origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        if parts.netloc == websocket.headers.get("host", "").lower():
            return True
        return not self.allowed_origins and parts.hostname in LOCAL_HOSTS


class _Close(Exception):
    """Close the socket with this code (raised where a protocol rule is broken)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Subscription:
    """One operation's share of a fan-out stream (see ``api.fanout.Subscriber``)."""

    __slots__ = ("connection", "op_id", "stream")

    def __init__(self, connection: _Connection, op_id: str) -> None:
        self.connection = connection
        self.op_id = op_id
        self.stream: Stream | None = None

    def offer(self, item: str | Ended) -> None:
        connection = self.connection
        if isinstance(item, str):
            if not connection.lagging():
                # The result was serialised once for every subscriber: only wrap it.
                kind = "data" if connection.legacy else "next"
                connection.enqueue(connection.envelope(self.op_id, kind) + item + "}")
                return
            # Its socket cannot keep up: end it rather than hold the others back or grow.
            item = LAGGING
            if self.stream is not None:
                connection.endpoint.fanout.leave(self.stream, self)
        if connection.operations.get(self.op_id) is self:
            del connection.operations[self.op_id]
        if item.errors is not None:
            connection.enqueue(connection.errors_message(self.op_id, orjson.loads(item.errors)))
        else:
            connection.enqueue(orjson.dumps({"id": self.op_id, "type": "complete"}).decode())


class _Connection:
    __slots__ = (
        "_drainer",
        "_expiry_timer",
        "_outbox",
        "_ping_timer",
        "_sending",
        "acknowledged",
        "background",
        "claims",
        "closed",
        "endpoint",
        "initialised",
        "legacy",
        "operations",
        "request_id",
        "runtime",
        "websocket",
    )

    def __init__(
        self, endpoint: GraphQLWebSocket, websocket: WebSocket, protocol: str, request_id: str
    ) -> None:
        self.endpoint = endpoint
        self.runtime = endpoint.runtime
        self.websocket = websocket
        self.legacy = protocol == LEGACY_WS
        self.request_id = request_id
        self.claims: Claims | None = None
        self.initialised = False
        self.acknowledged = False
        self.closed = False
        # Queries and mutations run as tasks; subscriptions are entries of the fan-out.
        self.operations: dict[str, asyncio.Task[None] | _Subscription] = {}
        self.background: set[asyncio.Task[None]] = set()
        self._sending = asyncio.Lock()
        # Pushes waiting for the socket, and the task writing them (only while there are).
        self._outbox: collections.deque[str] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._expiry_timer: asyncio.TimerHandle | None = None

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.endpoint.init_timeout
        try:
            while not self.closed:
                if self.initialised:
                    message = await self.websocket.receive()
                else:
                    try:
                        message = await asyncio.wait_for(
                            self.websocket.receive(), max(0.0, deadline - loop.time())
                        )
                    except TimeoutError:
                        raise _Close(4408, "Connection initialisation timeout") from None
                if message["type"] == "websocket.disconnect":
                    break
                await self._receive(message)
        except _Close as close:
            await self.close(close.code, close.reason)
        except WebSocketDisconnect:
            pass
        finally:
            self.closed = True
            await self._stop_everything()

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        async with self._sending:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await self.websocket.close(code=code, reason=reason)

    async def _stop_everything(self) -> None:
        for timer in (self._ping_timer, self._expiry_timer):
            if timer is not None:
                timer.cancel()
        tasks = [*self.background]
        if self._drainer is not None:
            tasks.append(self._drainer)
        for operation in list(self.operations.values()):
            if isinstance(operation, asyncio.Task):
                tasks.append(operation)
            else:
                self._leave(operation)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.operations.clear()
        self._outbox = None

    async def _receive(self, raw: Mapping[str, Any]) -> None:
        text = raw.get("text")
        if text is None:
            raise _Close(4400, "Messages are JSON text")
        limit = self.endpoint.max_message_bytes
        if len(text) > limit // 4 and len(text.encode()) > limit:
            raise _Close(1009, f"Message too big: at most {limit} bytes")
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise _Close(4400, "Invalid message received: not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise _Close(4400, "Invalid message received: no type")
        if self.claims is not None and self._expired():
            raise _Close(4401, "Unauthorized: the access token expired")
        if self.legacy:
            await self._legacy(message)
        else:
            await self._transport(message)

    # graphql-transport-ws

    async def _transport(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            await self._init(message.get("payload"))
            await self._send({"type": "connection_ack"})
            self.acknowledged = True
            self._ping_later()
        elif kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            if not self.acknowledged:
                raise _Close(4401, "Unauthorized")
            op_id, payload = _operation(message)
            if op_id in self.operations:
                raise _Close(4409, f"Subscriber for {op_id} already exists")
            await self._start(op_id, payload)
        elif kind == "complete":
            self._stop(message.get("id"))
        else:
            raise _Close(4400, f"Invalid message received: unknown type {kind!r}")

    # graphql-ws (subscriptions-transport-ws), legacy

    async def _legacy(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            try:
                await self._init(message.get("payload"))
            except _Close as close:
                if close.code == 4403:
                    await self._send(
                        {"type": "connection_error", "payload": {"message": close.reason}}
                    )
                raise
            await self._send({"type": "connection_ack"})
            await self._send({"type": "ka"})
            self.acknowledged = True
            self._ping_later()
        elif kind == "start":
            if not self.acknowledged:
                raise _Close(4401, "Unauthorized")
            op_id, payload = _operation(message)
            # This protocol restarts an operation whose id is reused.
            await self._stop_and_wait(op_id)
            await self._start(op_id, payload)
        elif kind == "stop":
            self._stop(message.get("id"))
        elif kind == "connection_terminate":
            raise _Close(1000, "Terminated by the client")
        else:
            raise _Close(4400, f"Invalid message received: unknown type {kind!r}")

    # both protocols

    async def _init(self, payload: Any) -> None:
        if self.initialised:
            raise _Close(4429, "Too many initialisation requests")
        self.initialised = True
        if payload is not None and not isinstance(payload, dict):
            raise _Close(4400, "The connection_init payload must be an object")
        authorization = (payload or {}).get("authorization")
        if authorization is not None and not isinstance(authorization, str):
            raise _Close(4403, "Forbidden: `authorization` must be `Bearer <access token>`")
        context = Context(
            self.runtime,
            request_id=self.request_id,
            authorization=authorization,
            connection=self.websocket,
        )
        try:
            self.claims = await context.claims()
        except Unauthenticated as error:
            raise _Close(4403, f"Forbidden: {error.message}") from None
        if self.claims is not None:
            self._check_expiry()

    async def _start(self, op_id: str, payload: dict[str, Any]) -> None:
        if len(self.operations) >= self.endpoint.max_subscriptions:
            limit = self.endpoint.max_subscriptions
            error = GraphQLError(
                f"at most {limit} operations at once on one connection: complete one first",
                extensions={"code": "LIMIT_EXCEEDED", "limit": limit},
            )
            await self._send_errors(op_id, [error.formatted])
            return
        query, variables = payload["query"], payload["variables"]
        operation_name = payload["operationName"]
        prepared = self.endpoint.documents.prepare(query)
        if prepared.errors or prepared.document is None:
            await self._send_errors(op_id, [error.formatted for error in prepared.errors])
            return
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            error = coded(
                GraphQLError("no operation to run: say which in `operationName`"), "BAD_REQUEST"
            )
            await self._send_errors(op_id, [error.formatted])
            return
        if operation.operation is OperationType.SUBSCRIPTION:
            subscription = _Subscription(self, op_id)
            self.operations[op_id] = subscription
            subscription.stream = self.endpoint.fanout.join(
                StreamKey.of(query, operation_name, variables, self.claims),
                subscription,
                document=prepared.document,
                variables=variables,
                claims=self.claims,
                request_id=self.request_id,
            )
            return
        if self.legacy:
            error = coded(
                GraphQLError(
                    "graphql-ws runs subscriptions only: use HTTP or graphql-transport-ws"
                ),
                "BAD_REQUEST",
            )
            await self._send_errors(op_id, [error.formatted])
            return
        else:
            task = asyncio.create_task(
                self._execute_once(op_id, prepared.document, operation, variables, operation_name)
            )
        self.operations[op_id] = task
        task.add_done_callback(lambda done: self._forget(op_id, done))

    async def _execute_once(
        self,
        op_id: str,
        document: Any,
        operation: Any,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> None:
        context = Context.verified(self.runtime, request_id=self.request_id, claims=self.claims)
        result = await self.endpoint.documents.execute(
            document, operation, context, variables, operation_name
        )
        errors = [mask(error, context.request_id).formatted for error in result.errors or ()]
        if result.data is None and errors and all("path" not in error for error in errors):
            await self._send_errors(op_id, errors)
            return
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = errors
        await self._send({"id": op_id, "type": "next", "payload": body})
        await self._send({"id": op_id, "type": "complete"})

    def _stop(self, op_id: Any) -> None:
        operation = self.operations.pop(op_id, None) if isinstance(op_id, str) else None
        if isinstance(operation, asyncio.Task):
            operation.cancel()
        elif operation is not None:
            self._leave(operation)

    async def _stop_and_wait(self, op_id: str) -> None:
        operation = self.operations.pop(op_id, None)
        if isinstance(operation, asyncio.Task):
            operation.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await operation
        elif operation is not None:
            self._leave(operation)

    def _leave(self, subscription: _Subscription) -> None:
        if subscription.stream is not None:
            self.endpoint.fanout.leave(subscription.stream, subscription)
            subscription.stream = None

    def _forget(self, op_id: str, task: asyncio.Task[None]) -> None:
        if self.operations.get(op_id) is task:
            del self.operations[op_id]
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "operation %s failed",
                op_id,
                exc_info=task.exception(),
                extra={"request_id": self.request_id},
            )

    def _in_background(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def _ping_later(self) -> None:
        # Keeps idle connections open through proxies; graphql-ws clients answer by
        # themselves. Dead peers are found by uvicorn's WebSocket-level pings. A timer,
        # not a task: thousands of idle sockets each hold one.
        loop = asyncio.get_running_loop()
        self._ping_timer = loop.call_later(self.endpoint.ping_interval, self._ping)

    def _ping(self) -> None:
        if self.closed:
            return
        self.enqueue('{"type":"ka"}' if self.legacy else '{"type":"ping"}')
        self._ping_later()

    def _check_expiry(self) -> None:
        self._expiry_timer = None
        if self.closed:
            return
        if self._expired():
            self._in_background(self.close(4401, "Unauthorized: the access token expired"))
            return
        assert self.claims is not None
        remaining = (self.claims.expires_at - self.runtime.store.clock()).total_seconds()
        self._expiry_timer = asyncio.get_running_loop().call_later(
            min(max(remaining, 0.01), EXPIRY_RECHECK_SECONDS), self._check_expiry
        )

    def _expired(self) -> bool:
        assert self.claims is not None
        return self.claims.expires_at <= self.runtime.store.clock()

    async def _send_errors(self, op_id: str, errors: list[Any]) -> None:
        await self._send_text(self.errors_message(op_id, errors))

    def errors_message(self, op_id: str, errors: list[Any]) -> str:
        # graphql-transport-ws: a list of errors; the legacy protocol: one error object.
        payload = errors[0] if self.legacy and errors else errors
        return orjson.dumps({"id": op_id, "type": "error", "payload": payload}).decode()

    @staticmethod
    def envelope(op_id: str, kind: str) -> str:
        return '{"id":' + orjson.dumps(op_id).decode() + ',"type":"' + kind + '","payload":'

    def lagging(self) -> bool:
        """Whether this socket is too far behind to be given more pushes."""
        return self._outbox is not None and len(self._outbox) >= SUBSCRIBER_QUEUE

    def enqueue(self, text: str) -> None:
        """Send this text after what is queued, without waiting (pushes, keep-alives)."""
        if self.closed:
            return
        if self._outbox is None:
            self._outbox = collections.deque()
        self._outbox.append(text)
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._outbox and not self.closed:
                await self._send_text(self._outbox.popleft())
        finally:
            self._drainer = None
            self._outbox = None  # an idle socket holds no queue

    async def _send(self, message: dict[str, Any]) -> None:
        await self._send_text(orjson.dumps(message).decode())

    async def _send_text(self, text: str) -> None:
        if self.closed:
            return
        async with self._sending:
            try:
                await self.websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.closed = True


def _operation(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    op_id = message.get("id")
    payload = message.get("payload")
    if not isinstance(op_id, str) or not op_id:
        raise _Close(4400, "Invalid message received: `id` must be a non-empty string")
    if not isinstance(payload, dict):
        raise _Close(4400, "Invalid message received: `payload` must be an object")
    query = payload.get("query")
    variables = payload.get("variables")
    operation_name = payload.get("operationName") or None
    if not isinstance(query, str) or not query.strip():
        raise _Close(4400, "Invalid message received: `payload.query` must be a string")
    if variables is not None and not isinstance(variables, dict):
        raise _Close(4400, "Invalid message received: `payload.variables` must be an object")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _Close(4400, "Invalid message received: `payload.operationName` must be a string")
    return op_id, {"query": query, "variables": variables, "operationName": operation_name}
