"""The baseline: the searchMembers page from a plain Starlette endpoint, two SQL statements
and orjson, on the same driver and pool size as the app.

``GET /search?tag=python&first=20`` answers the same JSON as the GraphQL query
``searchMembers(tags: ["python"], first: 20) { totalCount nodes { handle displayName
headline skills { slug label } } }``, in the same order (tag hits, then newest member).

Run: ``python -m bench.plain --port 8001 --database-url sqlite+aiosqlite:///…``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from sqlalchemy import bindparam, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.members.tags import normalise

# Visible to an anonymous viewer, matching the tag as a skill, an interest or a give the
# member shows everyone.
PAGE = text(
    """
    WITH wanted AS (SELECT id FROM tags WHERE slug = :slug),
    hits AS (
        SELECT member_id, tag_id FROM member_tags
        WHERE tag_id IN (SELECT id FROM wanted) AND role <> :seek
        UNION ALL
        SELECT g.member_id, g.tag_id FROM gives AS g JOIN members AS owner ON owner.id = g.member_id
        WHERE g.tag_id IN (SELECT id FROM wanted) AND owner.gives_visibility = :everyone
    ),
    matched AS (
        SELECT member_id, count(DISTINCT tag_id) AS hits FROM hits GROUP BY member_id
    )
    SELECT m.id, m.handle, m.display_name, m.headline, count(*) OVER () AS total
    FROM members AS m JOIN matched ON matched.member_id = m.id
    WHERE m.visibility = :everyone
    ORDER BY matched.hits DESC, m.id DESC
    LIMIT :limit
    """
)
SKILLS = text(
    """
    SELECT mt.member_id, t.slug, t.label
    FROM member_tags AS mt JOIN tags AS t ON t.id = mt.tag_id
    WHERE mt.member_id IN :ids AND mt.role = :skill
    ORDER BY mt.member_id, mt.position
    """
).bindparams(bindparam("ids", expanding=True))


def create_app(database_url: str, *, pool_size: int) -> Starlette:
    """Return the baseline app over its own engine."""
    engine = _engine(database_url, pool_size)

    async def search(request: Request) -> Response:
        slug = normalise(request.query_params.get("tag", ""))
        first = max(0, min(100, int(request.query_params.get("first", "20"))))
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    PAGE, {"slug": slug, "seek": "SEEK", "everyone": "EVERYONE", "limit": first}
                )
            ).all()
            skills: dict[int, list[dict[str, str]]] = defaultdict(list)
            if rows:
                for member_id, tag_slug, label in await connection.execute(
                    SKILLS, {"ids": [row.id for row in rows], "skill": "SKILL"}
                ):
                    skills[member_id].append({"slug": tag_slug, "label": label})
        nodes: list[dict[str, Any]] = [
            {
                "handle": row.handle,
                "displayName": row.display_name,
                "headline": row.headline,
                "skills": skills[row.id],
            }
            for row in rows
        ]
        body = {
            "data": {"searchMembers": {"totalCount": rows[0].total if rows else 0, "nodes": nodes}}
        }
        return Response(orjson.dumps(body), media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"alive"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    return Starlette(
        routes=[
            Route("/search", search, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _engine(url: str, pool_size: int) -> AsyncEngine:
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, connect_args={"timeout": 30}
    )

    @event.listens_for(engine.sync_engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in ("PRAGMA busy_timeout=30000", "PRAGMA synchronous=NORMAL"):
            cursor.execute(pragma)
        cursor.close()

    return engine


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.plain", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True, help="an async SQLAlchemy URL")
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(args.database_url, pool_size=args.pool_size),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
