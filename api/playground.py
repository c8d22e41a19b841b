"""The GraphiQL playground served at ``GET /graphql``, usable without internet access.

The page needs seven third-party files (React, ReactDOM, js-cookie, GraphiQL JS + CSS and
the explorer plugin JS + CSS) -- the very files, versions and SRI hashes that strawberry
0.341's own GraphiQL page loads from unpkg. :func:`fetch_assets` vendors them into a local
directory at deploy/setup time (via ``npm pack``, never committed); at request time the
page uses the local copies when :func:`assets_ready`, and falls back to unpkg otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from domain.demo.seeding import DEMO_PASSWORD

__all__ = [
    "ASSETS",
    "ASSET_URL_PREFIX",
    "EXAMPLE_TABS",
    "Asset",
    "assets_ready",
    "fetch_assets",
    "playground_routes",
    "render_page",
]

ASSET_URL_PREFIX: Final = "/graphql/assets"
CDN_BASE: Final = "https://unpkg.com"
NPM_TIMEOUT_SECONDS: Final = 180


@dataclass(frozen=True, slots=True)
class Asset:
    """One pinned file out of an npm package tarball."""

    package: str  # npm package name, e.g. "@graphiql/plugin-explorer"
    version: str  # exact version
    path: str  # path inside the package (the tarball has it under "package/")
    file: str  # local file name under the asset directory / URL prefix
    integrity: str  # SRI, e.g. "sha384-<base64>" -- exactly as in strawberry's template
    kind: Literal["script", "style"]

    @property
    def cdn_url(self) -> str:
        return f"{CDN_BASE}/{self.package}@{self.version}/{self.path}"

    @property
    def media_type(self) -> str:
        if self.kind == "script":
            return "text/javascript; charset=utf-8"
        return "text/css; charset=utf-8"


# Order matters: scripts are emitted in this order (React before ReactDOM before GraphiQL
# before the plugin).
ASSETS: Final[tuple[Asset, ...]] = (
    Asset(
        package="react",
        version="18.2.0",
        path="umd/react.production.min.js",
        file="react-18.2.0.production.min.js",
        integrity="sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
        kind="script",
    ),
    Asset(
        package="react-dom",
        version="18.2.0",
        path="umd/react-dom.production.min.js",
        file="react-dom-18.2.0.production.min.js",
        integrity="sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
        kind="script",
    ),
    Asset(
        package="js-cookie",
        version="3.0.5",
        path="dist/js.cookie.min.js",
        file="js-cookie-3.0.5.min.js",
        integrity="sha384-/vxhYfM1LENRhdpZ8dwEsQn/X4VhpbEZSiU4m/FwR+PVpzar4fkEOw8FP9Y+OfQN",
        kind="script",
    ),
    Asset(
        package="graphiql",
        version="3.8.3",
        path="graphiql.min.css",
        file="graphiql-3.8.3.min.css",
        integrity="sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
        kind="style",
    ),
    Asset(
        package="@graphiql/plugin-explorer",
        version="1.0.2",
        path="dist/style.css",
        file="graphiql-plugin-explorer-1.0.2.css",
        integrity="sha384-5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi",
        kind="style",
    ),
    Asset(
        package="graphiql",
        version="3.8.3",
        path="graphiql.min.js",
        file="graphiql-3.8.3.min.js",
        integrity="sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
        kind="script",
    ),
    Asset(
        package="@graphiql/plugin-explorer",
        version="1.0.2",
        path="dist/index.umd.js",
        file="graphiql-plugin-explorer-1.0.2.umd.js",
        integrity="sha384-2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9",
        kind="script",
    ),
)

_BY_FILE: Final[dict[str, Asset]] = {asset.file: asset for asset in ASSETS}


# --------------------------------------------------------------------------- integrity


def _sri_matches(data: bytes, integrity: str) -> bool:
    """True when ``data`` matches one of the SRI tokens (``alg-base64``) in ``integrity``."""
    for token in integrity.split():
        algorithm, sep, expected = token.partition("-")
        if not sep or algorithm not in {"sha256", "sha384", "sha512"}:
            continue
        digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode("ascii")
        if digest == expected:
            return True
    return False


def _file_matches(path: Path, integrity: str) -> bool:
    try:
        return path.is_file() and _sri_matches(path.read_bytes(), integrity)
    except OSError:
        return False


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- fetching


def _npm_pack(npm: str, spec: str, workdir: Path) -> Path:
    """Download ``spec`` (``name@version``) as a tarball into ``workdir``; return its path.

    npm verifies the tarball against the registry's integrity metadata. ``npm pack`` of a
    registry spec runs no lifecycle scripts; ``--ignore-scripts`` makes sure of it.
    """
    subprocess.run(  # noqa: S603 -- fixed argv, no shell; spec comes from the pinned ASSETS
        [npm, "pack", spec, "--pack-destination", str(workdir), "--ignore-scripts"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise FileNotFoundError(f"npm pack {spec} produced {len(tarballs)} tarballs")
    return tarballs[0]


def _read_member(tarball: Path, inner_path: str) -> bytes:
    """Read one regular file out of an npm tarball (members are ``package/<path>``)."""
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            # The top directory is "package/" for virtually every npm tarball; compare
            # what follows it so odd top directories still work.
            _, _, rest = member.name.partition("/")
            if rest != inner_path or not member.isfile():
                continue
            extracted = archive.extractfile(member)
            if extracted is None:
                break
            with extracted:
                return extracted.read()
    raise FileNotFoundError(f"{inner_path} not found in {tarball.name}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        lines = (exc.stderr or "").strip().splitlines()
        return f"npm exited with status {exc.returncode}: {' | '.join(lines[-3:])}"
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"npm timed out after {exc.timeout:g}s"
    return f"{type(exc).__name__}: {exc}"


def fetch_assets(dest: Path) -> list[str]:
    """Vendor every file of :data:`ASSETS` into ``dest``; return the problems (empty = ok).

    Files already present with the pinned hash are left alone (no download at all).
    Others come from ``npm pack <name>@<version>``; each extracted file is checked against
    its pinned SRI hash before being written atomically, so a mismatch never lands on disk.
    Never raises for a missing npm or network/registry failures: those are reported.
    """
    missing = [asset for asset in ASSETS if not _file_matches(dest / asset.file, asset.integrity)]
    if not missing:
        return []

    npm = shutil.which("npm")
    if npm is None:
        return [
            "npm is not installed; cannot fetch "
            + ", ".join(asset.file for asset in missing)
            + " -- the playground will load them from the CDN (unpkg)"
        ]

    # One ``npm pack`` per package (graphiql and the explorer plugin give two files each).
    by_spec: dict[str, list[Asset]] = {}
    for asset in missing:
        by_spec.setdefault(f"{asset.package}@{asset.version}", []).append(asset)

    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rapport-playground-") as tmp:
        for index, (spec, assets) in enumerate(by_spec.items()):
            workdir = Path(tmp) / str(index)
            workdir.mkdir()
            try:
                tarball = _npm_pack(npm, spec, workdir)
            except (OSError, subprocess.SubprocessError) as exc:
                problems.append(f"{spec}: could not download the package: {_describe(exc)}")
                continue
            for asset in assets:
                problems.extend(_install_one(asset, tarball, dest))
    return problems


def _install_one(asset: Asset, tarball: Path, dest: Path) -> list[str]:
    label = f"{asset.package}@{asset.version}/{asset.path}"
    try:
        data = _read_member(tarball, asset.path)
    except (OSError, tarfile.TarError) as exc:
        return [f"{label}: {_describe(exc)}"]
    if not _sri_matches(data, asset.integrity):
        return [f"{label}: integrity mismatch (expected {asset.integrity}); not written"]
    try:
        _write_atomically(dest / asset.file, data)
    except OSError as exc:
        return [f"{label}: cannot write {dest / asset.file}: {_describe(exc)}"]
    return []


def assets_ready(dest: Path) -> bool:
    """Cheap request-time check: every vendored file exists and is non-empty."""
    try:
        return all((dest / asset.file).stat().st_size > 0 for asset in ASSETS)
    except OSError:
        return False


# --------------------------------------------------------------------------- the page


def _json_for_script(value: object) -> str:
    """JSON that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c``-style escapes (still valid JSON and JS), so
    no string can close the element or open a comment; ``ensure_ascii`` escapes U+2028/9.
    """
    return (
        json.dumps(value, ensure_ascii=True, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def _asset_tag(asset: Asset, asset_base: str | None) -> str:
    if asset_base is None:
        url, crossorigin = asset.cdn_url, " crossorigin"
    else:
        url, crossorigin = f"{asset_base.rstrip('/')}/{asset.file}", ""
    href = html.escape(url, quote=True)
    integrity = html.escape(asset.integrity, quote=True)
    if asset.kind == "style":
        return f'<link rel="stylesheet" href="{href}" integrity="{integrity}"{crossorigin} />'
    return f'<script src="{href}" integrity="{integrity}"{crossorigin}></script>'


_PAGE_SCRIPT: Final = """
      (function () {
        var config = JSON.parse(
          document.getElementById("rapport-playground-config").textContent
        );
        var endpoint = new URL(config.endpoint, window.location.href);
        var subscriptionUrl = new URL(endpoint.href);
        subscriptionUrl.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
        subscriptionUrl.hash = "";

        var headers = {
          Accept: "application/graphql-response+json, application/json"
        };
        var csrfToken = window.Cookies ? Cookies.get("csrftoken") : undefined;
        if (csrfToken) {
          headers["x-csrftoken"] = csrfToken;
        }

        // POST to the same origin (fetch's default credentials are "same-origin");
        // subscriptions use graphql-ws, i.e. the graphql-transport-ws subprotocol.
        var fetcher = GraphiQL.createFetcher({
          url: endpoint.href,
          headers: headers,
          subscriptionUrl: subscriptionUrl.href
        });

        var explorer = GraphiQLPluginExplorer.explorerPlugin();
        var props = {
          fetcher: fetcher,
          plugins: [explorer],
          defaultEditorToolsVisibility: true,
          isHeadersEditorEnabled: true,
          shouldPersistHeaders: false,
          inputValueDeprecation: true
        };
        if (config.defaultTabs.length > 0) {
          props.defaultTabs = config.defaultTabs;
        }
        var root = ReactDOM.createRoot(document.getElementById("graphiql"));
        root.render(React.createElement(GraphiQL, props));
      })();
