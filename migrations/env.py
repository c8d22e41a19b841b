"""Alembic environment: async engines, or a connection handed in by ``domain.migrate``."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from api.settings import Settings
from domain.migrate import include_object
from domain.store import Store, UTCDateTime
from domain.tables import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the domain's column types as plain SQLAlchemy ones in new revisions."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    store = Store(Settings.database_url_from_env(), pool_size=1)
    async with store.engine.begin() as connection:
        await connection.run_sync(run_migrations)
    await store.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `python -m api migrate`")

connection = config.attributes.get("connection")
if connection is None:
    asyncio.run(run_async_migrations())
else:
    run_migrations(connection)
