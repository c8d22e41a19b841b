"""Expected failures: a refused rule carries a stable code the API shows to clients."""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Code(enum.Enum):
    """Why a command was refused; stable, documented, shown to clients as ``ErrorCode``."""

    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    INSUFFICIENT_KARMA = "INSUFFICIENT_KARMA"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_TOKEN = "INVALID_TOKEN"
    RATE_LIMITED = "RATE_LIMITED"


DESCRIPTIONS: dict[Code, str] = {
    Code.INVALID_INPUT: "A value is malformed or out of range; `field` names it.",
    Code.NOT_FOUND: "The thing named does not exist, or the viewer may not see it.",
    Code.FORBIDDEN: "The viewer may see the thing but not do this to it.",
    Code.CONFLICT: "The request contradicts an earlier one (e.g. an idempotency key reused "
    "with another body).",
    Code.ALREADY_EXISTS: "Something unique (an email, a handle) is taken.",
    Code.INVALID_TRANSITION: "The thing is not in a state that allows this.",
    Code.INSUFFICIENT_KARMA: "The karma account cannot cover the amount.",
    Code.LIMIT_EXCEEDED: "A count limit (tags, open requests, …) would be exceeded.",
    Code.WEAK_PASSWORD: "The password breaks the password policy; the message says how.",
    Code.INVALID_CREDENTIALS: "The email and password do not match an account.",
    Code.INVALID_TOKEN: "The refresh token is unknown, expired, spent or revoked: sign in again.",
    Code.RATE_LIMITED: "Too many attempts; try again after the time the message gives.",
}


class DomainError(Exception):
    """A rule refused a command. ``field`` is the input path (domain names) it concerns."""

    def __init__(self, code: Code, message: str, field: Iterable[str] | str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if isinstance(field, str):
            field = (field,)
        self.field: tuple[str, ...] | None = tuple(field) if field is not None else None
        # Set when the refusal itself was recorded (an idempotency key's outcome): the
        # transaction is committed, not rolled back, so a retry replays it.
        self.recorded = False

    def problems(self) -> list[DomainError]:
        """Return every problem this error stands for (one, unless it is a ``Problems``)."""
        return [self]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value}, {self.message!r}, field={self.field})"


class Problems(DomainError):
    """Several input problems found at once, so a form can show them all together."""

    def __init__(self, errors: list[DomainError]) -> None:
        assert errors, "Problems needs at least one error"
        first = errors[0]
        super().__init__(first.code, first.message, first.field)
        self.errors = errors

    def problems(self) -> list[DomainError]:
        return list(self.errors)


class Checks:
    """Collect input problems, then raise them together."""

    def __init__(self) -> None:
        self.errors: list[DomainError] = []

    def add(self, code: Code, message: str, field: Iterable[str] | str | None = None) -> None:
        """Record a problem."""
        self.errors.append(DomainError(code, message, field))

    def raise_any(self) -> None:
        """Raise what was recorded, if anything."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise Problems(self.errors)


def not_found(what: str, field: str | None = None) -> DomainError:
    """Say that a thing does not exist (or is not visible to the viewer)."""
    return DomainError(Code.NOT_FOUND, f"{what} was not found", field)


def invalid(message: str, field: Iterable[str] | str | None = None) -> DomainError:
    """Say that an input value is not acceptable."""
    return DomainError(Code.INVALID_INPUT, message, field)