"""

_STYLE: Final = """
      body { height: 100%; margin: 0; width: 100%; overflow: hidden; }
      #graphiql { height: 100vh; display: flex; }
      .graphiql-explorer-actions select { margin-left: 4px; }
"""


def render_page(
    *,
    endpoint: str,
    asset_base: str | None,
    default_tabs: list[dict[str, str]],
) -> str:
    """The GraphiQL page (GraphiQL 3 + explorer plugin) talking to ``endpoint``.

    ``asset_base`` is the URL prefix of the vendored files (e.g. ``"/graphql/assets"``,
    when :func:`assets_ready`); ``None`` loads them from unpkg. Every tag carries the pinned
    SRI hash either way. ``default_tabs`` are GraphiQL ``defaultTabs`` (``query`` and
    optional ``variables``/``headers`` strings); GraphiQL uses them only when the browser
    has no saved tab state yet.
    """
    styles = [_asset_tag(a, asset_base) for a in ASSETS if a.kind == "style"]
    head_scripts = [_asset_tag(a, asset_base) for a in ASSETS if a.kind == "script"]
    config = _json_for_script({"endpoint": endpoint, "defaultTabs": list(default_tabs)})
    indent = "\n    "
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="no-referrer" />
    <title>Rapport GraphQL playground</title>
    <style>{_STYLE}    </style>
    {indent.join(styles)}
  </head>
  <body>
    <div id="graphiql" class="graphiql-container">Loading&hellip;</div>
    {indent.join(head_scripts)}
    <script id="rapport-playground-config" type="application/json">{config}</script>
    <script>{_PAGE_SCRIPT}    </script>
  </body>
</html>
"""


