"""Subscription fan-out: a registry of subscriptions, one flush per burst of messages.

A subscription costs a registry entry, not a running task: no graphql-core generator, no
queue, no context of its own while it waits. Subscriptions are grouped by what decides
their result — the document, the operation, the variables and the viewer — into *streams*.
A stream is started once (its feed, ``api.graphql.live``, checks the viewer and names a
broker channel) and then only sits in its channel's list. The broker calls the fan-out for
each message of a watched channel (``Broker.watch``, no task per channel either); messages
are queued and one flush task works through them: for each stream of the channel, the
feed's value, then the selection executed once and serialised once, and the same text
handed to every subscriber of the stream (a member on two devices). Each subscriber's
socket only wraps it in its own protocol envelope.

Executing: documents are prepared once per distinct (document, operation, variables) into
a *plan*: the graphql-core executor built once, the root field, and — when the selection
only reads plain attributes (no resolver, no arguments, no fragments, no directives) — a
projector that builds the result without graphql-core, which is what pushes of thousands
of opportunities need (graphql-core's execution costs ~200 µs per event; the projector a
few). Anything else, or a value the projector does not expect (a null where the schema
says non-null), runs through graphql-core as before.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, Protocol

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    Executor,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    SelectionSetNode,
    Undefined,
    execute_subscription_event,
    is_leaf_type,
    located_error,
)
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_argument_values
from strawberry import relay
from strawberry.types.base import StrawberryObjectDefinition

from api.context import Context, Runtime
from api.documents import CACHEABLE_DOCUMENT_CHARS, Documents
from api.errors import mask
from api.graphql.live import FEEDS, Feed, Start
from api.tokens import Claims

log = logging.getLogger("rapport.fanout")

SUBSCRIBER_QUEUE = 64
"""Pushes a socket may fall behind by before its subscription is ended."""
YIELD_EVERY = 64
"""Messages a flush handles before it lets the sockets write what it gave them."""
CONCURRENT = 64
"""Events whose execution waits on the database, run at once within a flush."""
PLANS = 512
"""Distinct prepared subscriptions kept for reuse (streams keep their own)."""

_DEFINITION = "strawberry-definition"  # strawberry's back-reference in graphql-core types


@dataclasses.dataclass(frozen=True, slots=True)
class StreamKey:
    """What decides a subscription's results: equal keys get the same bytes."""

    query: str
    operation_name: str | None
    variables: str
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
            # Thousands of sockets send the same document: keep one copy of it.
            query=sys.intern(query) if len(query) <= CACHEABLE_DOCUMENT_CHARS else query,
            operation_name=operation_name,
            # Text, not orjson's bytes: those keep a 4 KiB buffer each, per subscription.
            variables=orjson.dumps(variables, option=orjson.OPT_SORT_KEYS).decode()
            if variables
            else "{}",
            viewer_id=claims.member_id if claims else None,
        )


@dataclasses.dataclass(frozen=True, slots=True)
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


class Subscriber(Protocol):
    """One socket's subscription: takes each serialised result (``{"data": …}`` as JSON
    text) as it comes, then how the stream ended. Must not block."""

    def offer(self, item: str | Ended) -> None: ...


@dataclasses.dataclass(eq=False, slots=True)
class _Plan:
    """A subscription document prepared once for its variables, whoever runs it."""

    executor: Executor[Context]
    root_type: GraphQLObjectType
    field: GraphQLField
    field_nodes: list[FieldNode]
    response_key: str
    arguments: dict[str, Any]
    project: Callable[[Any], Any] | None


@dataclasses.dataclass(eq=False, slots=True)
class Stream:
    """The subscribers of one key; started once, then a passive entry of its channel."""

    key: StreamKey
    claims: Claims | None
    request_id: str
    subscribers: set[Subscriber] = dataclasses.field(default_factory=set)
    plan: _Plan | None = None
    feed: Feed | None = None


