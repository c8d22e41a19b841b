"""The baseline: the help request feed's first page from a plain Starlette endpoint, one SQL
statement and orjson, on the same driver and pool size as the app.

``GET /feed?first=20`` answers the same JSON as the GraphQL query ``helpRequests(first: 20)
{ nodes { title author { displayName headline } tags { slug label } } }`` asked anonymously:
public requests, newest first; the author null when their profile is not shown to everyone.

Run: ``python -m bench.feed_plain --port 8001 --database-url sqlite+aiosqlite:///…``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.plain import _engine

# The page's requests, their authors and their tags in one statement: one row per tag.
PAGE = text(
    """
    SELECT page.id, page.title, m.display_name, m.headline, m.visibility, t.slug, t.label
    FROM (
        SELECT id, title, author_id, created_at FROM help_requests
        WHERE audience_scope = :public
        ORDER BY created_at DESC, id DESC
        LIMIT :limit
    ) AS page
    JOIN members AS m ON m.id = page.author_id
    LEFT JOIN help_request_tags AS hrt ON hrt.help_request_id = page.id
    LEFT JOIN tags AS t ON t.id = hrt.tag_id
    ORDER BY page.created_at DESC, page.id DESC, hrt.position
    """
)


def create_app(database_url: str, *, pool_size: int) -> Starlette:
    """Return the baseline app over its own engine."""
    engine = _engine(database_url, pool_size)

    async def feed(request: Request) -> Response:
        first = max(0, min(100, int(request.query_params.get("first", "20"))))
        async with engine.connect() as connection:
            rows = (await connection.execute(PAGE, {"public": "PUBLIC", "limit": first})).all()
        nodes: list[dict[str, Any]] = []
        last_id = None
        tags: list[dict[str, str]] = []
        for request_id, title, display_name, headline, visibility, slug, label in rows:
            if request_id != last_id:
                last_id, tags = request_id, []
                author = (
                    {"displayName": display_name, "headline": headline}
                    if visibility == "EVERYONE"
                    else None
                )
                nodes.append({"title": title, "author": author, "tags": tags})
            if slug is not None:
                tags.append({"slug": slug, "label": label})
        body = {"data": {"helpRequests": {"nodes": nodes}}}
        return Response(orjson.dumps(body), media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"alive"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    return Starlette(
        routes=[
            Route("/feed", feed, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_plain", description=__doc__)
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