# --------------------------------------------------------------------------- example tabs

_AUTH_SELECTION: Final = """{
    accessToken
    refreshToken
    accessTokenExpiresAt
    viewer {
      id
      handle
      displayName
    }
    userErrors {
      field
      code
      message
    }
  }"""


_ERRORS: Final = "    userErrors {\n      field\n      code\n      message\n    }\n"


def _bearer(who: str) -> str:
    return json.dumps({"Authorization": f"Bearer <paste {who}'s accessToken>"}, indent=2)


def _tab(
    query: str, variables: dict[str, object] | None = None, who: str | None = None
) -> dict[str, str]:
    tab = {"query": query}
    if variables is not None:
        tab["variables"] = json.dumps(variables, indent=2)
    if who is not None:
        tab["headers"] = _bearer(who)
    return tab


def _log_in(number: int, handle: str, why: str) -> dict[str, str]:
    return _tab(
        f"# {number}. {why}\n"
        "# Copy accessToken from the result into the Headers pane of the tabs that follow.\n"
        "mutation LogIn($email: String!, $password: String!) {\n"
        f"  logIn(input: {{email: $email, password: $password}}) {_AUTH_SELECTION}\n"
        "}\n",
        {"email": f"{handle}@example.com", "password": DEMO_PASSWORD},
    )


