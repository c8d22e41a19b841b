"""The GraphiQL playground: page rendering, the vendored-asset route, and fetch_assets."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from graphql import parse, validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from api import playground
from api.playground import (
    ASSETS,
    EXAMPLE_TABS,
    assets_ready,
    fetch_assets,
    playground_routes,
    render_page,
)
from api.schema import build_schema
from domain.demo.seeding import DEMO_PASSWORD

ASSET_BASE = "/graphql/assets"
requires_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")


def _sri(data: bytes, algorithm: str) -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def _matches_pin(path: Path, integrity: str) -> bool:
    algorithm = integrity.partition("-")[0]
    return path.is_file() and _sri(path.read_bytes(), algorithm) == integrity


def _fake_assets(directory: Path) -> None:
    for asset in ASSETS:
        (directory / asset.file).write_text(f"/* fake {asset.package} */\n")


def _app(asset_dir: Path, tabs: list[dict[str, str]] | None = None) -> Starlette:
    def page(request: Request) -> HTMLResponse:
        base = ASSET_BASE if assets_ready(asset_dir) else None
        tabs_ = EXAMPLE_TABS if tabs is None else tabs
        return HTMLResponse(render_page(endpoint="/graphql", asset_base=base, default_tabs=tabs_))

    return Starlette(routes=[*playground_routes(asset_dir), Route("/graphql", page)])


def _config(page: str) -> dict[str, object]:
    match = re.search(
        r'<script id="rapport-playground-config" type="application/json">(.*?)</script>',
        page,
        re.DOTALL,
    )
    assert match is not None
    config: dict[str, object] = json.loads(match.group(1))
    return config


# --------------------------------------------------------------------------- the page


def test_page_uses_local_assets_when_present(tmp_path: Path) -> None:
    _fake_assets(tmp_path)
    assert assets_ready(tmp_path)
    with TestClient(_app(tmp_path)) as client:
        response = client.get("/graphql")
    assert response.status_code == 200
    page = response.text
    assert "/graphql" in page
    assert _config(page)["endpoint"] == "/graphql"
    for asset in ASSETS:
        assert f'"{ASSET_BASE}/{asset.file}"' in page
        assert f'integrity="{asset.integrity}"' in page
    assert "unpkg.com" not in page
    assert "createFetcher" in page
    assert "subscriptionUrl" in page
    assert "application/graphql-response+json, application/json" in page
    assert "isHeadersEditorEnabled: true" in page
    assert "explorerPlugin()" in page


def test_page_falls_back_to_unpkg_with_integrity(tmp_path: Path) -> None:
    _fake_assets(tmp_path)
    (tmp_path / ASSETS[0].file).write_bytes(b"")  # one empty file: not ready
    assert not assets_ready(tmp_path)
    with TestClient(_app(tmp_path)) as client:
        page = client.get("/graphql").text
    assert ASSET_BASE not in page
    for asset in ASSETS:
        url = f"https://unpkg.com/{asset.package}@{asset.version}/{asset.path}"
        assert re.search(
            rf'(src|href)="{re.escape(url)}" integrity="{re.escape(asset.integrity)}" crossorigin',
            page,
        ), asset
    # The exact pins of strawberry 0.341's own GraphiQL page.
    assert "https://unpkg.com/react@18.2.0/umd/react.production.min.js" in page
    assert "https://unpkg.com/graphiql@3.8.3/graphiql.min.js" in page
    assert "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js" in page


def test_asset_order_loads_react_first() -> None:
    page = render_page(endpoint="/graphql", asset_base=None, default_tabs=[])
    positions = [page.index(a.cdn_url) for a in ASSETS if a.kind == "script"]
    assert positions == sorted(positions)
    assert page.index("react.production.min.js") < page.index("graphiql.min.js")


def test_assets_ready_false_for_missing_dir(tmp_path: Path) -> None:
    assert not assets_ready(tmp_path / "nope")


def test_example_tabs_are_embedded() -> None:
    page = render_page(endpoint="/graphql", asset_base=None, default_tabs=EXAMPLE_TABS)
    assert _config(page)["defaultTabs"] == EXAMPLE_TABS


def test_the_tour_tabs_are_valid_documents_for_the_demo_accounts() -> None:
    """Each tab runs against the schema as it is; the sign-in tabs name the demo accounts."""
    schema = build_schema()._schema
    for tab in EXAMPLE_TABS:
        document = parse(tab["query"])
        assert validate(schema, document) == [], tab["query"]
        for name in ("variables", "headers"):
            if name in tab:
                json.loads(tab[name])
    sign_ins = [json.loads(tab["variables"]) for tab in EXAMPLE_TABS if "logIn(" in tab["query"]]
    assert sign_ins == [
        {"email": "carol@example.com", "password": DEMO_PASSWORD},
        {"email": "alice@example.com", "password": DEMO_PASSWORD},
    ]
    # Every tab after a sign-in carries the Authorization header to fill in.
    assert all("headers" in tab for tab in EXAMPLE_TABS if "logIn(" not in tab["query"])


def test_tab_content_cannot_break_out_of_the_script(tmp_path: Path) -> None:
    evil = '</script><script>alert("pwned")</script><!-- & \u2028'
    tabs = [{"query": f"# {evil}\n{{ viewer {{ id }} }}", "variables": evil, "headers": evil}]
    with TestClient(_app(tmp_path, tabs)) as client:
        page = client.get("/graphql").text
    assert 'alert("pwned")' not in page
    assert "<!--" not in page
    assert page.count("</script>") == page.count("<script")
    assert _config(page)["defaultTabs"] == tabs


def test_endpoint_is_escaped_too() -> None:
    page = render_page(endpoint="/graphql</script>", asset_base=None, default_tabs=[])
    assert "/graphql</script>" not in page
    assert _config(page)["endpoint"] == "/graphql</script>"


# --------------------------------------------------------------------------- asset route


def test_asset_route_serves_known_files(tmp_path: Path) -> None:
    _fake_assets(tmp_path)
    js = next(a for a in ASSETS if a.kind == "script")
    css = next(a for a in ASSETS if a.kind == "style")
    with TestClient(_app(tmp_path)) as client:
        response = client.get(f"{ASSET_BASE}/{js.file}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")
        assert "max-age=31536000" in response.headers["cache-control"]
        assert response.text == f"/* fake {js.package} */\n"
        response = client.get(f"{ASSET_BASE}/{css.file}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/css")


def test_asset_route_404s(tmp_path: Path) -> None:
    asset_dir = tmp_path / "assets"
    asset_dir.mkdir()
    _fake_assets(asset_dir)
    (asset_dir / "secret.txt").write_text("nope")
    (tmp_path / "outside.js").write_text("nope")
    with TestClient(_app(asset_dir)) as client:
        for url in (
            f"{ASSET_BASE}/secret.txt",
            f"{ASSET_BASE}/unknown.js",
            f"{ASSET_BASE}/..%2foutside.js",
            f"{ASSET_BASE}/..%2F..%2Fpyproject.toml",
            f"{ASSET_BASE}/%2e%2e%2foutside.js",
            f"{ASSET_BASE}/",
        ):
            assert client.get(url).status_code == 404, url
        (asset_dir / ASSETS[0].file).unlink()  # known name, but not fetched
        assert client.get(f"{ASSET_BASE}/{ASSETS[0].file}").status_code == 404


# --------------------------------------------------------------------------- fetch_assets


def test_fetch_without_npm_reports_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    problems = fetch_assets(tmp_path / "assets")
    assert len(problems) == 1
    assert "npm is not installed" in problems[0]
    assert "CDN" in problems[0]
    assert not assets_ready(tmp_path / "assets")


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("playground-assets")
    assert fetch_assets(dest) == []
    return dest


@requires_npm
def test_fetch_assets_downloads_and_verifies(
    fetched: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert assets_ready(fetched)
    for asset in ASSETS:
        assert _matches_pin(fetched / asset.file, asset.integrity), asset.file
    assert sorted(p.name for p in fetched.iterdir()) == sorted(a.file for a in ASSETS)

    # A second call finds everything in place: no npm, no rewrite.
    mtimes = {a.file: (fetched / a.file).stat().st_mtime_ns for a in ASSETS}

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("fetch_assets re-downloaded a verified file")

    monkeypatch.setattr(subprocess, "run", no_download)
    assert fetch_assets(fetched) == []
    assert {a.file: (fetched / a.file).stat().st_mtime_ns for a in ASSETS} == mtimes


@requires_npm
def test_fetch_assets_replaces_a_corrupted_file(fetched: Path, tmp_path: Path) -> None:
    dest = tmp_path / "assets"
    shutil.copytree(fetched, dest)
    target = next(a for a in ASSETS if a.package == "react-dom")
    good = (dest / target.file).read_bytes()
    (dest / target.file).write_bytes(b"alert('tampered');")
    untouched = {a.file: (dest / a.file).stat().st_mtime_ns for a in ASSETS if a != target}

    assert fetch_assets(dest) == []

    assert (dest / target.file).read_bytes() == good
    assert _matches_pin(dest / target.file, target.integrity)
    assert {f: (dest / f).stat().st_mtime_ns for f in untouched} == untouched


@requires_npm
def test_fetch_assets_refuses_a_hash_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cookie = next(a for a in ASSETS if a.package == "js-cookie")
    wrong = playground.Asset(
        package=cookie.package,
        version=cookie.version,
        path=cookie.path,
        file=cookie.file,
        integrity=_sri(b"something else", "sha384"),
        kind=cookie.kind,
    )
    monkeypatch.setattr(playground, "ASSETS", (wrong,))
    problems = fetch_assets(tmp_path)
    assert len(problems) == 1
    assert "integrity mismatch" in problems[0]
    assert list(tmp_path.iterdir()) == []  # nothing written, no temp file left behind


@requires_npm
def test_fetch_assets_reports_an_unknown_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cookie = next(a for a in ASSETS if a.package == "js-cookie")
    missing = playground.Asset(
        package=cookie.package,
        version="0.0.0-does-not-exist",
        path=cookie.path,
        file=cookie.file,
        integrity=cookie.integrity,
        kind=cookie.kind,
    )
    monkeypatch.setattr(playground, "ASSETS", (missing,))
    problems = fetch_assets(tmp_path)
    assert len(problems) == 1
    assert "could not download" in problems[0]
    assert list(tmp_path.iterdir()) == []
