"""The migrations build the schema the models describe, from an empty database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from domain import migrate
from domain.store import Store
from domain.tables import metadata


async def test_an_empty_database_upgrades_to_head(database_url, tmp_path):
    # Given an empty database (a fresh SQLite file, or PostgreSQL reset to nothing)
    if database_url.startswith("sqlite"):
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    store = Store(database_url, pool_size=1)
    try:
        if store.dialect == "postgresql":
            await _downgrade_to_base(store)
        assert await migrate.current_revision(store.engine) is None

        # When it is upgraded
        await migrate.upgrade(store.engine)

        # Then it is at the newest revision and has every table the models name
        assert await migrate.current_revision(store.engine) == migrate.head_revision()
        async with store.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert set(metadata.tables) <= tables
    finally:
        await store.dispose()
        if store.dialect == "postgresql":
            # Leave the shared test database migrated for the tests that follow.
            restored = Store(database_url, pool_size=1)
            await migrate.upgrade(restored.engine)
            await restored.dispose()


async def _downgrade_to_base(store: Store) -> None:
    from alembic import command

    def run(connection: Connection) -> None:
        command.downgrade(migrate.alembic_config(connection), "base")

    async with store.engine.begin() as connection:
        await connection.run_sync(run)


async def test_models_and_migrations_agree(store):
    # Autogenerate finds nothing to do: every model change has its migration.
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": migrate.include_object, "compare_type": True},
        )
        return list(compare_metadata(context, metadata))

    async with store.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
