"""Turn what members type into tags: normalised, and created when new."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from domain.errors import Code, DomainError, invalid
from domain.members import tags
from domain.members.models import Tag, TagKind
from domain.store import Transaction, insert_ignoring_conflicts


async def ensure_tags(
    tx: Transaction, texts: Sequence[str], *, kind: TagKind, limit: int, field: str
) -> list[Tag]:
    """Return the tags for free text in the order given, creating the unknown ones."""
    unusable = [text for text in texts if not tags.normalise(text)]
    if unusable:
        raise invalid(f"{unusable[0]!r} is not a tag: use letters or digits", field)
    try:
        slugs = tags.normalise_all(texts, limit=limit)
    except ValueError as error:
        raise DomainError(Code.LIMIT_EXCEEDED, str(error), field) from error
    if not slugs:
        return []
    labels: dict[str, str] = {}
    for text in texts:
        labels.setdefault(tags.normalise(text), tags.label_for(text))
    # Unknown tags are created, never refused; concurrent creators of one slug both succeed.
    await tx.session.execute(
        insert_ignoring_conflicts(tx.dialect, Tag.__table__, ["slug"]),
        [
            {"slug": slug, "label": labels[slug], "kind": kind, "created_at": tx.now}
            for slug in slugs
        ],
    )
    rows = (await tx.session.scalars(select(Tag).where(Tag.slug.in_(slugs)))).all()
    by_slug = {tag.slug: tag for tag in rows}
    return [by_slug[slug] for slug in slugs]
