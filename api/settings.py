"""Settings from the environment, checked at start; defaults run on one machine with nothing
installed but Python (a SQLite file and a signing key kept under ``var/``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from domain.partners.rules import DEFAULT_SCHEDULE, Network

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = ("HS256", "EdDSA", "RS256")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ENVIRONMENTS = ("development", "production")


class SettingsError(ValueError):
    """One or more settings are missing or malformed; the message names each."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    environment: str = "development"
    database_url: str = ""
    var_dir: Path = ROOT / "var"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_format: str = "json"
    db_pool_size: int = 10
    jwt_algorithm: str = "HS256"
    jwt_secret: str | None = None
    jwt_private_key_file: Path | None = None
    jwt_public_key_files: tuple[Path, ...] = ()
    jwt_issuer: str = "rapport"
    jwt_audience: str = "rapport-api"
    access_token_ttl: dt.timedelta = dt.timedelta(minutes=15)
    refresh_token_ttl: dt.timedelta = dt.timedelta(days=30)
    login_max_failures: int = 5
    login_lockout: dt.timedelta = dt.timedelta(minutes=15)
    login_failure_window: dt.timedelta = dt.timedelta(minutes=15)
    forwarded_allow_ips: str = "127.0.0.1"
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    max_body_bytes: int = 1_000_000
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    intro_requests_per_broker_per_week: int = 10
    max_open_requests: int = 5
    welcome_karma: int = 50
    iou_value: int = 10
    max_ious_owed: int = 5
    broker_share: int = 5
    broker_weekly_cap: int = 25
    run_maintenance: bool = True
    run_workers: bool = True
    worker_poll_interval: dt.timedelta = dt.timedelta(seconds=1)
    max_pushes_per_day: int = 10
    opportunities_per_signal: int = 50
    maintenance_interval: dt.timedelta = dt.timedelta(seconds=60)
    graphiql: bool = True
    playground_assets_dir: Path = ROOT / "var" / "graphiql"
    broker_url: str = "memory://"
    broker_channel_prefix: str = "rapport:"
    allowed_origins: tuple[str, ...] = ()
    ws_max_subscriptions: int = 20
    ws_init_timeout: dt.timedelta = dt.timedelta(seconds=10)
    ws_max_message_bytes: int = 65_536
    ws_ping_interval: dt.timedelta = dt.timedelta(seconds=15)
    partner_token_ttl: dt.timedelta = dt.timedelta(hours=1)
    webhook_retry_schedule: tuple[dt.timedelta, ...] = DEFAULT_SCHEDULE
    webhook_connect_timeout: dt.timedelta = dt.timedelta(seconds=5)
    webhook_timeout: dt.timedelta = dt.timedelta(seconds=15)
    webhook_disable_after: dt.timedelta = dt.timedelta(days=5)
    webhook_secret_overlap: dt.timedelta = dt.timedelta(hours=24)
    webhook_retention: dt.timedelta = dt.timedelta(days=30)
    webhook_allowed_networks: tuple[Network, ...] = ()
    webhook_concurrency: int = 16
    # Seed the demo network at start when the database holds no members (make run sets it).
    seed: bool = False

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def serving_problems(self) -> list[str]:
        """Return what stops this configuration from serving requests (not from migrating)."""
        if self.production and self.jwt_algorithm == "HS256" and not self.jwt_secret:
            return [
                "RAPPORT_ENV=production needs JWT_SECRET (or JWT_ALGORITHM=EdDSA|RS256 with "
                "JWT_PRIVATE_KEY_FILE): a key generated on one host does not work on another"
            ]
        return []

    @staticmethod
    def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
        """Return the database URL alone (what migrations need), with the async driver."""
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("VAR_DIR") or ROOT / "var")
        raw = (env.get("DATABASE_URL") or "").strip()
        return _database_url(raw) if raw else f"sqlite+aiosqlite:///{var_dir / 'rapport.db'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from the environment; raise ``SettingsError`` naming every bad one."""
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def read(name: str, parse: Callable[[str], T], default: T) -> T:
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                return default
            try:
                return parse(raw.strip())
            except ValueError as error:
                problems.append(f"{name}={raw!r}: {error}")
                return default

        var_dir = read("VAR_DIR", Path, ROOT / "var")
        environment = read("RAPPORT_ENV", _choice(ENVIRONMENTS, lower=True), "development")
        settings = cls(
            environment=environment,
            database_url=read(
                "DATABASE_URL", _database_url, f"sqlite+aiosqlite:///{var_dir / 'rapport.db'}"
            ),
            var_dir=var_dir,
            host=read("HOST", str, "127.0.0.1"),
            port=read("PORT", _int_between(1, 65535), 8000),
            log_level=read("LOG_LEVEL", _choice(LOG_LEVELS), "INFO"),
            log_format=read("LOG_FORMAT", _choice(("json", "text"), lower=True), "json"),
            db_pool_size=read("DB_POOL_SIZE", _int_between(1, 200), 10),
            jwt_algorithm=read("JWT_ALGORITHM", _choice(ALGORITHMS, exact=True), "HS256"),
            jwt_secret=read("JWT_SECRET", _secret, None),
            jwt_private_key_file=read("JWT_PRIVATE_KEY_FILE", _existing_file, None),
            jwt_public_key_files=read("JWT_PUBLIC_KEY_FILES", _existing_files, ()),
            jwt_issuer=read("JWT_ISSUER", str, "rapport"),
            jwt_audience=read("JWT_AUDIENCE", str, "rapport-api"),
            access_token_ttl=read(
                "JWT_ACCESS_TOKEN_TTL_SECONDS", _seconds(60, 86400), dt.timedelta(minutes=15)
            ),
            refresh_token_ttl=read(
                "REFRESH_TOKEN_TTL_SECONDS", _seconds(300, 365 * 86400), dt.timedelta(days=30)
            ),
            login_max_failures=read("LOGIN_MAX_FAILURES", _int_between(1, 100), 5),
            login_lockout=read(
                "LOGIN_LOCKOUT_SECONDS", _seconds(1, 86400), dt.timedelta(minutes=15)
            ),
            login_failure_window=read(
                "LOGIN_FAILURE_WINDOW_SECONDS", _seconds(1, 86400), dt.timedelta(minutes=15)
            ),
            forwarded_allow_ips=read("FORWARDED_ALLOW_IPS", str, "127.0.0.1"),
            argon2_time_cost=read("ARGON2_TIME_COST", _int_between(1, 20), 3),
            argon2_memory_kib=read("ARGON2_MEMORY_KIB", _int_between(8, 4_194_304), 65536),
            argon2_parallelism=read("ARGON2_PARALLELISM", _int_between(1, 64), 4),
            max_body_bytes=read("MAX_BODY_BYTES", _int_between(1024, 100_000_000), 1_000_000),
            max_query_depth=read("MAX_QUERY_DEPTH", _int_between(2, 100), 12),
            max_aliases=read("MAX_ALIASES", _int_between(0, 1000), 30),
            max_tokens=read("MAX_TOKENS", _int_between(100, 100_000), 5000),
            intro_requests_per_broker_per_week=read(
                "INTRO_REQUESTS_PER_BROKER_PER_WEEK", _int_between(1, 1000), 10
            ),
            max_open_requests=read("MAX_OPEN_REQUESTS", _int_between(1, 1000), 5),
            welcome_karma=read("WELCOME_KARMA", _int_between(0, 1_000_000), 50),
            iou_value=read("IOU_VALUE", _int_between(1, 1_000_000), 10),
            max_ious_owed=read("MAX_IOUS_OWED", _int_between(0, 1000), 5),
            broker_share=read("BROKER_SHARE", _int_between(0, 1_000_000), 5),
            broker_weekly_cap=read("BROKER_WEEKLY_CAP", _int_between(0, 1_000_000), 25),
            run_maintenance=read("RUN_MAINTENANCE", _boolean, True),
            run_workers=read("RUN_WORKERS", _boolean, True),
            worker_poll_interval=read(
                "WORKER_POLL_SECONDS", _seconds(1, 3600), dt.timedelta(seconds=1)
            ),
            max_pushes_per_day=read("MAX_PUSHES_PER_DAY", _int_between(0, 1000), 10),
            opportunities_per_signal=read("OPPORTUNITIES_PER_SIGNAL", _int_between(1, 100_000), 50),
            maintenance_interval=read(
                "MAINTENANCE_INTERVAL_SECONDS", _seconds(1, 86400), dt.timedelta(seconds=60)
            ),
            graphiql=read("GRAPHIQL", _boolean, environment != "production"),
            playground_assets_dir=read("PLAYGROUND_ASSETS_DIR", Path, var_dir / "graphiql"),
            broker_url=read("BROKER_URL", _broker_url, "memory://"),
            broker_channel_prefix=read("BROKER_CHANNEL_PREFIX", str, "rapport:"),
            allowed_origins=read("ALLOWED_ORIGINS", _origins, ()),
            ws_max_subscriptions=read("WS_MAX_SUBSCRIPTIONS", _int_between(1, 1000), 20),
            ws_init_timeout=read(
                "WS_INIT_TIMEOUT_SECONDS", _seconds(1, 600), dt.timedelta(seconds=10)
            ),
            ws_max_message_bytes=read(
                "WS_MAX_MESSAGE_BYTES", _int_between(1024, 16_777_216), 65_536
            ),
            ws_ping_interval=read(
                "WS_PING_INTERVAL_SECONDS", _seconds(1, 3600), dt.timedelta(seconds=15)
            ),
            partner_token_ttl=read(
                "PARTNER_TOKEN_TTL_SECONDS", _seconds(60, 86400), dt.timedelta(hours=1)
            ),
            webhook_retry_schedule=read("WEBHOOK_RETRY_SCHEDULE", _schedule, DEFAULT_SCHEDULE),
            webhook_connect_timeout=read(
                "WEBHOOK_CONNECT_TIMEOUT_SECONDS",
                _fraction_seconds(0.1, 60),
                dt.timedelta(seconds=5),
            ),
            webhook_timeout=read(
                "WEBHOOK_TIMEOUT_SECONDS", _fraction_seconds(0.1, 120), dt.timedelta(seconds=15)
            ),
            webhook_disable_after=read(
                "WEBHOOK_DISABLE_AFTER_SECONDS",
                _fraction_seconds(1, 90 * 86400),
                dt.timedelta(days=5),
            ),
            webhook_secret_overlap=read(
                "WEBHOOK_SECRET_OVERLAP_SECONDS",
                _fraction_seconds(0, 30 * 86400),
                dt.timedelta(hours=24),
            ),
            webhook_retention=read(
                "WEBHOOK_LOG_RETENTION_DAYS",
                lambda raw: dt.timedelta(days=_int_between(1, 3650)(raw)),
                dt.timedelta(days=30),
            ),
            # On a developer's machine, webhooks may reach a receiver on the same machine.
            webhook_allowed_networks=read(
                "WEBHOOK_ALLOWED_NETWORKS",
                _networks,
                () if environment == "production" else _networks("127.0.0.0/8,::1"),
            ),
            webhook_concurrency=read("WEBHOOK_CONCURRENCY", _int_between(1, 1000), 16),
            seed=read("SEED", _boolean, False),
        )
        if settings.jwt_algorithm != "HS256" and settings.jwt_private_key_file is None:
            problems.append(
                f"JWT_ALGORITHM={settings.jwt_algorithm} needs JWT_PRIVATE_KEY_FILE (a PEM file)"
            )
        if settings.jwt_algorithm == "HS256" and settings.jwt_public_key_files:
            problems.append(
                "JWT_PUBLIC_KEY_FILES holds previous public keys for EdDSA or RS256; "
                "HS256 has no public keys"
            )
        if problems:
            raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
        return settings


