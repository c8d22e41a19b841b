"""Full-text search in each database's own index, behind one function.

A searchable table keeps its text in a ``search_text`` column. SQLite indexes it in an
external-content FTS5 table named ``<table>_fts`` (kept in step by triggers); PostgreSQL in
a GIN index on ``to_tsvector('simple', search_text)``. Both are created by the migrations.
Every word the user typed must match, each as a prefix.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, literal_column, select, table, text
from sqlalchemy.orm import InstrumentedAttribute

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 10


def words_of(query: str | None) -> list[str]:
    """Return the words of a search, lowercased, at most ``MAX_WORDS``."""
    return _WORD.findall((query or "").lower())[:MAX_WORDS]


def full_text(
    dialect: str,
    statement: Select[Any],
    *,
    id_column: InstrumentedAttribute[int],
    search_text: InstrumentedAttribute[str],
    words: list[str],
) -> tuple[Select[Any], ColumnElement[Any]]:
    """Restrict ``statement`` to rows matching every word; return it and an ORDER BY rank."""
    if dialect == "postgresql":
        document = func.to_tsvector(literal_column("'simple'"), search_text)
        query = func.to_tsquery(
            literal_column("'simple'"), " & ".join(f"{word}:*" for word in words)
        )
        return statement.where(document.op("@@")(query)), func.ts_rank(document, query).desc()
    index = f"{id_column.class_.__tablename__}_fts"
    fts = table(index, column("rowid"))
    # bm25() works only in a query FTS5 drives itself, so rank in a subquery of its own.
    matches = (
        select(fts.c.rowid.label("row_id"), func.bm25(literal_column(index)).label("rank"))
        .where(text(f"{index} MATCH :{index}_match"))
        .params(**{f"{index}_match": " ".join(f'"{word}"*' for word in words)})
        .subquery()
    )
    statement = statement.join(matches, matches.c.row_id == id_column)
    return statement, matches.c.rank.asc()  # bm25 is lower for better matches
