"""Rapport's command line: ``python -m api serve | worker | migrate | seed | export-schema |
outbox | ledger-check | admin | partner | fetch-playground``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from api.settings import ROOT, Settings, SettingsError
from domain.demo import seeding as demo
from domain.demo.cast import JOURNEY
from domain.store import UNUSABLE_DATABASE, Store, redacted_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m api",
        description="Rapport: the backend of a professional marketplace network. "
        "Configuration comes from the environment (see README.md, 'Configuration').",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server (migrates SQLite by itself)")
    serve.add_argument("--host", help="interface to bind (default: $HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: $PORT or 8000)")
    serve.add_argument(
        "--reload", action="store_true", help="restart on code changes (development)"
    )

    migrate = commands.add_parser("migrate", help="upgrade the database to the newest schema")
    migrate.add_argument("--check", action="store_true", help="only say whether it is current")

    seed = commands.add_parser(
        "seed",
        help="fill the database with the demo network (Alice, Bob, Carol and a few hundred "
        "others); does nothing if it is there already",
    )
    seed.add_argument(
        "--seed", type=int, default=1, metavar="N", help="what to draw the network from (1)"
    )
    seed.add_argument(
        "--members",
        type=_member_count,
        default=demo.DEFAULT_MEMBERS,
        metavar="N",
        help=f"how many members, Alice, Bob and Carol included ({demo.DEFAULT_MEMBERS})",
    )
    seed.add_argument(
        "--force",
        action="store_true",
        help="seed even though the database holds members who are not the demo's",
    )

    export = commands.add_parser("export-schema", help="print or write the GraphQL SDL")
    export.add_argument("--output", type=Path, help="write here instead of standard output")
    export.add_argument(
        "--check",
        action="store_true",
        help=f"fail if {ROOT / 'schema.graphql'} differs from the code's schema",
    )

    commands.add_parser(
        "worker",
        help="run the outbox's workers (matching, live pushes) until SIGTERM; run the API "
        "with RUN_WORKERS=0 beside them",
    )

    outbox = commands.add_parser(
        "outbox",
        help="show each consumer's events by status (PENDING, DONE, PARKED) and the parked "
        "ones' errors; --retry CONSUMER puts its parked events back in line",
    )
    outbox.add_argument("--retry", metavar="CONSUMER", help="retry this consumer's parked events")

    commands.add_parser(
        "ledger-check",
        help="check the ledger's invariants (conservation, bounds, balances = replay, escrows, "
        "IOUs); exit 1 if any is broken",
    )

    admin = commands.add_parser(
        "admin", help="let a member register partner apps (createPartnerApp), or stop them"
    )
    admin.add_argument("handle", help="the member's handle")
    admin.add_argument("--revoke", action="store_true", help="take the right back")

    partner = commands.add_parser(
        "partner", help="register, list, disable or enable partner apps (webhook consumers)"
    )
    partner_commands = partner.add_subparsers(dest="partner_command", required=True)
    create = partner_commands.add_parser(
        "create", help="register an app; print its client id and secret (shown once)"
    )
    create.add_argument("name", help="the app's name, as its owner knows it")
    create.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        metavar="SCOPE",
        help="a scope to grant (repeat it): webhooks:manage, read:*, read:members, "
        "read:network, read:marketplace, read:ledger (default: webhooks:manage and read:*)",
    )
    partner_commands.add_parser("list", help="list the apps")
    for verb in ("disable", "enable"):
        toggle = partner_commands.add_parser(
            verb, help=f"{verb} an app (a disabled app's tokens stop working at once)"
        )
        toggle.add_argument("client_id")

    commands.add_parser(
        "fetch-playground",
        help="download GraphiQL's files from npm so the playground works offline",
    )

    args = parser.parse_args(argv)
    if args.command == "export-schema":
        return _export_schema(args.output, args.check)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"rapport: {error}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.reload)
    if args.command == "migrate":
        try:
            return asyncio.run(_migrate(settings, check=args.check))
        except UNUSABLE_DATABASE as error:
            return _unusable_database(settings, error)
    if args.command == "seed":
        try:
            return asyncio.run(
                _seed(settings, seed=args.seed, members=args.members, force=args.force)
            )
        except UNUSABLE_DATABASE as error:
            return _unusable_database(settings, error)
    if args.command == "worker":
        try:
            return asyncio.run(_worker(settings))
        except UNUSABLE_DATABASE as error:
            return _unusable_database(settings, error)
    if args.command == "outbox":
        try:
            return asyncio.run(_outbox(settings, args.retry))
        except UNUSABLE_DATABASE as error:
            return _unusable_database(settings, error)
    if args.command == "ledger-check":
        try:
            return asyncio.run(_ledger_check(settings))
        except UNUSABLE_DATABASE as error:
            return _unusable_database(settings, error)
    if args.command in ("admin", "partner"):
        try:
            return asyncio.run(_partners(settings, args))
        except UNUSABLE_DATABASE as error:
            return _unusable_database(settings, error)
    if args.command == "fetch-playground":
        return _fetch_playground(settings)
    parser.error(f"unknown command {args.command}")
    return 2


def _export_schema(output: Path | None, check: bool) -> int:
    from api.schema import schema_sdl

    sdl = schema_sdl()
    if check:
        committed = ROOT / "schema.graphql"
        if not committed.exists() or committed.read_text() != sdl:
            print(
                "schema.graphql is out of date: run `python -m api export-schema "
                "--output schema.graphql` and commit it",
                file=sys.stderr,
            )
            return 1
        return 0
    if output is None:
        sys.stdout.write(sdl)
    else:
        output.write_text(sdl)
    return 0


async def _migrate(settings: Settings, *, check: bool) -> int:
    from domain import migrate
    from domain.store import Store

    _ensure_var(settings)
    store = Store(settings.database_url, pool_size=1)
    try:
        current, head = await migrate.current_revision(store.engine), migrate.head_revision()
        if check:
            print(f"database at {current or 'nothing'}, code at {head}")
            return 0 if current == head else 1
        if current != head:
            await migrate.upgrade(store.engine)
            print(f"migrated from {current or 'an empty database'} to {head}")
        else:
            print(f"already at {head}")
        return 0
    finally:
        await store.dispose()


def _member_count(raw: str) -> int:
    count = int(raw)
    if not demo.MIN_MEMBERS <= count <= demo.MAX_MEMBERS:
        raise argparse.ArgumentTypeError(f"between {demo.MIN_MEMBERS} and {demo.MAX_MEMBERS}")
    return count


async def _seed(settings: Settings, *, seed: int, members: int, force: bool) -> int:
    from domain import migrate

    _ensure_var(settings)
    store = Store(settings.database_url, pool_size=1)
    try:
        current, head = await migrate.current_revision(store.engine), migrate.head_revision()
        if current != head:
            if not settings.sqlite:
                print(
                    f"rapport: the database is at revision {current or 'none'}: "
                    "run `python -m api migrate` first",
                    file=sys.stderr,
                )
                return 1
            await migrate.upgrade(store.engine)
        seeding = await _seed_demo(store, settings, seed=seed, members=members, force=force)
    finally:
        await store.dispose()
    return 1 if seeding.result is demo.Result.REFUSED else 0


async def _seed_demo(
    store: Store, settings: Settings, *, seed: int, members: int, force: bool
) -> demo.Seeding:
    """Seed the demo network and say what happened, with the accounts to sign in with."""
    from api.context import auth_policy_of, market_policy_of, passwords_of
    from domain.demo.story import Policies

    where = redacted_url(settings.database_url)
    policies = Policies(
        auth=auth_policy_of(settings),
        market=market_policy_of(settings),
        intros_per_broker_per_week=settings.intro_requests_per_broker_per_week,
    )
    async with store.reader() as session:
        before = await demo.census(session)
    if not before.generated and not before.journey and (force or not before.others):
        print(f"Seeding the demo network of {members} members into {where}…", flush=True)
    seeding = await demo.seed_demo(
        store,
        passwords=passwords_of(settings),
        policies=policies,
        end=demo.story_end(store.clock()),
        seed=seed,
        members=members,
        force=force,
    )
    census = seeding.census
    if seeding.result is demo.Result.REFUSED:
        if census.journey:
            problem = (
                "alice@example.com, bob@example.com or carol@example.com is taken there. "
                "Seed an empty database."
            )
        else:
            problem = (
                f"it holds {census.others} member(s) who are not the demo's. Seed an empty "
                "database, or run `python -m api seed --force` to add the demo network "
                "beside them."
            )
        print(f"rapport: not seeding {where}: {problem}", file=sys.stderr)
        return seeding
    if seeding.result is demo.Result.ALREADY_SEEDED:
        print(
            f"The demo network is already in {where} ({census.generated + census.journey} "
            "demo members): nothing to do."
        )
    else:
        print(f"Seeded the demo network (seed {seed}) into {where} in {seeding.seconds:.1f} s:")
        print("  " + ", ".join(f"{n} {what}" for what, n in seeding.counts.items()))
    print(f"Demo accounts (password: {demo.DEMO_PASSWORD}):")
    for profile in JOURNEY:
        print(f"  {profile.handle:<6} {profile.email:<18} {profile.headline}", flush=True)
    return seeding


async def _ledger_check(settings: Settings) -> int:
    from domain.ledger import audit
    from domain.store import Store

    store = Store(settings.database_url, pool_size=1)
    try:
        async with store.reader() as session:
            found = await audit.violations(session)
    finally:
        await store.dispose()
    for line in found:
        print(line)
    print(f"ledger of {redacted_url(settings.database_url)}: {len(found)} violation(s)")
    return 1 if found else 0


async def _outbox(settings: Settings, retry: str | None) -> int:
    from domain import consumers
    from domain.store import Store

    store = Store(settings.database_url, pool_size=1)
    try:
        if retry:
            async with store.transaction() as tx:
                parked = await consumers.parked(tx.session, retry)
                count = await consumers.retry_parked(tx, retry, [row.event_id for row in parked])
                await tx.commit()
            print(f"{retry}: {count} parked event(s) back in line")
        for consumer, counts in sorted((await consumers.backlog(store)).items()):
            print(
                f"{consumer}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            )
        async with store.reader() as session:
            for row in await consumers.parked(session, None):
                print(
                    f"  parked {row.consumer} event {row.event_id} after {row.attempts} "
                    f"attempts: {row.last_error}"
                )
        return 0
    finally:
        await store.dispose()


async def _partners(settings: Settings, args: argparse.Namespace) -> int:
    from domain.errors import DomainError
    from domain.partners import service
    from domain.store import Store

    store = Store(settings.database_url, pool_size=1)
    try:
        if args.command == "partner" and args.partner_command == "list":
            async with store.reader() as session:
                for app in await service.partners(session):
                    state = "active" if app.active else "disabled"
                    print(f"{app.client_id}  {state:8}  {' '.join(app.scopes):40}  {app.name}")
            return 0
        async with store.transaction() as tx:
            if args.command == "admin":
                member = await service.set_admin(tx, handle=args.handle, admin=not args.revoke)
                message = f"@{member.handle} {'may no longer' if args.revoke else 'may now'} "
                message += "register partner apps"
            elif args.partner_command == "create":
                app, secret = await service.create_partner(
                    tx,
                    name=args.name,
                    scopes=args.scopes or ["webhooks:manage", "read:*"],
                    created_by_id=None,
                )
                message = (
                    f"registered {app.name!r} with scopes {' '.join(app.scopes)}\n"
                    f"client_id:     {app.client_id}\n"
                    f"client_secret: {secret}\n"
                    "The secret is shown this once; only its hash is kept. Exchange both at "
                    "POST /oauth/token (grant_type=client_credentials) for an access token."
                )
            else:
                active = args.partner_command == "enable"
                app = await service.set_partner_active(tx, client_id=args.client_id, active=active)
                message = f"{app.client_id} ({app.name}) {'enabled' if active else 'disabled'}"
            await tx.commit()
        print(message)
        return 0
    except DomainError as error:
        print(f"rapport: {error.message}", file=sys.stderr)
        return 1
    finally:
        await store.dispose()


async def _worker(settings: Settings) -> int:
    import signal

    from api import logs
    from api.context import Runtime
    from api.worker import running, worker_for
    from domain import migrate

    logs.configure(settings.log_level, settings.log_format)
    runtime = Runtime.create(settings)
    try:
        current = await migrate.current_revision(runtime.store.engine)
        if current != migrate.head_revision():
            print(
                f"rapport: the database is at revision {current or 'none'}: "
                "run `python -m api migrate` (or start `serve` on SQLite) first",
                file=sys.stderr,
            )
            return 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await runtime.broker.start()
        try:
            async with running(worker_for(runtime)):
                await stop.wait()
        finally:
            await runtime.broker.close()
        return 0
    finally:
        await runtime.store.dispose()


def _serve(settings: Settings, host: str | None, port: int | None, reload: bool) -> int:
    import uvicorn

    from api import logs
    from domain import migrate

    logs.configure(settings.log_level, settings.log_format)
    if problems := settings.serving_problems():
        print("rapport: " + "\n  ".join(problems), file=sys.stderr)
        return 2
    _ensure_var(settings)

    async def ready() -> str | None:
        store = Store(settings.database_url, pool_size=1)
        try:
            current, head = await migrate.current_revision(store.engine), migrate.head_revision()
            if current != head:
                if not settings.sqlite:
                    return (
                        f"the database is at revision {current or 'none'} but the code needs "
                        f"{head}: run `python -m api migrate` first"
                    )
                # The embedded default keeps itself current; PostgreSQL is upgraded on purpose.
                await migrate.upgrade(store.engine)
            if settings.seed:
                # SEED (on under `make run`): a newcomer's database starts with people in it.
                await _seed_demo(store, settings, seed=1, members=demo.DEFAULT_MEMBERS, force=False)
            return None
        finally:
            await store.dispose()

    try:
        problem = asyncio.run(ready())
    except UNUSABLE_DATABASE as error:
        return _unusable_database(settings, error)
    if problem:
        print(f"rapport: {problem}", file=sys.stderr)
        return 1
    uvicorn.run(
        "api.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        log_config=None,
        access_log=False,
        ws_max_size=settings.ws_max_message_bytes,
        # Compression would keep a zlib compressor and decompressor per socket (~50 KB,
        # half an idle subscription) and deflate each push once per socket, for messages
        # of a few hundred bytes: pushes go out as they are, the same bytes to every socket.
        ws_per_message_deflate=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    return 0


def _fetch_playground(settings: Settings) -> int:
    from api.playground import fetch_assets

    problems = fetch_assets(settings.playground_assets_dir)
    for problem in problems:
        print(f"playground: {problem}", file=sys.stderr)
    if not problems:
        print(f"playground assets ready in {settings.playground_assets_dir}")
    # Missing assets are not fatal: the page falls back to the CDN.
    return 0


def _unusable_database(settings: Settings, error: BaseException) -> int:
    reason = getattr(error, "orig", None) or error
    where = redacted_url(settings.database_url)
    print(f"rapport: cannot use the database at {where}: {reason}", file=sys.stderr)
    return 1


def _ensure_var(settings: Settings) -> None:
    settings.var_dir.mkdir(parents=True, exist_ok=True)


if __name__ == "__main__":
    sys.exit(main())