class Fanout:
    """The subscriptions of one process: streams by key and by channel."""

    def __init__(
        self, runtime: Runtime, documents: Documents, feeds: Mapping[str, Start] | None = None
    ) -> None:
        self._runtime = runtime
        self._documents = documents
        self._feeds = FEEDS if feeds is None else feeds
        self._streams: dict[StreamKey, Stream] = {}
        self._channels: dict[str, list[Stream]] = {}
        self._unwatch: dict[str, Callable[[], None]] = {}
        self._plans: collections.OrderedDict[tuple[str, str | None, str], _Plan] = (
            collections.OrderedDict()
        )
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._starting: set[asyncio.Task[None]] = set()
        self._event_ids = itertools.count(1)
        self.executions = 0
        """Selections executed (or projected) since start: one per event and stream."""
        self.deliveries = 0
        """Results handed to subscribers since start."""

    @property
    def streams(self) -> int:
        """How many distinct subscriptions this process serves."""
        return len(self._streams)

    @property
    def subscribers(self) -> int:
        """How many subscriptions (socket operations) this process serves."""
        return sum(len(stream.subscribers) for stream in self._streams.values())

    def join(
        self,
        key: StreamKey,
        subscriber: Subscriber,
        *,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        claims: Claims | None,
        request_id: str,
    ) -> Stream:
        """Subscribe to the stream for this key, starting it if it does not run yet."""
        stream = self._streams.get(key)
        if stream is None:
            stream = Stream(key, claims, request_id)
            self._streams[key] = stream
            task = asyncio.get_running_loop().create_task(
                self._start(stream, document, variables), name="subscription-start"
            )
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)
        stream.subscribers.add(subscriber)
        return stream

    def leave(self, stream: Stream, subscriber: Subscriber) -> None:
        """Unsubscribe; the stream is forgotten when its last subscriber leaves."""
        stream.subscribers.discard(subscriber)
        if not stream.subscribers:
            self._forget(stream)

    async def close(self) -> None:
        """Stop everything (at shutdown)."""
        self._pending.clear()  # so a cancelled flush starts no other
        tasks = [*self._starting, *([self._flusher] if self._flusher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in list(self._streams.values()):
            self._forget(stream)

    # Starting

    async def _start(
        self, stream: Stream, document: DocumentNode, variables: dict[str, Any] | None
    ) -> None:
        plan: _Plan | None = None
        try:
            built = self._plan(stream.key, document, variables)
            if isinstance(built, list):
                self._end(stream, self._failed(built, stream.request_id))
                return
            plan = built
            start = self._feeds.get(plan.field_nodes[0].name.value)
            if start is None:
                raise GraphQLError(f"no feed for {plan.field_nodes[0].name.value}")
            feed = await start(self._context(stream), plan.arguments)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            nodes = plan.field_nodes if plan else None
            key = plan.response_key if plan else "subscription"
            located = located_error(error, nodes, [key])
            self._end(stream, self._failed([located], stream.request_id))
            return
        if self._streams.get(stream.key) is not stream:
            return  # every subscriber left while it started
        stream.plan, stream.feed = plan, feed
        channel = feed.channel
        streams = self._channels.get(channel)
        if streams is None:
            self._channels[channel] = [stream]
            self._unwatch[channel] = self._runtime.broker.watch(channel, self._on_message)
        else:
            streams.append(stream)

    def _plan(
        self, key: StreamKey, document: DocumentNode, variables: dict[str, Any] | None
    ) -> _Plan | list[GraphQLError]:
        cache_key = (key.query, key.operation_name, key.variables)
        plan = self._plans.get(cache_key)
        if plan is not None:
            self._plans.move_to_end(cache_key)
            return plan
        executor_class = self._documents.executor_class or Executor
        built = executor_class.build(
            self._documents.graphql_schema,
            document,
            raw_variable_values=variables,
            operation_name=key.operation_name,
            hide_suggestions=self._documents.hide_suggestions,
        )
        if isinstance(built, list):
            return built
        schema = built.schema
        root_type = schema.subscription_type
        if root_type is None:
            return [GraphQLError("this schema has no subscriptions")]
        grouped = collect_fields(
            schema,
            built.fragments,
            built.variable_values,
            root_type,
            built.operation,
            built.hide_suggestions,
        ).grouped_field_set
        response_key, details = next(iter(grouped.items()))
        nodes = [detail.node for detail in details]
        field = schema.get_field(root_type, nodes[0].name.value)
        if field is None:
            return [GraphQLError(f"no subscription field {nodes[0].name.value}", nodes)]
        try:
            arguments = get_argument_values(
                field,
                nodes[0],
                built.variable_values,
                details[0].fragment_variable_values,
                built.hide_suggestions,
            )
        except GraphQLError as error:
            return [located_error(error, nodes, [response_key])]
        plan = _Plan(
            executor=built,
            root_type=root_type,
            field=field,
            field_nodes=nodes,
            response_key=response_key,
            arguments=arguments,
            project=_projector(field, nodes) if len(grouped) == 1 else None,
        )
        self._plans[cache_key] = plan
        if len(self._plans) > PLANS:
            self._plans.popitem(last=False)
        return plan

    # Delivering

    def _on_message(self, channel: str, message: dict[str, Any]) -> None:
        self._pending.append((channel, message))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush(), name="subscription-flush"
            )

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                waiting: list[Coroutine[Any, Any, None]] = []
                busy: set[Stream] = set()
                for handled, (channel, message) in enumerate(batch, 1):
                    for stream in tuple(self._channels.get(channel, ())):
                        if stream in busy:  # one event at a time per stream, in order
                            await self._settle(waiting, busy)
                        later = self._event(stream, message)
                        if later is not None:
                            waiting.append(later)
                            busy.add(stream)
                            if len(waiting) >= CONCURRENT:
                                await self._settle(waiting, busy)
                    if handled % YIELD_EVERY == 0:
                        await asyncio.sleep(0)  # the first sockets write while we go on
                await self._settle(waiting, busy)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the subscription fan-out failed; these pushes are lost")
        finally:
            self._flusher = None
            if self._pending:
                self._flusher = asyncio.get_running_loop().create_task(self._flush())

    @staticmethod
    async def _settle(waiting: list[Coroutine[Any, Any, None]], busy: set[Stream]) -> None:
        if waiting:
            batch = list(waiting)
            waiting.clear()
            busy.clear()
            await asyncio.gather(*batch)

    def _event(self, stream: Stream, message: dict[str, Any]) -> Coroutine[Any, Any, None] | None:
        """Handle one message for one stream: done now, or a coroutine still to await."""
        feed = stream.feed
        if feed is None or not stream.subscribers:
            return None
        fresh = _Fresh(self, stream)
        try:
            value = feed.value(message, fresh)
        except Exception as error:
            self._fail(stream, error)
            return None
        if isinstance(value, Awaitable):
            return self._when_read(stream, fresh, value)
        if value is None:
            return None
        return self._emit(stream, fresh, value)

    async def _when_read(self, stream: Stream, fresh: _Fresh, value: Awaitable[Any]) -> None:
        try:
            read = await value
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._fail(stream, error)
            return
        if read is not None:
            later = self._emit(stream, fresh, read)
            if later is not None:
                await later

    def _emit(self, stream: Stream, fresh: _Fresh, value: Any) -> Coroutine[Any, Any, None] | None:
        """Execute the selection once for every subscriber of the stream, serialise it once."""
        plan = stream.plan
        assert plan is not None
        self.executions += 1
        if plan.project is not None:
            try:
                data = plan.project(value)
            except Exception:  # anything unusual: graphql-core says what it is
                data = Undefined
            if data is not Undefined:
                body = {"data": {plan.response_key: data}}
                self._broadcast(stream, orjson.dumps(body).decode())
                return None
        per_event = plan.executor.build_per_event_executor(value)
        context = fresh()
        per_event.context_value = context
        result = execute_subscription_event(per_event)
        if isinstance(result, ExecutionResult):
            self._broadcast(stream, _serialise(result, context))
            return None
        return self._when_executed(stream, result, context)

    async def _when_executed(
        self, stream: Stream, result: Awaitable[ExecutionResult], context: Context
    ) -> None:
        try:
            done = await result
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._fail(stream, error)
            return
        self._broadcast(stream, _serialise(done, context))

    def _broadcast(self, stream: Stream, item: str | Ended) -> None:
        subscribers = tuple(stream.subscribers)
        if isinstance(item, str):
            self.deliveries += len(subscribers)
        for subscriber in subscribers:
            subscriber.offer(item)

    def _fail(self, stream: Stream, error: Exception) -> None:
        plan = stream.plan
        nodes = plan.field_nodes if plan else None
        key = plan.response_key if plan else "subscription"
        located = located_error(error, nodes, [key])
        self._end(stream, self._failed([located], stream.request_id))

    def _end(self, stream: Stream, item: Ended) -> None:
        """Forget the stream, then tell its subscribers how it ended."""
        self._forget(stream)
        self._broadcast(stream, item)
        stream.subscribers.clear()

    def _forget(self, stream: Stream) -> None:
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]
        feed = stream.feed
        if feed is None:
            return
        streams = self._channels.get(feed.channel)
        if streams is not None and stream in streams:
            streams.remove(stream)
            if not streams:
                del self._channels[feed.channel]
                unwatch = self._unwatch.pop(feed.channel, None)
                if unwatch is not None:
                    unwatch()

    def _context(self, stream: Stream) -> Context:
        return Context.verified(
            self._runtime,
            request_id=f"{stream.request_id}.{next(self._event_ids)}",
            claims=stream.claims,
        )

    @staticmethod
    def _failed(errors: list[GraphQLError], request_id: str) -> Ended:
        formatted = [mask(error, request_id).formatted for error in errors]
        return Ended(orjson.dumps(formatted).decode())


