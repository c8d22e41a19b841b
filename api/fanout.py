"""Subscription fan-out: each distinct subscription runs once per process.

Executing a subscription's selection for one event is the expensive part of a push. So
subscriptions are grouped by what decides their result — the document, the operation, the
variables and the viewer — and each group is one *stream*: one source (the subscription
resolver, listening on the broker), one execution per event, one serialisation, and the
same text handed to every subscriber of the group (a member on two devices, a thousand
anonymous clients of a public feed). Each subscriber's socket then only wraps it in its own
protocol envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
from collections.abc import AsyncIterable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    Executor,
    FieldNode,
    GraphQLError,
    create_source_event_stream,
    execute_subscription_event,
    get_operation_ast,
    located_error,
)

from api.context import Context, Runtime
from api.documents import Documents
from api.errors import mask
from api.tokens import Claims

log = logging.getLogger("rapport.fanout")

SUBSCRIBER_QUEUE = 64
"""Pushes a subscriber's socket may fall behind by before its subscription is ended."""


@dataclasses.dataclass(frozen=True)
class StreamKey:
    """What decides a subscription's results: equal keys get the same bytes."""

    query: str
    operation_name: str | None
    variables: bytes
    viewer_id: int | None

    @classmethod
    def of(
        cls,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        claims: Claims | None,
    ) -> StreamKey:
        return cls(
            query=query,
            operation_name=operation_name,
            variables=orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS),
            viewer_id=claims.member_id if claims else None,
        )


@dataclasses.dataclass(frozen=True)
class Ended:
    """The end of a subscription: completed, or stopped by errors (serialised JSON list)."""

    errors: str | None = None


LAGGING = Ended(
    orjson.dumps(
        [
            {
                "message": "this subscription fell too far behind and was ended: subscribe "
                "again and catch up with the matching query",
                "extensions": {"code": "SUBSCRIPTION_LAGGING"},
            }
        ]
    ).decode()
)


class Subscriber:
    """One socket's share of a stream: the serialised results, in order, then an end."""

    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self._queue: asyncio.Queue[str | Ended] = asyncio.Queue(SUBSCRIBER_QUEUE + 1)
        self._ended = False

    async def next(self) -> str | Ended:
        """Return the next result (``{"data": …}`` as JSON text), or how the stream ended."""
        return await self._queue.get()

    def offer(self, item: str | Ended) -> None:
        if self._ended:
            return
        if isinstance(item, Ended):
            self._ended = True
        elif self._queue.qsize() >= SUBSCRIBER_QUEUE:
            # Its socket cannot keep up: end it rather than hold the others back or grow.
            self._ended = True
            item = LAGGING
        self._queue.put_nowait(item)


@dataclasses.dataclass(eq=False)
class _Stream:
    key: StreamKey
    document: DocumentNode
    variables: dict[str, Any] | None
    claims: Claims | None
    request_id: str
    subscribers: set[Subscriber] = dataclasses.field(default_factory=set)
    task: asyncio.Task[None] | None = None

    def broadcast(self, item: str | Ended) -> None:
        for subscriber in list(self.subscribers):
            subscriber.offer(item)


class Fanout:
    """The streams of one process, created on first subscriber and stopped after the last."""

    def __init__(self, runtime: Runtime, documents: Documents) -> None:
        self._runtime = runtime
        self._documents = documents
        self._streams: dict[StreamKey, _Stream] = {}
        self._event_ids = itertools.count(1)

    @property
    def streams(self) -> int:
        """How many distinct subscriptions run in this process."""
        return len(self._streams)

    def join(
        self,
        key: StreamKey,
        *,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        claims: Claims | None,
        request_id: str,
    ) -> Subscriber:
        """Subscribe to the stream for this key, starting it if it does not run yet."""
        stream = self._streams.get(key)
        if stream is None:
            stream = _Stream(key, document, variables, claims, request_id)
            self._streams[key] = stream
            stream.task = asyncio.create_task(self._run(stream), name="subscription-stream")
        subscriber = Subscriber(stream)
        stream.subscribers.add(subscriber)
        return subscriber

    def leave(self, subscriber: Subscriber) -> None:
        """Unsubscribe; the stream stops when its last subscriber leaves."""
        stream = subscriber.stream
        stream.subscribers.discard(subscriber)
        if not stream.subscribers and self._streams.get(stream.key) is stream:
            del self._streams[stream.key]
            if stream.task is not None:
                stream.task.cancel()

    async def close(self) -> None:
        """Stop every stream (at shutdown)."""
        tasks = [stream.task for stream in self._streams.values() if stream.task]
        self._streams.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, stream: _Stream) -> None:
        source: AsyncIterable[Any] | None = None
        try:
            built = self._executor(stream)
            if isinstance(built, list):
                stream.broadcast(self._failed(built, stream.request_id))
                return
            created = create_source_event_stream(built)
            if not isinstance(created, ExecutionResult) and not isinstance(created, AsyncIterable):
                created = await created
            if isinstance(created, ExecutionResult):
                stream.broadcast(self._failed(created.errors or [], stream.request_id))
                return
            source = created
            async for event in source:
                stream.broadcast(await self._execute(built, event, stream))
            stream.broadcast(Ended())
        except asyncio.CancelledError:
            raise
        except Exception as error:
            path = [_root_field(stream.document, stream.key.operation_name)]
            stream.broadcast(self._failed([located_error(error, None, path)], stream.request_id))
        finally:
            # Forgotten before anything awaits: a subscriber arriving now starts a new stream
            # rather than join one that has ended.
            if self._streams.get(stream.key) is stream:
                del self._streams[stream.key]
            if source is not None:
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()

    def _executor(self, stream: _Stream) -> Executor[Context] | list[GraphQLError]:
        executor_class = self._documents.executor_class or Executor
        return executor_class.build(
            self._documents.graphql_schema,
            stream.document,
            context_value=self._context(stream),
            raw_variable_values=stream.variables,
            operation_name=stream.key.operation_name,
            hide_suggestions=self._documents.hide_suggestions,
        )

    def _context(self, stream: _Stream) -> Context:
        return Context.verified(
            self._runtime,
            request_id=f"{stream.request_id}.{next(self._event_ids)}",
            claims=stream.claims,
        )

    async def _execute(self, executor: Executor[Context], event: Any, stream: _Stream) -> str:
        """Execute one event once for every subscriber, and serialise it once."""
        per_event = executor.build_per_event_executor(event)
        # Fresh loaders for each event: the previous event's rows are stale by now.
        context = self._context(stream)
        per_event.context_value = context
        result = execute_subscription_event(per_event)
        if not isinstance(result, ExecutionResult):
            result = await result
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [mask(error, context.request_id).formatted for error in result.errors]
        return orjson.dumps(body).decode()

    @staticmethod
    def _failed(errors: list[GraphQLError], request_id: str) -> Ended:
        formatted = [mask(error, request_id).formatted for error in errors]
        return Ended(orjson.dumps(formatted).decode())


def _root_field(document: DocumentNode, operation_name: str | None) -> str:
    """Return the response name of the subscription's field (where its errors are)."""
    operation = get_operation_ast(document, operation_name)
    if operation is not None:
        for selection in operation.selection_set.selections:
            if isinstance(selection, FieldNode):
                return (selection.alias or selection.name).value
    return "subscription"