# The journey of README.md's Tour, on the demo network (`python -m api seed`; `make run`
# seeds a new database): Carol asks, Alice is offered it, finds her way, helps, is paid.
EXAMPLE_TABS: Final[list[dict[str, str]]] = [
    _log_in(1, "carol", "Carol signs in (every demo account has this password)."),
    _tab(
        "# 2. Carol asks her network for SEO help, with a bounty of 10 karma.\n"
        "mutation Ask($input: PostHelpRequestInput!) {\n"
        "  postHelpRequest(input: $input) {\n"
        "    helpRequest {\n      id\n      title\n      status\n      bounty\n    }\n"
        + _ERRORS
        + "  }\n}\n",
        {
            "input": {
                "title": "An SEO review of our launch page",
                "details": "We launch in two weeks and rank for nothing.",
                "kind": "ADVICE",
                "tags": ["SEO"],
                "audience": {"scope": "NETWORK"},
                "bounty": 10,
            }
        },
        "Carol",
    ),
    _log_in(3, "alice", "Alice signs in: her skill is SEO, and she knows Carol through Bob."),
    _tab(
        "# 4. What the network offers Alice now, and why (the newest last). A phone gets the\n"
        "# same live: subscription { opportunityAdded { ... } } over WebSocket.\n"
        "query Opportunities {\n"
        "  opportunities(last: 5) {\n"
        "    edges {\n      cursor\n      node {\n        id\n        kind\n        score\n"
        "        reasons {\n          code\n          label\n        }\n"
        "        subject {\n          ... on HelpRequest {\n            id\n            title\n"
        "            author {\n              id\n              handle\n            }\n"
        "          }\n        }\n      }\n    }\n  }\n}\n",
        None,
        "Alice",
    ),
    _tab(
        "# 5. Alice's warm way to Carol (paste Carol's id from tab 4's author).\n"
        "query Paths($to: ID!) {\n"
        "  introPaths(to: $to) {\n    strength\n    hops {\n      handle\n"
        "      displayName\n    }\n  }\n}\n",
        {"to": "<Carol's id>"},
        "Alice",
    ),
    _tab(
        "# 6. Alice offers her help (paste the help request's id).\n"
        "mutation Offer($id: ID!) {\n"
        '  offerHelp(input: {helpRequestId: $id, message: "Happy to look at it today"}) {\n'
        "    offer {\n      id\n      status\n    }\n" + _ERRORS + "  }\n}\n",
        {"id": "<help request id>"},
        "Alice",
    ),
    _tab(
        "# 7. Carol accepts the offer, then confirms the help and pays the bounty.\n"
        "# A retry with the same idempotencyKey returns the first outcome, never pays twice.\n"
        "mutation Accept($offer: ID!) {\n"
        "  acceptOffer(input: {offerId: $offer}) {\n"
        "    offer {\n      status\n    }\n" + _ERRORS + "  }\n}\n\n"
        "mutation Complete($offer: ID!) {\n"
        "  completeHelp(input: {offerId: $offer, settlement: BOUNTY,"
        ' idempotencyKey: "tour-1"}) {\n'
        "    offer {\n      status\n    }\n" + _ERRORS + "  }\n}\n",
        {"offer": "<offer id>"},
        "Carol",
    ),
    _tab(
        "# 8. Alice's karma and reciprocity after it (run it as Carol too).\n"
        "query Me {\n  viewer {\n    handle\n"
        "    karma {\n      balance\n      available\n      held\n"
        "      statement(first: 3) {\n        nodes {\n          change\n          reason\n"
        "        }\n      }\n    }\n"
        "    reciprocity {\n      band\n      helpGiven\n      helpReceived\n"
        "      karmaEarned\n      karmaSpent\n    }\n"
        "    ious(first: 5) {\n      nodes {\n        status\n        debtor {\n"
        "          handle\n        }\n        creditor {\n          handle\n        }\n"
        "      }\n    }\n  }\n}\n",
        None,
        "Alice",
    ),
]


# --------------------------------------------------------------------------- routes

_CACHE_HEADERS: Final = {
    # File names carry the package version, so a URL's content never changes.
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


def playground_routes(asset_dir: Path) -> list[BaseRoute]:
    """``GET /graphql/assets/{file}``: serves only the known vendored files; 404 otherwise."""

    def serve_asset(request: Request) -> Response:
        asset = _BY_FILE.get(request.path_params["file"])
        if asset is None:
            return PlainTextResponse("Not Found", status_code=404)
        path = asset_dir / asset.file
        if not path.is_file():
            return PlainTextResponse("Not Found", status_code=404)
        return FileResponse(path, media_type=asset.media_type, headers=_CACHE_HEADERS)

    return [
        Route(
            f"{ASSET_URL_PREFIX}/{{file}}",
            serve_asset,
            methods=["GET", "HEAD"],
            name="graphql_playground_asset",
        )
    ]