class _Fresh:
    """The context of one event, made only if something asks for it (a read, an
    execution): fresh loaders for each event, the previous event's rows are stale."""

    __slots__ = ("_context", "_fanout", "_stream")

    def __init__(self, fanout: Fanout, stream: Stream) -> None:
        self._fanout = fanout
        self._stream = stream
        self._context: Context | None = None

    def __call__(self) -> Context:
        if self._context is None:
            self._context = self._fanout._context(self._stream)
        return self._context


def _serialise(result: ExecutionResult, context: Context) -> str:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [mask(error, context.request_id).formatted for error in result.errors]
    return orjson.dumps(body).decode()


# The projector: a selection of plain attributes, built without graphql-core.


class _NotPlain(Exception):
    """The selection needs graphql-core (a resolver, arguments, fragments, directives…)."""


class _Unusual(Exception):
    """This value needs graphql-core (a null where the schema says non-null, …)."""


Complete = Callable[[Any], Any]


def _projector(field: GraphQLField, nodes: list[FieldNode]) -> Complete | None:
    """Return what turns the root field's value into its result, or None to use graphql-core."""
    definition = field.extensions.get(_DEFINITION)
    if len(nodes) != 1 or nodes[0].directives or not getattr(definition, "is_subscription", 0):
        return None  # the root field of a strawberry subscription yields its value as is
    try:
        return _completer(field.type, nodes[0])
    except _NotPlain:
        return None


