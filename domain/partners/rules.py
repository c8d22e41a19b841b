"""What partners may do and receive, and how deliveries are retried: pure rules, no I/O."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import random
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from domain.errors import invalid

MANAGE_WEBHOOKS = "webhooks:manage"
READ_ALL = "read:*"
# Each readable area, and the event types whose data it covers.
READ_SCOPES = ("read:members", "read:network", "read:marketplace", "read:ledger")
SCOPES = (MANAGE_WEBHOOKS, READ_ALL, *READ_SCOPES)

# The events partners may subscribe to, and the scope that lets them read each one's data.
EVENT_SCOPES: dict[str, str] = {
    "member.joined": "read:members",
    "connection.accepted": "read:network",
    "intro.accepted": "read:network",
    "help_request.posted": "read:marketplace",
    "help_request.fulfilled": "read:marketplace",
    "help_request.cancelled": "read:marketplace",
    "offer.accepted": "read:marketplace",
    "help.completed": "read:marketplace",
    "karma.transferred": "read:ledger",
    "iou.issued": "read:ledger",
    "iou.settled": "read:ledger",
    # About the partner's own endpoints: no read scope needed.
    "webhook_endpoint.disabled": MANAGE_WEBHOOKS,
    "webhook.test": MANAGE_WEBHOOKS,
}
EVENT_TYPES = tuple(EVENT_SCOPES)

MAX_URL_LENGTH = 2000
MAX_EVENT_TYPES = len(EVENT_TYPES)


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """Return the scopes in their canonical order, refusing unknown ones."""
    wanted = set(scopes)
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise invalid(
            f"unknown scope {', '.join(unknown)}; the scopes are {', '.join(SCOPES)}", "scopes"
        )
    return [scope for scope in SCOPES if scope in wanted]


def may_read(scopes: Iterable[str], event_type: str) -> bool:
    """Whether an app with these scopes may receive events of this type."""
    needed = EVENT_SCOPES.get(event_type)
    granted = set(scopes)
    if needed is None:
        return False
    if needed in READ_SCOPES and READ_ALL in granted:
        return True
    return needed in granted


def check_event_types(event_types: Sequence[str], scopes: Iterable[str]) -> list[str]:
    """Return the event types, deduplicated in order; refuse unknown ones, or ones the
    app's scopes do not let it read."""
    if not event_types:
        raise invalid("name at least one event type", "event_types")
    chosen = list(dict.fromkeys(event_types))
    unknown = [name for name in chosen if name not in EVENT_SCOPES]
    if unknown:
        raise invalid(
            f"unknown event type {', '.join(unknown)}; the types are {', '.join(EVENT_TYPES)}",
            "event_types",
        )
    granted = list(scopes)
    unreadable = [name for name in chosen if not may_read(granted, name)]
    if unreadable:
        needed = sorted({EVENT_SCOPES[name] for name in unreadable})
        raise invalid(
            f"this app's scopes do not cover {', '.join(unreadable)} (it needs "
            f"{' or '.join(needed)}, or read:*)",
            "event_types",
        )
    return chosen


# --- Where a webhook may go ----------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclasses.dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def parse_url(url: str) -> Target:
    """Return where a webhook URL points, or refuse it (INVALID_INPUT on ``url``)."""
    text = url.strip()
    if len(text) > MAX_URL_LENGTH:
        raise invalid(f"a URL has at most {MAX_URL_LENGTH} characters", "url")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise invalid("not a URL", "url") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise invalid("use an https:// URL", "url")
    if parts.username or parts.password:
        raise invalid("a webhook URL carries no user name or password", "url")
    if parts.fragment:
        raise invalid("a webhook URL has no #fragment", "url")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname.lower(), port or default)


def literal_address(host: str) -> Address | None:
    """Return the address a host names literally (``127.0.0.1``, ``::1``), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def unsafe_reason(address: Address, allowed: Sequence[Network]) -> str | None:
    """Say why a webhook must not be sent to this address, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return None
    for test, what in (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address (cloud metadata lives there)"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "an address that is not public"),
    ):
        if test:
            return f"{address} is {what}"
    return None


def check_target(target: Target, addresses: Sequence[Address], allowed: Sequence[Network]) -> None:
    """Refuse a target if any address its host resolves to is not public (unless allowed),
    or if it is plain HTTP to a public host."""
    if not addresses:
        raise invalid(f"{target.host} does not resolve to any address", "url")
    for address in addresses:
        reason = unsafe_reason(address, allowed)
        if reason is not None:
            raise invalid(f"webhooks are not sent to {target.host}: {reason}", "url")
    if target.scheme != "https" and not all(
        any(address in network for network in allowed) for address in addresses
    ):
        raise invalid("use an https:// URL (plain http only to allow-listed networks)", "url")


# --- When to try again ----------------------------------------------------------------------

# Standard Webhooks' schedule: the delay before each attempt (the first is immediate).
DEFAULT_SCHEDULE = tuple(
    dt.timedelta(seconds=s) for s in (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
)


@dataclasses.dataclass(frozen=True)
class DeliveryPolicy:
    schedule: tuple[dt.timedelta, ...] = DEFAULT_SCHEDULE
    # Each wait is stretched or shrunk by up to this fraction, so retries do not march in step.
    jitter: float = 0.1
    # An endpoint that has failed every attempt for this long is disabled.
    disable_after: dt.timedelta = dt.timedelta(days=5)
    # A Retry-After longer than this is not waited for in full.
    max_retry_after: dt.timedelta = dt.timedelta(hours=24)
    # How long an attempt in flight holds its delivery before another worker may retry it.
    lease: dt.timedelta = dt.timedelta(seconds=60)

    def next_wait(
        self, step: int, retry_after: dt.timedelta | None, rng: random.Random | None = None
    ) -> dt.timedelta | None:
        """Return the wait before attempt ``step + 1`` after ``step`` failed attempts, or None
        when the schedule is spent."""
        if step >= len(self.schedule):
            return None
        wait = self.schedule[step]
        if self.jitter and wait:
            spread = (rng or random).uniform(-self.jitter, self.jitter)
            wait = wait * (1 + spread)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait
