"""Per-request DataLoaders for circles: each relation in one batch per page, never per row.

They live beside the request's other loaders (``api.loaders``), one set per context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from api.context import Context
from domain.members.read import TagView
from domain.network import circle_read
from domain.network.circle_read import MemberPage
from domain.network.models import Circle, CircleMembership
from domain.store import Store

# A page of a circle's members: (circle id, limit, offset).
PageKey = tuple[int, int, int]


class CircleLoaders:
    def __init__(self, store: Store, viewer_id: Callable[[], Awaitable[int | None]]) -> None:
        self._store = store
        self._viewer_id = viewer_id
        self.circles = DataLoader[int, Circle | None](self._circles)
        self.tags = DataLoader[int, list[TagView]](self._tags)
        self.viewer_memberships = DataLoader[int, CircleMembership | None](self._memberships)
        self.members = DataLoader[PageKey, MemberPage](self._members)
        self.join_requests = DataLoader[PageKey, MemberPage](self._join_requests)

    def clear(self) -> None:
        """Forget what was loaded: a mutation just changed it."""
        for loader in (
            self.circles,
            self.tags,
            self.viewer_memberships,
            self.members,
            self.join_requests,
        ):
            loader.clear_all()

    def prime(self, circles: Sequence[Circle]) -> None:
        """Remember circles a query already loaded (as visible to the viewer)."""
        for circle in circles:
            self.circles.prime(circle.id, circle)

    async def _circles(self, circle_ids: list[int]) -> list[Circle | None]:
        viewer_id = await self._viewer_id()
        async with self._store.reader() as session:
            found = await circle_read.circles_by_ids(
                session, viewer_id=viewer_id, circle_ids=circle_ids
            )
        return [found.get(circle_id) for circle_id in circle_ids]

    async def _tags(self, circle_ids: list[int]) -> list[list[TagView]]:
        async with self._store.reader() as session:
            found = await circle_read.tags_by_circle(session, circle_ids)
        return [found.get(circle_id, []) for circle_id in circle_ids]

    async def _memberships(self, circle_ids: list[int]) -> list[CircleMembership | None]:
        viewer_id = await self._viewer_id()
        if viewer_id is None:
            return [None] * len(circle_ids)
        async with self._store.reader() as session:
            found = await circle_read.memberships_of(
                session, member_id=viewer_id, circle_ids=circle_ids
            )
        return [found.get(circle_id) for circle_id in circle_ids]

    async def _members(self, keys: list[PageKey]) -> list[MemberPage]:
        return await self._pages(keys, circle_read.member_pages)

    async def _join_requests(self, keys: list[PageKey]) -> list[MemberPage]:
        return await self._pages(keys, circle_read.join_request_pages)

    async def _pages(self, keys: list[PageKey], read: _PageReader) -> list[MemberPage]:
        viewer_id = await self._viewer_id()
        # Circles listed together ask for the same page: one statement per page size.
        wanted: dict[tuple[int, int], list[int]] = {}
        for circle_id, limit, offset in keys:
            wanted.setdefault((limit, offset), []).append(circle_id)
        found: dict[PageKey, MemberPage] = {}
        async with self._store.reader() as session:
            for (limit, offset), circle_ids in wanted.items():
                pages = await read(
                    session, viewer_id=viewer_id, circle_ids=circle_ids, limit=limit, offset=offset
                )
                for circle_id, page in pages.items():
                    found[(circle_id, limit, offset)] = page
        return [found.get(key) or _past_the_end(key) for key in keys]


def _past_the_end(key: PageKey) -> MemberPage:
    _, _, offset = key
    # With nothing on the page, the total is known only when the page is the first.
    return MemberPage(entries=[], total=None if offset else 0, has_next=False)


class _PageReader(Protocol):
    def __call__(
        self,
        session: AsyncSession,
        *,
        viewer_id: int | None,
        circle_ids: Sequence[int],
        limit: int,
        offset: int,
    ) -> Awaitable[dict[int, MemberPage]]: ...


_BY_CONTEXT: WeakKeyDictionary[Context, CircleLoaders] = WeakKeyDictionary()


def circle_loaders(context: Context) -> CircleLoaders:
    """Return the circle loaders of this request."""
    loaders = _BY_CONTEXT.get(context)
    if loaders is None:
        loaders = _BY_CONTEXT[context] = CircleLoaders(context.store, context.viewer_id)
    return loaders
