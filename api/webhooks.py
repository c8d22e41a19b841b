"""Partner webhooks on the wire: Standard Webhooks signing, the SSRF guard, and delivery.

The domain decides what to deliver and when (``domain.partners.deliveries``); this module
renders bodies, signs them, and POSTs them with httpx:

- **Signed** per Standard Webhooks 1.0: ``webhook-id`` (stable across retries),
  ``webhook-timestamp`` (Unix seconds, of this attempt) and ``webhook-signature``
  (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per secret in use: two during a
  rotation's overlap).
- **Guarded.** Every connection resolves the host itself, refuses loopback, private,
  link-local (cloud metadata), multicast and reserved addresses unless an operator allowed
  their network (``WEBHOOK_ALLOWED_NETWORKS``), and connects to the very address it checked:
  DNS answering differently a second later changes nothing. Redirects are not followed, at
  most ``MAX_LOGGED_BODY`` bytes of an answer are read, and each attempt has connect and
  total deadlines.
- **Concurrent.** A dispatcher runs up to ``WEBHOOK_CONCURRENCY`` attempts at once, at most
  ``PER_ENDPOINT`` per endpoint, so a slow endpoint never holds up the others.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import email.utils
import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx
import orjson
from strawberry import relay

from domain.consumers import Consumer, Notice
from domain.events import OutboxEvent
from domain.partners import deliveries
from domain.partners.deliveries import MAX_LOGGED_BODY, Claim, Outcome
from domain.partners.rules import (
    Address,
    DeliveryPolicy,
    Network,
    check_target,
    literal_address,
    parse_url,
    unsafe_reason,
)
from domain.store import Store, Transaction

log = logging.getLogger("rapport.webhooks")

USER_AGENT = "Rapport-Webhooks/1.0 (+https://www.standardwebhooks.com/)"
# Attempts one dispatcher makes at once to one endpoint.
PER_ENDPOINT = 2


# --- Signing --------------------------------------------------------------------------------


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return one Standard Webhooks signature (``v1,<base64>``) of a body with a secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(
    secrets: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Return the headers of one attempt: every secret in use signs it."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, body) for s in secrets),
    }


# --- What a partner receives ------------------------------------------------------------------

# Payload fields that hold database ids, and the node type a partner's global id names.
_ID_FIELDS = {
    "member_id": "Member",
    "author_id": "Member",
    "helper_id": "Member",
    "requester_id": "Member",
    "debtor_id": "Member",
    "creditor_id": "Member",
    "broker_id": "Member",
    "target_id": "Member",
    "from_member_id": "Member",
    "to_member_id": "Member",
    "member_ids": "Member",
    "help_request_id": "HelpRequest",
    "offer_id": "Offer",
    "iou_id": "Iou",
    "transfer_id": "Transfer",
    "intro_id": "Intro",
    "relationship_id": "Relationship",
    "endpoint_id": "WebhookEndpoint",
}
# Fields no partner receives: they only link to another partner's things.
_WITHHELD = frozenset({"partner_id"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _global(type_name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_global(type_name, item) for item in value]
    return str(relay.GlobalID(type_name, str(value)))


def render(event: OutboxEvent) -> str:
    """Return the body every attempt of an event's deliveries sends: ``{"type", "timestamp",
    "data"}``, ids as the API's global ids, keys in camelCase."""
    data: dict[str, Any] = {}
    for name, value in event.payload.items():
        if name in _WITHHELD:
            continue
        type_name = _ID_FIELDS.get(name)
        data[_camel(name)] = _global(type_name, value) if type_name else value
    if event.type == "webhook.test":
        data["message"] = "A test event from Rapport: your endpoint receives and verifies."
    occurred = event.occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"type": event.type, "timestamp": occurred, "data": data}).decode()


async def _deliver_event(tx: Transaction, event: OutboxEvent) -> list[Notice]:
    await deliveries.create_deliveries(tx, event, render)
    return []


