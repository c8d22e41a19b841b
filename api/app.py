"""The ASGI application: routes, middleware, and the resources one process shares."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from api import oauth, playground
from api.context import Runtime
from api.documents import Documents
from api.fanout import Fanout
from api.http import GraphQLView, html
from api.logs import RequestIdMiddleware
from api.maintenance import running as maintenance_running
from api.schema import build_schema
from api.settings import Settings
from api.websocket import GraphQLWebSocket
from api.worker import running as worker_running
from api.worker import worker_for

log = logging.getLogger("rapport.app")
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    """Return the application for these settings (``runtime`` lets tests share resources)."""
    if runtime is None:
        runtime = Runtime.create(settings)
    elif runtime.settings is not settings:
        # Shared resources, these settings: the view reads its limits from the runtime.
        runtime = dataclasses.replace(runtime, settings=settings)
    schema = build_schema()

    def playground_page(_request: Request) -> Response:
        local = playground.assets_ready(settings.playground_assets_dir)
        return html(
            playground.render_page(
                endpoint="/graphql",
                asset_base=playground.ASSET_URL_PREFIX if local else None,
                default_tabs=playground.EXAMPLE_TABS,
            )
        )

    # One parse-and-validate cache for both transports.
    documents = Documents(schema, settings)
    view = GraphQLView(
        runtime,
        schema,
        documents=documents,
        playground=playground_page if settings.graphiql else None,
    )
    fanout = Fanout(runtime, documents)
    websocket = GraphQLWebSocket(runtime, documents, fanout)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_request: Request) -> Response:
        try:
            await runtime.store.ping()
        except Exception as error:
            log.warning("database not reachable: %s", error)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ready", "database": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            async with contextlib.AsyncExitStack() as stack:
                await runtime.broker.start()
                stack.push_async_callback(runtime.broker.close)
                # Streams stop before the broker they listen to (callbacks run in reverse).
                stack.push_async_callback(fanout.close)
                if settings.run_maintenance:
                    # Stopped (cancelled and awaited) before the pool it uses is closed.
                    await stack.enter_async_context(
                        maintenance_running(runtime.store, settings.maintenance_interval)
                    )
                if settings.run_workers:
                    # Started after the broker it publishes on, stopped before it.
                    await stack.enter_async_context(worker_running(worker_for(runtime)))
                yield
        finally:
            await runtime.store.dispose()

    routes: list[BaseRoute] = [
        # Every method reaches the view, so each refusal is a GraphQL-shaped JSON 405.
        Route("/graphql", view.handle, methods=_ALL_METHODS),
        WebSocketRoute("/graphql", websocket.handle),
        Route("/oauth/token", oauth.token, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    if settings.graphiql:
        routes.extend(playground.playground_routes(settings.playground_assets_dir))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestIdMiddleware)],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.schema = schema
    app.state.fanout = fanout
    return app
