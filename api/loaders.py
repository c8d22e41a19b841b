"""Per-request DataLoaders: every relation is fetched in one batch per page, never per row.

Each batch opens its own session: resolvers run concurrently, and one AsyncSession cannot
serve two of them at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from strawberry.dataloader import DataLoader

from domain.members import read
from domain.members.models import TagRole
from domain.members.read import GiveView, GoalView, Profile, TagView
from domain.store import Store

K = TypeVar("K")
V = TypeVar("V")


class Loaders:
    def __init__(self, store: Store, viewer_id: Callable[[], Awaitable[int | None]]) -> None:
        self._store = store
        self._viewer_id = viewer_id
        self.profiles = DataLoader[int, Profile | None](self._profiles)
        self.tags = DataLoader[tuple[int, TagRole], list[TagView]](self._tags)
        self.gives = DataLoader[int, list[GiveView]](self._gives)
        self.goals = DataLoader[int, list[GoalView]](self._goals)

    def clear(self) -> None:
        """Forget what was loaded: a mutation just changed it."""
        for loader in (self.profiles, self.tags, self.gives, self.goals):
            loader.clear_all()

    def prime_profiles(self, profiles: Sequence[Profile]) -> None:
        """Remember profiles a query already loaded, so fields reuse them."""
        for profile in profiles:
            self.profiles.prime(profile.member.id, profile)

    async def _profiles(self, member_ids: list[int]) -> list[Profile | None]:
        viewer_id = await self._viewer_id()
        async with self._store.reader() as session:
            found = await read.profiles(session, viewer_id=viewer_id, member_ids=member_ids)
        return [found.get(member_id) for member_id in member_ids]

    async def _tags(self, keys: list[tuple[int, TagRole]]) -> list[list[TagView]]:
        async with self._store.reader() as session:
            found = await read.tags_by_member(session, sorted({member for member, _ in keys}))
        return [found.get(key, []) for key in keys]

    async def _gives(self, member_ids: list[int]) -> list[list[GiveView]]:
        async with self._store.reader() as session:
            found = await read.gives_by_member(session, member_ids)
        return [found.get(member_id, []) for member_id in member_ids]

    async def _goals(self, member_ids: list[int]) -> list[list[GoalView]]:
        async with self._store.reader() as session:
            found = await read.goals_by_member(session, member_ids)
        return [found.get(member_id, []) for member_id in member_ids]
