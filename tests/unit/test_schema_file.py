"""``schema.graphql`` is what the code exports: mobile clients build against the file."""

from __future__ import annotations

from pathlib import Path

from api.schema import schema_sdl

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_schema_matches_the_code():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema_sdl(), (
        "schema.graphql is stale: run `make schema` and commit the result"
    )


def test_the_contract_names_are_in_the_schema():
    sdl = schema_sdl()
    for name in (
        "viewer: Member",
        "node(",
        "nodes(",
        "member(handle: String!): Member",
        "searchMembers(",
        "signUp(input: SignUpInput!): AuthPayload!",
        "logIn(input: LogInInput!): AuthPayload!",
        "refreshSession(input: RefreshSessionInput!): AuthPayload!",
        "logOut(input: LogOutInput!): LogOutPayload!",
        "updateProfile(input: UpdateProfileInput!): UpdateProfilePayload!",
        "addGive(input: AddGiveInput!): AddGivePayload!",
        "addGoal(input: AddGoalInput!): AddGoalPayload!",
        "requestConnection(input: RequestConnectionInput!): RequestConnectionPayload!",
        "respondToConnection(input: RespondToConnectionInput!): RespondToConnectionPayload!",
        "removeConnection(input: RemoveConnectionInput!): RemoveConnectionPayload!",
        "requestIntro(input: RequestIntroInput!): RequestIntroPayload!",
        "forwardIntro(input: ForwardIntroInput!): ForwardIntroPayload!",
        "acceptIntro(input: AcceptIntroInput!): AcceptIntroPayload!",
        "declineIntro(input: DeclineIntroInput!): DeclineIntroPayload!",
        "createCircle(input: CreateCircleInput!): CreateCirclePayload!",
        "joinCircle(input: JoinCircleInput!): JoinCirclePayload!",
        "introPaths(first: Int = 5, maxHops: Int = 3, to: ID!): [IntroPath!]!",
        "circles(after: String = null, before: String = null, first: Int = null, "
        "last: Int = null, query: String = null)",
        "enum ErrorCode",
        "type UserError",
    ):
        assert name in sdl, name
