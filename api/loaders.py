"""Per-request DataLoaders: every relation is fetched in one batch per page, never per row.

Each batch opens its own session: resolvers run concurrently, and one AsyncSession cannot
serve two of them at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from domain.members import read
from domain.members.models import TagRole
from domain.members.read import GiveView, GoalView, Profile, TagView
from domain.network import graph, paths
from domain.network.graph import Tie
from domain.store import Store

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Loaders:
    def __init__(self, store: Store, viewer_id: Callable[[], Awaitable[int | None]]) -> None:
        self._store = store
        self._viewer_id = viewer_id
        self._all: list[DataLoader[Any, Any]] = []
        self.profiles: DataLoader[int, Profile | None] = self._batched(self._profiles, lambda: None)
        self.tags: DataLoader[tuple[int, TagRole], list[TagView]] = self._batched(self._tags, list)
        self.gives: DataLoader[int, list[GiveView]] = self._batched(read.gives_by_member, list)
        self.goals: DataLoader[int, list[GoalView]] = self._batched(read.goals_by_member, list)
        self.ties_by_id: DataLoader[int, Tie | None] = self._batched(self._ties_by_id, lambda: None)
        self.tie_with: DataLoader[int, Tie | None] = self._batched(self._tie_with, lambda: None)
        self.mutual_count: DataLoader[int, int] = self._batched(self._mutual_counts, int)
        self.notes: DataLoader[int, str | None] = self._batched(self._notes, lambda: None)
        self.shared_tags: DataLoader[tuple[int, int], list[TagView]] = self._batched(
            graph.shared_tags, list
        )
        self.degree: DataLoader[int, int | None] = self._batched(self._degrees, lambda: None)
        self.shared_circle_ids: DataLoader[tuple[int, int], list[int]] = self._batched(
            graph.shared_circle_ids, list
        )

    def _batched(
        self,
        fetch: Callable[[AsyncSession, list[K]], Awaitable[Mapping[K, V]]],
        missing: Callable[[], V],
    ) -> DataLoader[K, V]:
        async def load(keys: list[K]) -> list[V]:
            async with self._store.reader() as session:
                found = await fetch(session, keys)
            return [found[key] if key in found else missing() for key in keys]

        loader = DataLoader[K, V](load)
        self._all.append(loader)
        return loader

    def clear(self) -> None:
        """Forget what was loaded: a mutation just changed it."""
        for loader in self._all:
            loader.clear_all()

    def prime_profiles(self, profiles: Sequence[Profile]) -> None:
        """Remember profiles a query already loaded, so fields reuse them."""
        for profile in profiles:
            self.profiles.prime(profile.member.id, profile)

    async def _profiles(self, session: AsyncSession, member_ids: list[int]) -> dict[int, Profile]:
        viewer_id = await self._viewer_id()
        return await read.profiles(session, viewer_id=viewer_id, member_ids=member_ids)

    async def _tags(
        self, session: AsyncSession, keys: list[tuple[int, TagRole]]
    ) -> dict[tuple[int, TagRole], list[TagView]]:
        return await read.tags_by_member(session, sorted({member for member, _ in keys}))

    async def _ties_by_id(self, session: AsyncSession, ids: list[int]) -> dict[int, Tie]:
        viewer_id = await self._viewer_id()
        if viewer_id is None:
            return {}
        return await graph.ties_by_ids(session, viewer_id=viewer_id, relationship_ids=ids)

    async def _tie_with(self, session: AsyncSession, member_ids: list[int]) -> dict[int, Tie]:
        viewer_id = await self._viewer_id()
        if viewer_id is None:
            return {}
        return await graph.ties_with(session, viewer_id=viewer_id, member_ids=member_ids)

    async def _mutual_counts(self, session: AsyncSession, member_ids: list[int]) -> dict[int, int]:
        viewer_id = await self._viewer_id()
        if viewer_id is None:
            return {}
        return await graph.mutual_counts(session, viewer_id=viewer_id, member_ids=member_ids)

    async def _degrees(self, session: AsyncSession, member_ids: list[int]) -> dict[int, int | None]:
        viewer_id = await self._viewer_id()
        if viewer_id is None:
            return {}
        return await paths.degree_of_separation(session, viewer_id, member_ids)

    async def _notes(self, session: AsyncSession, ids: list[int]) -> dict[int, str]:
        viewer_id = await self._viewer_id()
        if viewer_id is None:
            return {}
        return await graph.notes(session, viewer_id=viewer_id, relationship_ids=ids)


__all__ = ["GiveView", "GoalView", "Loaders"]
