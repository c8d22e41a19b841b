"""DESIGN.md §5 rule 1: the domain never imports the edge; the API never writes SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGE = {"api", "strawberry", "starlette", "uvicorn", "httpx", "graphql"}


def _modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _packages(path: Path) -> set[str]:
    return {module.split(".")[0] for module in _modules(path)}


DOMAIN_FILES = sorted((ROOT / "domain").rglob("*.py"))
API_FILES = sorted((ROOT / "api").rglob("*.py"))


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_domain_never_imports_the_edge(path: Path) -> None:
    assert not _packages(path) & EDGE


@pytest.mark.parametrize("path", API_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_api_never_writes_sql(path: Path) -> None:
    # Sessions handed out by the domain may be named in annotations; nothing else of SQLAlchemy.
    sql = {module for module in _modules(path) if module.split(".")[0] == "sqlalchemy"}
    assert sql <= {"sqlalchemy.ext.asyncio"}


def test_the_rules_catch_forbidden_imports(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "from api.context import Context\nimport strawberry\nfrom sqlalchemy import select\n"
    )
    assert _packages(module) & EDGE == {"api", "strawberry"}
    assert "sqlalchemy" in _modules(module)