WEBHOOKS = Consumer(name="webhooks", types=deliveries.DELIVERED_TYPES, handle=_deliver_event)


# --- Where a webhook may go --------------------------------------------------------------------

Resolve = Callable[[str, int], Awaitable[list[Address]]]


async def resolve(host: str, port: int) -> list[Address]:
    """Return every address a host name resolves to (the system resolver, no cache)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: dict[Address, None] = {}
    for *_, sockaddr in infos:
        found[ipaddress.ip_address(str(sockaddr[0]).split("%")[0])] = None
    return list(found)


class UnsafeTarget(Exception):
    """A webhook's host resolves to an address it must not be sent to."""


@dataclasses.dataclass(frozen=True)
class Guard:
    """Which addresses webhooks may reach: public ones, and the operator's allowed networks."""

    allowed: tuple[Network, ...] = ()
    resolver: Resolve = resolve

    async def addresses(self, host: str) -> list[Address]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        try:
            return await self.resolver(host, 443)
        except (OSError, UnicodeError):
            return []

    async def check_url(self, url: str) -> None:
        """Refuse (INVALID_INPUT on ``url``) a URL that is malformed, plain HTTP to a public
        host, or resolves to an address webhooks are not sent to."""
        target = parse_url(url)
        check_target(target, await self.addresses(target.host), self.allowed)

    async def connectable(self, host: str, port: int) -> list[Address]:
        """Return the addresses to connect to for a host, every one of them checked."""
        addresses = await self.addresses(host)
        if not addresses:
            raise UnsafeTarget(f"{host} does not resolve")
        for address in addresses:
            reason = unsafe_reason(address, self.allowed)
            if reason is not None:
                raise UnsafeTarget(f"{host} resolves to {reason}")
        return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard checked, to the address it checked."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.connectable(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeTarget("webhooks are not sent to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, guard: Guard, connections: int) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool without a way to pass a network backend; build it again with
        # ours (httpx is pinned below 0.29 for this).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=30.0,
            network_backend=_GuardedBackend(guard),
        )


def client(
    guard: Guard, *, connect_timeout: float, timeout: float, connections: int
) -> httpx.AsyncClient:
    """Return the HTTP client deliveries go out with: guarded, no redirects, no proxies from
    the environment, bounded waits."""
    return httpx.AsyncClient(
        transport=_GuardedTransport(guard, connections),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
    )


# --- Sending ------------------------------------------------------------------------------------


