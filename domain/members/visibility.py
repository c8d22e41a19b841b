"""Who may see which member, and which parts of a profile.

A viewer's relation to a member decides it: the member themself, a connection (1st
degree), someone in their network (2nd degree), another signed-in member, or an anonymous
caller. Relationships arrive with the network context; until then every other member is a
stranger, and these two functions are the only places that will learn otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from sqlalchemy import ColumnElement, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from domain.members.models import Member, Visibility


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


def can_see(visibility: Visibility, relation: Relation) -> bool:
    """Tell whether a viewer so related may see what is shown with this visibility."""
    return relation >= _LEAST_RELATION[visibility]


async def relations(
    session: AsyncSession, *, viewer_id: int | None, member_ids: Iterable[int]
) -> dict[int, Relation]:
    """Return the viewer's relation to each member."""
    if viewer_id is None:
        return dict.fromkeys(member_ids, Relation.ANONYMOUS)
    return {
        member_id: Relation.SELF if member_id == viewer_id else Relation.MEMBER
        for member_id in member_ids
    }


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
    return or_(everyone, member_id == viewer_id)
