"""suggestedAudience: whom of the author's network to show a help request to, and why."""

from __future__ import annotations

import strawberry
from strawberry import relay

from api.context import Info
from api.errors import BadArgument, Forbidden, NotFound
from api.graphql.ids import argument_id
from api.graphql.members import Member
from domain.errors import Code, DomainError
from domain.marketplace import audience
from domain.marketplace.audience import AudienceSuggestion as SuggestionView
from domain.marketplace.audience import ReasonCode

strawberry.enum(
    ReasonCode,
    name="AudienceReasonCode",
    description="Why a member is suggested: a request tag among their skills (`SKILL_MATCH`), "
    "their gives (`GIVES`) or their active goals (`GOAL`); a strong tie with the author "
    "(`STRONG_TIE`); an active circle shared with the author (`SHARED_CIRCLE`); reachable "
    "through a mutual connection (`VIA`, 2nd degree).",
)

# Which type a reason's subject is, by its code.
_SUBJECT_TYPES = {ReasonCode.SHARED_CIRCLE: "Circle", ReasonCode.VIA: "Member"}


@strawberry.type(description="One reason a member is suggested.")
class AudienceReason:
    code: ReasonCode
    label: str = strawberry.field(
        description="The tag's label, the circle's name, the broker's handle, or the tie's "
        "strength (two decimals)."
    )
    subject: strawberry.ID | None = strawberry.field(
        description="The circle (`SHARED_CIRCLE`) or the broker (`VIA`); null otherwise."
    )


@strawberry.type(description="A member of the author's network to show a help request to.")
class AudienceSuggestion:
    member: Member
    score: float = strawberry.field(description="Higher is a better fit; only for ordering.")
    reasons: list[AudienceReason]


def _reasons(view: SuggestionView) -> list[AudienceReason]:
    return [
        AudienceReason(
            code=reason.code,
            label=reason.label,
            subject=strawberry.ID(relay.to_base64(_SUBJECT_TYPES[reason.code], reason.subject_id))
            if reason.subject_id is not None and reason.code in _SUBJECT_TYPES
            else None,
        )
        for reason in view.reasons
    ]


async def suggested_audience(
    info: Info, help_request_id: strawberry.ID, first: int | None = audience.FIRST
) -> list[AudienceSuggestion]:
    viewer_id = await info.context.require_viewer()
    request_id = argument_id(help_request_id, "HelpRequest", argument="helpRequestId")
    try:
        async with info.context.store.reader() as session:
            found = await audience.suggest_audience(
                session,
                author_id=viewer_id,
                help_request_id=request_id,
                now=info.context.store.clock(),
                limit=audience.FIRST if first is None else first,
            )
    except DomainError as error:
        if error.code is Code.NOT_FOUND:
            raise NotFound(error.message) from None
        if error.code is Code.FORBIDDEN:
            raise Forbidden(error.message) from None
        argument = "first" if error.field == ("first",) else "helpRequestId"
        raise BadArgument(f"`{argument}`: {error.message}", argument=argument) from None
    loaded = await info.context.loaders.profiles.load_many([s.member_id for s in found])
    members = {profile.member.id: Member.of(profile) for profile in loaded if profile}
    return [
        AudienceSuggestion(member=members[s.member_id], score=s.score, reasons=_reasons(s))
        for s in found
        if s.member_id in members
    ]


@strawberry.type
class Query:
    suggested_audience: list[AudienceSuggestion] = strawberry.field(
        resolver=suggested_audience,
        description="For the author of a help request only: whom of their network (1st and "
        "2nd degree) to show it to, best first, and why — members whose skills, gives or "
        "active goals match its tags, weighed by tie strength, shared circles and how much "
        "of their weekly help budget is left (members over it are left out). NOT_FOUND for "
        "a request the viewer may not see, FORBIDDEN for someone else's. `first` 1–50.",
    )