def retry_after(value: str | None, now: dt.datetime) -> dt.timedelta | None:
    """Return how long a ``Retry-After`` header asks to wait (seconds, or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return dt.timedelta(seconds=int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(when - now, dt.timedelta(0))


@dataclasses.dataclass
class Dispatcher:
    """Claims due deliveries and makes their attempts, many at once."""

    store: Store
    http: httpx.AsyncClient
    policy: DeliveryPolicy
    timeout: float = 15.0
    concurrency: int = 16
    poll_seconds: float = 1.0
    retention: dt.timedelta = dt.timedelta(days=30)
    purge_every: dt.timedelta = dt.timedelta(hours=1)

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._tasks: dict[asyncio.Task[None], int] = {}
        self._purged_at: dt.datetime | None = None
        self._stopping = False

    def wake(self) -> None:
        """Look for due deliveries now (new ones were just made)."""
        self._wake.set()

    def stop(self) -> None:
        """Ask ``run`` to claim nothing more and return once the attempts in flight end."""
        self._stopping = True
        self._wake.set()

    async def round(self) -> int:
        """Claim what is due (as many as there are free slots) and start its attempts;
        return how many were started."""
        free = self.concurrency - len(self._tasks)
        if free <= 0:
            return 0
        busy = Counter(self._tasks.values())
        skip = [endpoint for endpoint, n in busy.items() if n >= PER_ENDPOINT]
        async with self.store.transaction() as tx:
            claims = await deliveries.claim_due(
                tx, limit=free, policy=self.policy, skip_endpoints=skip, per_endpoint=PER_ENDPOINT
            )
            await tx.commit()
        for claim in claims:
            task = asyncio.create_task(self._attempt(claim), name=f"webhook-{claim.delivery_id}")
            self._tasks[task] = claim.endpoint_id
            task.add_done_callback(self._finished)
        return len(claims)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._wake.set()  # a slot is free

    async def drain(self) -> int:
        """Make every attempt that is due now and wait for them (tests, and shutdown)."""
        started = 0
        while True:
            started += await self.round()
            if not self._tasks:
                return started
            await asyncio.wait(list(self._tasks))

    async def _attempt(self, claim: Claim) -> None:
        outcome = await self.send(claim)
        try:
            async with self.store.transaction() as tx:
                await deliveries.record(tx, claim, outcome, self.policy)
                await tx.commit()
        except Exception:
            # The lease runs out and the attempt is made again: at least once, never lost.
            log.exception("could not record attempt %s of %s", claim.number, claim.message_id)

    async def send(self, claim: Claim) -> Outcome:
        """POST one attempt and return what came back; never raises for the endpoint's sake."""
        started_at = self.store.clock()
        begun = time.monotonic()
        body = claim.body.encode()
        # The wall clock, not the store's: receivers check it against theirs (±5 min).
        headers = signed_headers(claim.secrets, claim.message_id, int(time.time()), body)

        def outcome(**fields: Any) -> Outcome:
            elapsed = int((time.monotonic() - begun) * 1000)
            return Outcome(started_at=started_at, duration_ms=elapsed, **fields)

        if not claim.secrets:
            return outcome(error="the endpoint has no signing secret")
        try:
            async with asyncio.timeout(self.timeout):
                async with self.http.stream(
                    "POST", claim.url, content=body, headers=headers
                ) as response:
                    read = bytearray()
                    async for chunk in response.aiter_raw():
                        read.extend(chunk)
                        if len(read) >= MAX_LOGGED_BODY:
                            break
                    status = response.status_code
                    wait = (
                        retry_after(response.headers.get("retry-after"), self.store.clock())
                        if status in (429, 503)
                        else None
                    )
                    error = None
                    if 300 <= status < 400:
                        error = f"answered {status}: redirects are not followed"
                    elif not 200 <= status < 300:
                        error = f"answered {status}"
                    return outcome(
                        status_code=status,
                        error=error,
                        response_body=bytes(read[:MAX_LOGGED_BODY]).decode(errors="replace"),
                        retry_after=wait,
                    )
        except UnsafeTarget as unsafe:
            return outcome(error=f"refused: {unsafe}")
        except TimeoutError:
            return outcome(error=f"no answer within {self.timeout:g} s")
        except httpx.TimeoutException as timeout:
            return outcome(error=f"timed out: {type(timeout).__name__}")
        except httpx.HTTPError as failure:
            return outcome(error=f"{type(failure).__name__}: {failure}"[:300])

    async def purge(self) -> int:
        """Delete finished deliveries older than the retention period."""
        async with self.store.transaction() as tx:
            count = await deliveries.purge(tx, older_than=self.retention)
            await tx.commit()
        if count:
            log.info("purged %d webhook deliveries older than %s", count, self.retention)
        return count

    async def run(self) -> None:
        """Deliver until stopped (or cancelled): woken by new deliveries and free slots, else
        polling. Stopping lets the attempts in flight finish and record their answers."""
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    now = self.store.clock()
                    if self._purged_at is None or now - self._purged_at >= self.purge_every:
                        self._purged_at = now
                        await self.purge()
                    await self.round()
                except Exception:
                    log.exception("webhook round failed; retrying in %s s", self.poll_seconds)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            if self._tasks:
                await asyncio.wait(list(self._tasks))
        finally:
            # Cancelled: an attempt cut short is made again once its lease ends.
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks))
            await self.http.aclose()
