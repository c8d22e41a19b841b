"""Schema migrations (alembic) run from code: upgrade, and tell what is pending."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parent.parent

# Created in the migrations by hand (full-text search), not declared in the models, so
# comparing the models with the database must not count them as drift.
UNMODELLED = frozenset(
    {
        "members_fts",
        "ix_members_search",
        "circles_fts",
        "ix_circles_search",
        "help_requests_fts",
        "ix_help_requests_search",
    }
)


def alembic_config(connection: Connection | None = None) -> Config:
    """Return the alembic configuration, optionally bound to an open connection."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """Return the newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """Return the revision the database is at (None when it was never migrated)."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database up to ``revision``."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave the hand-made full-text objects out of autogenerate's comparison."""
    if name is None:
        return True
    return not any(
        name == unmodelled or name.startswith(f"{unmodelled}_") for unmodelled in UNMODELLED
    )