def _completer(type_: GraphQLOutputType, node: FieldNode) -> Complete:
    if isinstance(type_, GraphQLNonNull):
        inner = _completer(type_.of_type, node)

        def non_null(value: Any) -> Any:
            if value is None:
                raise _Unusual
            return inner(value)

        return non_null
    if is_leaf_type(type_):
        serialize = type_.serialize

        def leaf(value: Any) -> Any:
            if value is None:
                return None
            serialized = serialize(value)
            if serialized is None or serialized is Undefined:
                raise _Unusual
            return serialized

        return leaf
    if isinstance(type_, GraphQLList):
        item = _completer(type_.of_type, node)

        def many(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
                raise _Unusual
            return [item(one) for one in value]

        return many
    if isinstance(type_, GraphQLObjectType) and node.selection_set is not None:
        project = _object(type_, node.selection_set)

        def one(value: Any) -> Any:
            return None if value is None else project(value)

        return one
    raise _NotPlain  # interfaces and unions resolve their type: graphql-core does


def _object(type_: GraphQLObjectType, selections: SelectionSetNode) -> Complete:
    definition = type_.extensions.get(_DEFINITION)
    origin = definition.origin if isinstance(definition, StrawberryObjectDefinition) else None
    if type_.is_type_of is not None and origin is None:
        raise _NotPlain
    fields: list[tuple[str, Callable[[Any], Any], Complete]] = []
    for selection in selections.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.arguments:
            raise _NotPlain
        key = (selection.alias or selection.name).value
        if any(key == seen for seen, _, _ in fields):
            raise _NotPlain  # merged fields: graphql-core merges them
        name = selection.name.value
        if name == "__typename":
            fields.append((key, _constant(type_.name), _same))
            continue
        field = type_.fields.get(name)
        if field is None:
            raise _NotPlain
        fields.append((key, _reader(type_, origin, field), _completer(field.type, selection)))

    def project(value: Any) -> dict[str, Any]:
        if origin is not None and not isinstance(value, origin):
            raise _Unusual
        return {key: complete(read(value)) for key, read, complete in fields}

    return project


def _reader(
    type_: GraphQLObjectType, origin: type | None, field: GraphQLField
) -> Callable[[Any], Any]:
    resolve = field.resolve
    if resolve is not None and getattr(resolve, "_is_default", False):
        # strawberry's resolver of a field without one: it reads the attribute
        return lambda value: resolve(value, None)
    definition = field.extensions.get(_DEFINITION)
    if (
        origin is not None
        and issubclass(origin, relay.Node)
        and getattr(definition, "python_name", None) == "_id"
        and origin.resolve_id.__func__ is relay.Node.resolve_id.__func__  # type: ignore[attr-defined]
        and origin.resolve_typename.__func__ is relay.Node.resolve_typename.__func__  # type: ignore[attr-defined]
    ):
        # relay's `id`: the type's name and the value of its NodeID attribute
        attribute, type_name = origin.resolve_id_attr(), type_.name
        return lambda value: relay.GlobalID(type_name, str(getattr(value, attribute)))
    raise _NotPlain


def _constant(value: str) -> Callable[[Any], str]:
    return lambda _: value


def _same(value: Any) -> Any:
    return value