def _choice(
    options: tuple[str, ...], *, lower: bool = False, exact: bool = False
) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw if exact else raw.lower() if lower else raw.upper()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("expected a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low} to {high}")
        return value

    return parse


def _seconds(low: int, high: int) -> Callable[[str], dt.timedelta]:
    as_int = _int_between(low, high)
    return lambda raw: dt.timedelta(seconds=as_int(raw))


def _fraction_seconds(low: float, high: float) -> Callable[[str], dt.timedelta]:
    def parse(raw: str) -> dt.timedelta:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("expected a number of seconds") from None
        if not low <= value <= high:
            raise ValueError(f"expected {low:g} to {high:g} seconds")
        return dt.timedelta(seconds=value)

    return parse


def _schedule(raw: str) -> tuple[dt.timedelta, ...]:
    """Seconds before each attempt, comma-separated (the first is usually 0)."""
    one = _fraction_seconds(0, 7 * 86400)
    steps = tuple(one(part.strip()) for part in raw.split(",") if part.strip())
    if not 1 <= len(steps) <= 50:
        raise ValueError("expected 1 to 50 comma-separated numbers of seconds")
    return steps


def _networks(raw: str) -> tuple[Network, ...]:
    found = []
    for part in raw.split(","):
        if part.strip():
            try:
                found.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{part.strip()!r} is not an address or network (CIDR)") from None
    return tuple(found)


def _boolean(raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def _database_url(raw: str) -> str:
    # Accept the URLs other tools use and pick the async driver for them.
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if raw.startswith(plain):
            return driver + raw[len(plain) :]
    if raw.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return raw
    raise ValueError("expected a postgresql://… or sqlite:///… URL")


def _secret(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("use at least 32 characters (e.g. `openssl rand -base64 48`)")
    return raw


def _existing_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError("no such file")
    return path


def _existing_files(raw: str) -> tuple[Path, ...]:
    return tuple(_existing_file(part.strip()) for part in raw.split(",") if part.strip())


def _broker_url(raw: str) -> str:
    if raw == "memory://" or raw.startswith(("redis://", "rediss://", "unix://")):
        return raw
    raise ValueError("expected memory:// (one process) or a redis://… URL")


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/").lower() for part in raw.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/?#\s]+", origin):
            raise ValueError(f"{origin!r} is not an origin (scheme://host[:port]) or *")
    return origins
