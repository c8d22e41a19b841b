"""Who may see which member, and which parts of a profile.

A viewer's relation to a member decides it: the member themself, a connection (1st
degree), someone in their network (2nd degree), another signed-in member, or an anonymous
caller. A member who blocked the viewer shows them only what they show everyone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased

from domain.members.models import Member, Visibility
from domain.network.models import Block, Connection


class Relation(enum.IntEnum):
    """How close a viewer is to a member; a larger value sees at least as much."""

    ANONYMOUS = 0
    MEMBER = 1
    NETWORK = 2
    CONNECTION = 3
    SELF = 4


_LEAST_RELATION = {
    Visibility.EVERYONE: Relation.ANONYMOUS,
    Visibility.NETWORK: Relation.NETWORK,
    Visibility.CONNECTIONS: Relation.CONNECTION,
    Visibility.ONLY_ME: Relation.SELF,
}


# Built once: an alias made per call costs a copy of every column of the table each time.
_MINE = aliased(Connection, name="viewer_ties")
_THEIRS = aliased(Connection, name="member_ties")


def can_see(visibility: Visibility, relation: Relation) -> bool:
    """Tell whether a viewer so related may see what is shown with this visibility."""
    return relation >= _LEAST_RELATION[visibility]


async def relations(
    session: AsyncSession, *, viewer_id: int | None, member_ids: Iterable[int]
) -> dict[int, Relation]:
    """Return the viewer's relation to each member, in one statement for all of them."""
    ids = set(member_ids)
    if viewer_id is None:
        return dict.fromkeys(ids, Relation.ANONYMOUS)
    others = ids - {viewer_id}
    found: dict[int, Relation] = dict.fromkeys(others, Relation.MEMBER)
    if viewer_id in ids:
        found[viewer_id] = Relation.SELF
    if not others:
        return found
    mine, theirs = _MINE, _THEIRS
    rows = await session.execute(
        union_all(
            select(literal("blocked").label("kind"), Block.blocker_id.label("member_id")).where(
                Block.blocked_id == viewer_id, Block.blocker_id.in_(others)
            ),
            select(literal("first"), Connection.other_id).where(
                Connection.member_id == viewer_id, Connection.other_id.in_(others)
            ),
            select(literal("second"), theirs.member_id)
            .join(mine, mine.other_id == theirs.other_id)
            .where(mine.member_id == viewer_id, theirs.member_id.in_(others))
            .distinct(),
        )
    )
    blocked: set[int] = set()
    for kind, member_id in rows:
        if kind == "blocked":
            blocked.add(member_id)
        elif kind == "first":
            found[member_id] = Relation.CONNECTION
        elif found[member_id] is Relation.MEMBER:
            found[member_id] = Relation.NETWORK
    for member_id in blocked:
        found[member_id] = Relation.ANONYMOUS
    return found


def visible_members(viewer_id: int | None) -> ColumnElement[bool]:
    """Return the SQL condition for members whose profile the viewer may see."""
    return shown_to(viewer_id, Member.visibility, Member.id)


def shown_to(
    viewer_id: int | None,
    visibility: QueryableAttribute[Visibility],
    member_id: QueryableAttribute[int],
) -> ColumnElement[bool]:
    """Return the SQL condition for members who show the viewer a part with this visibility.

    ``visibility`` and ``member_id`` are columns of one (possibly aliased) members table.
    """
    everyone = visibility == Visibility.EVERYONE
    if viewer_id is None:
        return everyone
    mine, theirs = _MINE, _THEIRS
    # correlate(None): these lists stand alone whatever query embeds them.
    first = select(Connection.other_id).where(Connection.member_id == viewer_id).correlate(None)
    second = (
        select(theirs.member_id)
        .join(mine, mine.other_id == theirs.other_id)
        .where(mine.member_id == viewer_id)
        .correlate(None)
    )
    blockers = select(Block.blocker_id).where(Block.blocked_id == viewer_id).correlate(None)
    return or_(
        everyone,
        member_id == viewer_id,
        and_(
            member_id.not_in(blockers),
            or_(
                and_(
                    visibility.in_([Visibility.CONNECTIONS, Visibility.NETWORK]),
                    member_id.in_(first),
                ),
                and_(visibility == Visibility.NETWORK, member_id.in_(second)),
            ),
        ),
    )
