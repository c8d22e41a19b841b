"""Intro paths: how the viewer could be introduced to a member, through whom.

A path names its brokers, so it goes only through members whose profile the viewer may
see (the domain leaves the others out); a member the viewer may not see has no paths.
"""

from __future__ import annotations

import strawberry

from api.context import Info
from api.errors import BadArgument
from api.graphql.ids import argument_id
from api.graphql.members import Member
from domain.errors import DomainError
from domain.network import paths
from domain.network.paths import IntroPathView

# The domain's names for the arguments, as the schema spells them.
_ARGUMENTS = {"target_id": "to", "max_hops": "maxHops", "first": "first"}


@strawberry.type(description="A chain of connections from the viewer to a member.")
class IntroPath:
    hops: list[Member] = strawberry.field(
        description="Everyone on the path in order: the viewer first, the member asked for last."
    )
    strength: float = strawberry.field(
        description="How strong the path's weakest tie is, from 0 to 1."
    )

    @strawberry.field(description="The members who would pass the introduction on, in order.")
    def brokers(self) -> list[Member]:
        return self.hops[1:-1]


async def intro_paths(
    info: Info,
    to: strawberry.ID,
    max_hops: int | None = paths.MAX_HOPS,
    first: int | None = paths.FIRST,
) -> list[IntroPath]:
    viewer_id = await info.context.require_viewer()
    target_id = argument_id(to, "Member", argument="to")
    try:
        async with info.context.store.reader() as session:
            found = await paths.intro_paths(
                session,
                viewer_id=viewer_id,
                target_id=target_id,
                now=info.context.store.clock(),
                # An explicit null asks for the default, as leaving the argument out does.
                max_hops=paths.MAX_HOPS if max_hops is None else max_hops,
                first=paths.FIRST if first is None else first,
            )
    except DomainError as error:
        raise _bad_argument(error) from None
    return await _shown(info, found)


def _bad_argument(error: DomainError) -> BadArgument:
    named = [
        (_ARGUMENTS.get(problem.field[0], problem.field[0]) if problem.field else None, problem)
        for problem in error.problems()
    ]
    message = "; ".join(
        f"`{argument}`: {problem.message}" if argument else problem.message
        for argument, problem in named
    )
    return BadArgument(message, argument=named[0][0])


async def _shown(info: Info, found: list[IntroPathView]) -> list[IntroPath]:
    member_ids = list(dict.fromkeys(m for path in found for m in path.member_ids))
    loaded = await info.context.loaders.profiles.load_many(member_ids)
    members = {profile.member.id: Member.of(profile) for profile in loaded if profile}
    return [
        IntroPath(hops=[members[m] for m in path.member_ids], strength=path.strength)
        for path in found
        # Never leave a gap: a path with someone the viewer may no longer see is dropped whole.
        if all(m in members for m in path.member_ids)
    ]


@strawberry.type
class Query:
    intro_paths: list[IntroPath] = strawberry.field(
        resolver=intro_paths,
        description="The best paths from the viewer to a member (`to`), strongest first: "
        "by the weakest tie, then the brokers' readiness to pass intros on, then fewer hops. "
        "Paths go only through members whose profile the viewer may see, and never through "
        "anyone who blocked either end or whom either end blocked. `maxHops` 1–3, "
        "`first` 1–20.",
    )
