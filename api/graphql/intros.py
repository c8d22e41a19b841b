"""Intros: asking a shared connection to introduce you, with double opt-in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import strawberry
from strawberry import relay

from api.context import Info
from api.errors import UserError
from api.graphql.commands import mutate
from api.graphql.ids import argument_id, database_ids, input_id
from api.graphql.members import Member
from api.graphql.pagination import Connection, offset_connection, window
from domain.network import intros
from domain.network.intros import IntroRole, IntroView
from domain.network.models import Intro as IntroRow
from domain.network.models import IntroStatus

strawberry.enum(
    IntroStatus,
    description="Where an intro is: REQUESTED → FORWARDED (by the broker) → ACCEPTED (by the "
    "target), or DECLINED, or EXPIRED two weeks after it was asked for.",
)
strawberry.enum(IntroRole, description="The viewer's part in an intro.")

_HIDDEN = (
    "Null when this member does not show you their profile: an intro does not widen what "
    "members show each other."
)


@strawberry.type(
    description="A member (the requester) asks a connection (the broker) to introduce them to "
    "one of the broker's connections (the target). Only these three see it, and the target "
    "only once the broker has forwarded it."
)
class Intro(relay.Node):
    id: relay.NodeID[int]
    view: strawberry.Private[IntroView]

    @classmethod
    def of(cls, view: IntroView) -> Intro:
        return cls(id=view.intro.id, view=view)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Intro | None]:
        ids = database_ids(node_ids)
        found = await _visible_intros(info, ids)
        return [Intro.of(found[intro_id]) if intro_id in found else None for intro_id in ids]

    @strawberry.field(description="As of now: an open intro past `expiresAt` reads EXPIRED.")
    def status(self) -> IntroStatus:
        return self.view.status

    @strawberry.field
    def viewer_role(self) -> IntroRole:
        return self.view.viewer_role

    @strawberry.field(description=f"Who asked for the intro. {_HIDDEN}")
    async def requester(self, info: Info) -> Member | None:
        return await _member(info, self.view.intro.requester_id)

    @strawberry.field(description=f"Who was asked to make the intro. {_HIDDEN}")
    async def broker(self, info: Info) -> Member | None:
        return await _member(info, self.view.intro.broker_id)

    @strawberry.field(description=f"Whom the requester wants to meet. {_HIDDEN}")
    async def target(self, info: Info) -> Member | None:
        return await _member(info, self.view.intro.target_id)

    @strawberry.field(description="The requester's message: who they are and why they ask.")
    def message(self) -> str:
        return self.view.intro.message

    @strawberry.field(description="What the broker added when forwarding.")
    def broker_note(self) -> str | None:
        return self.view.intro.broker_note

    @strawberry.field(description="Why it was declined; the requester and the decliner see it.")
    def decline_reason(self) -> str | None:
        intro, role = self.view.intro, self.view.viewer_role
        viewer_id = {
            IntroRole.REQUESTER: intro.requester_id,
            IntroRole.BROKER: intro.broker_id,
            IntroRole.TARGET: intro.target_id,
        }[role]
        if viewer_id in (intro.requester_id, intro.declined_by_id):
            return intro.decline_reason
        return None

    @strawberry.field
    def created_at(self) -> dt.datetime:
        return self.view.intro.created_at

    @strawberry.field
    def forwarded_at(self) -> dt.datetime | None:
        return self.view.intro.forwarded_at

    @strawberry.field(description="When it was accepted or declined.")
    def responded_at(self) -> dt.datetime | None:
        return self.view.intro.responded_at

    @strawberry.field(description="When it lapses unless answered.")
    def expires_at(self) -> dt.datetime:
        return self.view.intro.expires_at


async def _member(info: Info, member_id: int) -> Member | None:
    profile = await info.context.loaders.profiles.load(member_id)
    return Member.of(profile) if profile else None


async def _visible_intros(info: Info, ids: list[int]) -> dict[int, IntroView]:
    viewer_id = await info.context.viewer_id()
    async with info.context.store.reader() as session:
        return await intros.intros_by_ids(
            session, viewer_id=viewer_id, intro_ids=ids, now=info.context.store.clock()
        )


async def intro(info: Info, id: strawberry.ID) -> Intro | None:
    intro_id = argument_id(id, "Intro", argument="id")
    found = await _visible_intros(info, [intro_id])
    return Intro.of(found[intro_id]) if intro_id in found else None


async def viewer_intros(
    info: Info,
    role: IntroRole | None = None,
    status: list[IntroStatus] | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Intro]:
    viewer_id = await info.context.require_viewer()
    wanted = window(first, after, last, before)
    limit, offset = wanted.limit, wanted.offset
    async with info.context.store.reader() as session:
        page = await intros.viewer_intros(
            session,
            viewer_id=viewer_id,
            role=role,
            statuses=status or [],
            now=info.context.store.clock(),
            limit=limit,
            offset=offset,
        )
    return offset_connection(
        [Intro.of(view) for view in page.intros],
        offset=offset,
        has_next=page.has_next,
        backward=wanted.backward,
        total=page.total,
    )


NODES = (Intro,)


@strawberry.type
class Query:
    intro: Intro | None = strawberry.field(
        resolver=intro, description="An intro by id, if the viewer is one of its parties."
    )
    intros: Connection[Intro] = strawberry.field(
        resolver=viewer_intros,
        description="The viewer's intros, newest first: in one role or any, and in the given "
        "statuses (all when none are given).",
    )


@strawberry.input
class RequestIntroInput:
    target_id: strawberry.ID = strawberry.field(description="The member you want to meet.")
    broker_id: strawberry.ID = strawberry.field(
        description="A connection of yours who is connected to them too."
    )
    message: str = strawberry.field(
        description="1–1000 characters, for the broker and then the target."
    )
    help_request_id: strawberry.ID | None = strawberry.field(
        default=None, description="The help request this intro is for, if any."
    )


@strawberry.input
class ForwardIntroInput:
    intro_id: strawberry.ID
    note: str | None = strawberry.field(
        default=None, description="Up to 1000 characters for the target, from you."
    )


@strawberry.input
class AcceptIntroInput:
    intro_id: strawberry.ID


@strawberry.input
class DeclineIntroInput:
    intro_id: strawberry.ID
    reason: str | None = strawberry.field(
        default=None, description="Up to 1000 characters; shown to nobody else."
    )


@strawberry.type
class RequestIntroPayload:
    intro: Intro | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ForwardIntroPayload:
    intro: Intro | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AcceptIntroPayload:
    intro: Intro | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeclineIntroPayload:
    intro: Intro | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _request_ids(data: RequestIntroInput) -> tuple[int, int, int | None] | list[UserError]:
    target = input_id(data.target_id, "Member", field="targetId")
    broker = input_id(data.broker_id, "Member", field="brokerId")
    help_request = (
        None
        if data.help_request_id is None
        else input_id(data.help_request_id, "HelpRequest", field="helpRequestId")
    )
    if isinstance(target, int) and isinstance(broker, int) and not isinstance(help_request, list):
        return target, broker, help_request
    return [
        error
        for parsed in (target, broker, help_request)
        if isinstance(parsed, list)
        for error in parsed
    ]


def _as_seen_by(info: Info, actor_id: int, row: IntroRow) -> Intro | None:
    view = intros.seen_by(row, actor_id, info.context.store.clock())
    return Intro.of(view) if view else None


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Ask a connection to introduce you to one of theirs.")
    async def request_intro(self, info: Info, input: RequestIntroInput) -> RequestIntroPayload:
        actor_id = await info.context.require_viewer()
        ids = _request_ids(input)
        if isinstance(ids, list):
            return RequestIntroPayload(user_errors=ids)
        target_id, broker_id, help_request_id = ids
        result = await mutate(
            info,
            lambda tx: intros.request_intro(
                tx,
                actor_id=actor_id,
                target_id=target_id,
                broker_id=broker_id,
                message=input.message,
                help_request_id=help_request_id,
                weekly_limit=info.context.runtime.settings.intro_requests_per_broker_per_week,
            ),
        )
        if isinstance(result, list):
            return RequestIntroPayload(user_errors=result)
        return RequestIntroPayload(intro=_as_seen_by(info, actor_id, result))

    @strawberry.mutation(description="As the broker, pass an intro on to the member it is for.")
    async def forward_intro(self, info: Info, input: ForwardIntroInput) -> ForwardIntroPayload:
        actor_id = await info.context.require_viewer()
        intro_id = input_id(input.intro_id, "Intro", field="introId")
        if isinstance(intro_id, list):
            return ForwardIntroPayload(user_errors=intro_id)
        result = await mutate(
            info,
            lambda tx: intros.forward_intro(
                tx, actor_id=actor_id, intro_id=intro_id, note=input.note
            ),
        )
        if isinstance(result, list):
            return ForwardIntroPayload(user_errors=result)
        return ForwardIntroPayload(intro=_as_seen_by(info, actor_id, result))

    @strawberry.mutation(
        description="As the member being introduced, accept: you and the requester connect."
    )
    async def accept_intro(self, info: Info, input: AcceptIntroInput) -> AcceptIntroPayload:
        actor_id = await info.context.require_viewer()
        intro_id = input_id(input.intro_id, "Intro", field="introId")
        if isinstance(intro_id, list):
            return AcceptIntroPayload(user_errors=intro_id)
        result = await mutate(
            info,
            lambda tx: intros.accept_intro(
                tx,
                actor_id=actor_id,
                intro_id=intro_id,
                policy=info.context.runtime.ledger_policy,
            ),
        )
        if isinstance(result, list):
            return AcceptIntroPayload(user_errors=result)
        return AcceptIntroPayload(intro=_as_seen_by(info, actor_id, result))

    @strawberry.mutation(
        description="Decline an intro: the broker before forwarding it, the target after."
    )
    async def decline_intro(self, info: Info, input: DeclineIntroInput) -> DeclineIntroPayload:
        actor_id = await info.context.require_viewer()
        intro_id = input_id(input.intro_id, "Intro", field="introId")
        if isinstance(intro_id, list):
            return DeclineIntroPayload(user_errors=intro_id)
        result = await mutate(
            info,
            lambda tx: intros.decline_intro(
                tx, actor_id=actor_id, intro_id=intro_id, reason=input.reason
            ),
        )
        if isinstance(result, list):
            return DeclineIntroPayload(user_errors=result)
        return DeclineIntroPayload(intro=_as_seen_by(info, actor_id, result))
