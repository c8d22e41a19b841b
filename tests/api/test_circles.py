"""Circles through GraphQL: creating, joining, asking, inviting, roles, leaving, finding."""

from __future__ import annotations

import base64

from sqlalchemy import func, select
from strawberry.relay import GlobalID

from domain.events import OutboxEvent
from domain.network import relationships
from domain.network.models import CircleMembership, CircleTag
from tests.api.graphql import gql, sign_up

CIRCLE = """
  id slug name description visibility memberCount viewerRole viewerStatus
  tags { slug label }
"""
NODE = f"""
query($id: ID!) {{
  node(id: $id) {{
    ... on Circle {{
      {CIRCLE}
      members {{ totalCount edges {{ node {{ role joinedAt member {{ handle }} }} }} }}
      joinRequests {{ totalCount edges {{ node {{ requestedAt member {{ handle }} }} }} }}
    }}
  }}
}}
"""
SEARCH = f"""
query($query: String, $first: Int, $after: String) {{
  circles(query: $query, first: $first, after: $after) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ {CIRCLE} }} }}
  }}
}}
"""
SUGGESTED = """
query($first: Int) {
  suggestedCircles(first: $first) { score circle { slug } reasons { code label count } }
}
"""
UPDATE_PROFILE = """
mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { userErrors { code } } }
"""
BLOCK = """
mutation($id: ID!) { blockMember(input: {memberId: $id}) { userErrors { code } } }
"""


class Member:
    def __init__(self, handle: str, payload: dict) -> None:
        self.handle = handle
        self.token = payload["accessToken"]
        self.id = payload["viewer"]["id"]
        self.pk = int(GlobalID.from_id(self.id).node_id)


async def make_member(client, handle, *, skills=(), interests=()):
    member = Member(handle, await sign_up(client, handle))
    if skills or interests:
        body = await gql(
            client,
            UPDATE_PROFILE,
            {"input": {"skills": list(skills), "interests": list(interests)}},
            token=member.token,
        )
        assert body["data"]["updateProfile"]["userErrors"] == []
    return member


async def command(client, mutation, member, /, **fields):
    """Send one circle mutation as ``member``; return its payload."""
    input_type = mutation[0].upper() + mutation[1:] + "Input"
    document = f"""
    mutation($input: {input_type}!) {{
      {mutation}(input: $input) {{ circle {{ {CIRCLE} }} userErrors {{ field code message }} }}
    }}
    """
    body = await gql(client, document, {"input": fields}, token=member and member.token)
    assert "errors" not in body, body
    return body["data"][mutation]


async def create(client, owner, name, *, visibility="OPEN", tags=(), description=None):
    payload = await command(
        client,
        "createCircle",
        owner,
        name=name,
        visibility=visibility,
        tags=list(tags),
        description=description,
    )
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["circle"]


async def ok(client, mutation, member, /, **fields):
    payload = await command(client, mutation, member, **fields)
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["circle"]


async def refused(client, mutation, member, /, **fields):
    """Send a mutation that must be refused; return its one error's field and code."""
    payload = await command(client, mutation, member, **fields)
    assert payload["circle"] is None
    [error] = payload["userErrors"]
    return error["field"], error["code"]


async def seen(client, circle_id, member=None):
    body = await gql(client, NODE, {"id": circle_id}, token=member and member.token)
    assert "errors" not in body, body
    return body["data"]["node"]


def handles(connection):
    return [edge["node"]["member"]["handle"] for edge in connection["edges"]]


async def block(client, blocker, blocked):
    body = await gql(client, BLOCK, {"id": blocked.id}, token=blocker.token)
    assert body["data"]["blockMember"]["userErrors"] == [], body


async def set_profile_visibility(client, member, visibility):
    body = await gql(
        client,
        UPDATE_PROFILE,
        {"input": {"privacy": {"profile": visibility}}},
        token=member.token,
    )
    assert body["data"]["updateProfile"]["userErrors"] == [], body


async def circle_events(store):
    async with store.reader() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type.like("circle.%")).order_by(OutboxEvent.id)
        )
        return [(event.type, event.actor_id, event.payload) for event in rows]


async def state(client, store, circle_id, owner):
    """Everything a refused command must leave as it was: the circle as its owner sees it,
    and the circle events so far."""
    return await seen(client, circle_id, owner), await circle_events(store)


async def test_a_new_circle_is_owned_by_its_creator_and_tagged(client, store):
    ada = await make_member(client, "ada")

    circle = await create(
        client,
        ada,
        "SaaS Founders",
        tags=["SaaS", "Search Engine Optimisation"],
        description="Bootstrapped founders",
    )

    assert circle["slug"] == "saas-founders"
    assert circle["tags"] == [
        {"slug": "saas", "label": "SaaS"},
        {"slug": "seo", "label": "Search Engine Optimisation"},
    ]
    assert circle["memberCount"] == 1
    assert (circle["viewerRole"], circle["viewerStatus"]) == ("OWNER", "ACTIVE")
    assert handles((await seen(client, circle["id"], ada))["members"]) == ["ada"]
    assert await circle_events(store) == [
        ("circle.created", ada.pk, {"circle_id": _pk(circle), "owner_id": ada.pk})
    ]


async def test_circles_with_one_name_get_numbered_slugs(client):
    ada = await make_member(client, "ada")
    slugs = [(await create(client, ada, "SaaS Founders!"))["slug"] for _ in range(3)]
    assert slugs == ["saas-founders", "saas-founders-2", "saas-founders-3"]


async def test_a_circle_needs_a_name_and_few_enough_tags(client, store):
    ada = await make_member(client, "ada")

    payload = await command(client, "createCircle", ada, name=" ", tags=[])
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "name"], "INVALID_INPUT")
    ]
    tags = [f"topic {n}" for n in range(11)]
    payload = await command(client, "createCircle", ada, name="Too many", tags=tags)
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "tags"], "LIMIT_EXCEEDED")
    ]
    body = await gql(client, SEARCH, {})
    assert body["data"]["circles"]["totalCount"] == 0
    assert await circle_events(store) == []


async def test_signing_in_is_needed_to_create_or_join(client):
    ada = await make_member(client, "ada")
    circle = await create(client, ada, "Growth")
    for name, fields in (
        ("createCircle", {"name": "Anonymous"}),
        ("joinCircle", {"circleId": circle["id"]}),
    ):
        body = await gql(
            client,
            f"mutation($input: {name[0].upper() + name[1:]}Input!) "
            f"{{ {name}(input: $input) {{ userErrors {{ code }} }} }}",
            {"input": fields},
        )
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_anyone_joins_an_open_circle_once(client, store):
    ada, bob = await make_member(client, "ada"), await make_member(client, "bob")
    circle = await create(client, ada, "Growth")

    joined = await ok(client, "joinCircle", bob, circleId=circle["id"])

    assert (joined["memberCount"], joined["viewerRole"], joined["viewerStatus"]) == (
        2,
        "MEMBER",
        "ACTIVE",
    )
    assert handles((await seen(client, circle["id"]))["members"]) == ["ada", "bob"]
    before = await state(client, store, circle["id"], ada)
    assert await refused(client, "joinCircle", bob, circleId=circle["id"]) == (
        ["input", "circleId"],
        "ALREADY_EXISTS",
    )
    assert await state(client, store, circle["id"], ada) == before
    assert before[1][-1] == (
        "circle.joined",
        bob.pk,
        {"circle_id": _pk(circle), "member_id": bob.pk},
    )


async def test_an_on_request_circle_lets_in_whom_its_moderators_approve(client, store):
    ada, bob, cyd, dan = [await make_member(client, h) for h in ("ada", "bob", "cyd", "dan")]
    circle = await create(client, ada, "Angels", visibility="ON_REQUEST")

    asked = await ok(client, "joinCircle", bob, circleId=circle["id"])
    assert (asked["viewerStatus"], asked["viewerRole"], asked["memberCount"]) == (
        "REQUESTED",
        None,
        1,
    )
    assert handles((await seen(client, circle["id"], ada))["joinRequests"]) == ["bob"]
    # only those who run the circle see who asked
    assert (await seen(client, circle["id"], bob))["joinRequests"] is None
    assert (await seen(client, circle["id"]))["joinRequests"] is None
    assert await refused(client, "joinCircle", bob, circleId=circle["id"]) == (
        ["input", "circleId"],
        "ALREADY_EXISTS",
    )

    before = await state(client, store, circle["id"], ada)
    for actor in (bob, cyd):
        assert await refused(
            client, "approveCircleRequest", actor, circleId=circle["id"], memberId=bob.id
        ) == (["input", "circleId"], "FORBIDDEN")
        assert await refused(
            client, "declineCircleRequest", actor, circleId=circle["id"], memberId=bob.id
        ) == (["input", "circleId"], "FORBIDDEN")
    assert await refused(
        client, "approveCircleRequest", ada, circleId=circle["id"], memberId=cyd.id
    ) == (["input", "memberId"], "NOT_FOUND")
    assert await state(client, store, circle["id"], ada) == before

    approved = await ok(client, "approveCircleRequest", ada, circleId=circle["id"], memberId=bob.id)
    assert approved["memberCount"] == 2
    await ok(client, "joinCircle", dan, circleId=circle["id"])
    declined = await ok(client, "declineCircleRequest", ada, circleId=circle["id"], memberId=dan.id)
    assert declined["memberCount"] == 2

    assert handles((await seen(client, circle["id"]))["members"]) == ["ada", "bob"]
    assert (await seen(client, circle["id"], ada))["joinRequests"]["totalCount"] == 0
    assert (await seen(client, circle["id"], dan))["viewerStatus"] is None
    assert await refused(
        client, "approveCircleRequest", ada, circleId=circle["id"], memberId=dan.id
    ) == (["input", "memberId"], "NOT_FOUND")
    assert [(kind, actor) for kind, actor, _ in (await circle_events(store))[1:]] == [
        ("circle.join_requested", bob.pk),
        ("circle.joined", ada.pk),
        ("circle.join_requested", dan.pk),
        ("circle.request_declined", ada.pk),
    ]


async def test_a_private_circle_is_hidden_from_everyone_not_in_it(client, store):
    ada, eve = await make_member(client, "ada"), await make_member(client, "eve")
    circle = await create(client, ada, "Secret Board", visibility="PRIVATE", tags=["boards"])

    for viewer in (None, eve):
        assert await seen(client, circle["id"], viewer) is None
        body = await gql(client, SEARCH, {"query": "secret"}, token=viewer and viewer.token)
        assert body["data"]["circles"]["totalCount"] == 0
        body = await gql(client, SEARCH, {}, token=viewer and viewer.token)
        assert body["data"]["circles"]["edges"] == []
    before = await state(client, store, circle["id"], ada)
    assert await refused(client, "joinCircle", eve, circleId=circle["id"]) == (
        ["input", "circleId"],
        "NOT_FOUND",
    )
    assert await refused(client, "leaveCircle", eve, circleId=circle["id"]) == (
        ["input", "circleId"],
        "NOT_FOUND",
    )
    assert await state(client, store, circle["id"], ada) == before

    found = await gql(client, SEARCH, {"query": "secret"}, token=ada.token)
    assert [edge["node"]["slug"] for edge in found["data"]["circles"]["edges"]] == ["secret-board"]


async def test_an_invited_member_sees_a_private_circle_and_may_join_it(client, store):
    ada, bob = await make_member(client, "ada"), await make_member(client, "bob")
    circle = await create(client, ada, "Secret Board", visibility="PRIVATE")

    invited = await ok(client, "inviteToCircle", ada, circleId=circle["id"], memberId=bob.id)
    assert invited["memberCount"] == 1

    as_bob = await seen(client, circle["id"], bob)
    assert (as_bob["viewerStatus"], as_bob["viewerRole"]) == ("INVITED", None)
    body = await gql(client, SEARCH, {"query": "board"}, token=bob.token)
    assert body["data"]["circles"]["totalCount"] == 1
    assert await refused(client, "inviteToCircle", ada, circleId=circle["id"], memberId=bob.id) == (
        ["input", "memberId"],
        "ALREADY_EXISTS",
    )

    joined = await ok(client, "joinCircle", bob, circleId=circle["id"])
    assert (joined["viewerStatus"], joined["viewerRole"], joined["memberCount"]) == (
        "ACTIVE",
        "MEMBER",
        2,
    )
    assert [(kind, actor) for kind, actor, _ in await circle_events(store)] == [
        ("circle.created", ada.pk),
        ("circle.invited", ada.pk),
        ("circle.joined", bob.pk),
    ]


async def test_only_those_who_run_a_circle_invite_and_never_across_a_block(client, store):
    ada, bob, cyd, eve = [await make_member(client, h) for h in ("ada", "bob", "cyd", "eve")]
    closed = await create(client, ada, "Secret Board", visibility="PRIVATE")
    await ok(client, "inviteToCircle", ada, circleId=closed["id"], memberId=bob.id)
    await ok(client, "joinCircle", bob, circleId=closed["id"])
    open_circle = await create(client, ada, "Open House")
    async with store.transaction() as tx:
        await relationships.block_member(tx, actor_id=eve.pk, member_id=ada.pk)
        await tx.commit()

    before = await state(client, store, closed["id"], ada)
    cases = [
        (bob, closed, cyd.id, (["input", "circleId"], "FORBIDDEN")),  # a plain member
        (cyd, closed, bob.id, (["input", "circleId"], "NOT_FOUND")),  # a stranger
        (ada, closed, ada.id, (["input", "memberId"], "INVALID_INPUT")),  # oneself
        (ada, closed, eve.id, (["input", "memberId"], "FORBIDDEN")),  # blocked
        (ada, closed, _global("Member", 999_999), (["input", "memberId"], "NOT_FOUND")),
        (ada, closed, closed["id"], (["input", "memberId"], "INVALID_INPUT")),  # not a member id
        (ada, open_circle, cyd.id, (["input", "circleId"], "INVALID_TRANSITION")),
    ]
    for actor, circle, member_id, expected in cases:
        result = await refused(
            client, "inviteToCircle", actor, circleId=circle["id"], memberId=member_id
        )
        assert result == expected, (actor.handle, member_id)
    assert await state(client, store, closed["id"], ada) == before
    assert (await seen(client, closed["id"], cyd)) is None


async def test_a_malformed_id_is_an_input_error_on_its_field(client):
    ada = await make_member(client, "ada")
    payload = await command(
        client, "inviteToCircle", ada, circleId="garbage", memberId=_global("Circle", 1)
    )
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "circleId"], "INVALID_INPUT"),
        (["input", "memberId"], "INVALID_INPUT"),
    ]
    assert await refused(client, "joinCircle", ada, circleId=ada.id) == (
        ["input", "circleId"],
        "INVALID_INPUT",
    )
    assert await refused(client, "joinCircle", ada, circleId=_global("Circle", 424242)) == (
        ["input", "circleId"],
        "NOT_FOUND",
    )


async def test_the_owner_names_moderators_and_may_hand_the_circle_over(client, store):
    ada, bob, cyd, dan = [await make_member(client, h) for h in ("ada", "bob", "cyd", "dan")]
    circle = await create(client, ada, "Angels", visibility="ON_REQUEST")
    for member in (bob, cyd):
        await ok(client, "joinCircle", member, circleId=circle["id"])
        await ok(client, "approveCircleRequest", ada, circleId=circle["id"], memberId=member.id)

    await ok(client, "setCircleRole", ada, circleId=circle["id"], memberId=bob.id, role="MODERATOR")
    # a moderator lets people in …
    await ok(client, "joinCircle", dan, circleId=circle["id"])
    await ok(client, "approveCircleRequest", bob, circleId=circle["id"], memberId=dan.id)
    # … but does not change roles or remove the owner
    before = await state(client, store, circle["id"], ada)
    assert await refused(
        client, "setCircleRole", bob, circleId=circle["id"], memberId=cyd.id, role="MODERATOR"
    ) == (["input", "circleId"], "FORBIDDEN")
    assert await refused(
        client, "removeFromCircle", bob, circleId=circle["id"], memberId=ada.id
    ) == (["input", "memberId"], "FORBIDDEN")
    assert await refused(
        client, "setCircleRole", ada, circleId=circle["id"], memberId=ada.id, role="MEMBER"
    ) == (["input", "memberId"], "INVALID_TRANSITION")
    assert await state(client, store, circle["id"], ada) == before

    members = (await seen(client, circle["id"]))["members"]
    assert [
        (edge["node"]["member"]["handle"], edge["node"]["role"]) for edge in members["edges"]
    ] == [
        ("ada", "OWNER"),
        ("bob", "MODERATOR"),
        ("cyd", "MEMBER"),
        ("dan", "MEMBER"),
    ]

    handed = await ok(
        client, "setCircleRole", ada, circleId=circle["id"], memberId=cyd.id, role="OWNER"
    )
    assert handed["viewerRole"] == "MODERATOR"
    assert (await seen(client, circle["id"], cyd))["viewerRole"] == "OWNER"
    assert [
        (edge["node"]["member"]["handle"], edge["node"]["role"])
        for edge in (await seen(client, circle["id"]))["members"]["edges"]
    ] == [("cyd", "OWNER"), ("ada", "MODERATOR"), ("bob", "MODERATOR"), ("dan", "MEMBER")]
    role_events = [
        (actor, payload["member_id"], payload["role"])
        for kind, actor, payload in await circle_events(store)
        if kind == "circle.role_changed"
    ]
    assert role_events == [
        (ada.pk, bob.pk, "MODERATOR"),
        (ada.pk, cyd.pk, "OWNER"),
        (ada.pk, ada.pk, "MODERATOR"),
    ]


async def test_moderators_remove_members_but_only_the_owner_removes_moderators(client, store):
    ada, bob, cyd, dan = [await make_member(client, h) for h in ("ada", "bob", "cyd", "dan")]
    circle = await create(client, ada, "Growth")
    for member in (bob, cyd, dan):
        await ok(client, "joinCircle", member, circleId=circle["id"])
    for member in (bob, cyd):
        await ok(
            client,
            "setCircleRole",
            ada,
            circleId=circle["id"],
            memberId=member.id,
            role="MODERATOR",
        )

    before = await state(client, store, circle["id"], ada)
    assert await refused(
        client, "removeFromCircle", bob, circleId=circle["id"], memberId=cyd.id
    ) == (["input", "memberId"], "FORBIDDEN")
    assert await refused(
        client, "removeFromCircle", dan, circleId=circle["id"], memberId=bob.id
    ) == (["input", "circleId"], "FORBIDDEN")
    assert await state(client, store, circle["id"], ada) == before

    removed = await ok(client, "removeFromCircle", bob, circleId=circle["id"], memberId=dan.id)
    assert removed["memberCount"] == 3
    await ok(client, "removeFromCircle", ada, circleId=circle["id"], memberId=cyd.id)
    assert handles((await seen(client, circle["id"]))["members"]) == ["ada", "bob"]
    assert (await seen(client, circle["id"], dan))["viewerStatus"] is None
    assert [
        (actor, payload["member_id"])
        for kind, actor, payload in await circle_events(store)
        if kind == "circle.member_removed"
    ] == [(bob.pk, dan.pk), (ada.pk, cyd.pk)]
    # removed from an open circle, one may come back
    assert (await ok(client, "joinCircle", dan, circleId=circle["id"]))["memberCount"] == 3


async def test_members_leave_and_the_last_to_leave_deletes_the_circle(client, store):
    ada, bob = await make_member(client, "ada"), await make_member(client, "bob")
    circle = await create(client, ada, "Growth", tags=["growth"])
    await ok(client, "joinCircle", bob, circleId=circle["id"])

    before = await state(client, store, circle["id"], ada)
    assert await refused(client, "leaveCircle", ada, circleId=circle["id"]) == (
        ["input", "circleId"],
        "INVALID_TRANSITION",
    )
    assert await state(client, store, circle["id"], ada) == before

    left = await ok(client, "leaveCircle", bob, circleId=circle["id"])
    assert (left["memberCount"], left["viewerStatus"]) == (1, None)
    assert await refused(client, "leaveCircle", bob, circleId=circle["id"]) == (
        ["input", "circleId"],
        "NOT_FOUND",
    )
    # the owner, last, leaves: the circle goes with them
    assert await ok(client, "leaveCircle", ada, circleId=circle["id"]) is None
    assert [
        (kind, actor, payload) for kind, actor, payload in (await circle_events(store))[-3:]
    ] == [
        ("circle.left", bob.pk, {"circle_id": _pk(circle), "member_id": bob.pk}),
        ("circle.left", ada.pk, {"circle_id": _pk(circle), "member_id": ada.pk}),
        ("circle.deleted", ada.pk, {"circle_id": _pk(circle)}),
    ]
    for viewer in (None, ada, bob):
        assert await seen(client, circle["id"], viewer) is None
    body = await gql(client, SEARCH, {"query": "growth"})
    assert body["data"]["circles"]["totalCount"] == 0
    # no stranger takes an empty circle over: there is none
    for member in (bob, ada):
        assert await refused(client, "joinCircle", member, circleId=circle["id"]) == (
            ["input", "circleId"],
            "NOT_FOUND",
        )
    # its name is free again
    assert (await create(client, bob, "Growth"))["slug"] == "growth"


async def test_the_last_member_leaving_drops_pending_requests_and_invitations(client, store):
    ada, bob, cyd = [await make_member(client, h) for h in ("ada", "bob", "cyd")]
    angels = await create(client, ada, "Angels", visibility="ON_REQUEST")
    board = await create(client, ada, "Board", visibility="PRIVATE")
    await ok(client, "joinCircle", bob, circleId=angels["id"])
    await ok(client, "inviteToCircle", ada, circleId=angels["id"], memberId=cyd.id)
    await ok(client, "inviteToCircle", ada, circleId=board["id"], memberId=bob.id)
    # pending requests and invitations are not members: the owner is still the last one
    assert (await seen(client, angels["id"], ada))["joinRequests"]["totalCount"] == 1

    for circle in (angels, board):
        assert await ok(client, "leaveCircle", ada, circleId=circle["id"]) is None
    for viewer in (ada, bob, cyd):
        for circle in (angels, board):
            assert await seen(client, circle["id"], viewer) is None
        body = await gql(client, SEARCH, {}, token=viewer.token)
        assert body["data"]["circles"]["totalCount"] == 0
    # an invitation to a deleted circle is no way in, nor is a request answered by no one
    assert await refused(client, "joinCircle", bob, circleId=board["id"]) == (
        ["input", "circleId"],
        "NOT_FOUND",
    )
    assert await refused(client, "leaveCircle", bob, circleId=angels["id"]) == (
        ["input", "circleId"],
        "NOT_FOUND",
    )
    async with store.reader() as session:
        left = await session.scalar(select(func.count()).select_from(CircleMembership))
        tagged = await session.scalar(select(func.count()).select_from(CircleTag))
    assert (left, tagged) == (0, 0)
    assert [kind for kind, _, _ in await circle_events(store)][-4:] == [
        "circle.left",
        "circle.deleted",
        "circle.left",
        "circle.deleted",
    ]


async def test_no_one_joins_or_asks_to_join_across_a_block_with_the_owner(client, store):
    ada, eve, fay = [await make_member(client, h) for h in ("ada", "eve", "fay")]
    open_circle = await create(client, ada, "Open House")
    on_request = await create(client, ada, "Angels", visibility="ON_REQUEST")
    await block(client, ada, eve)  # the owner blocked eve
    await block(client, fay, ada)  # fay blocked the owner

    for circle in (open_circle, on_request):
        before = await state(client, store, circle["id"], ada)
        for member in (eve, fay):
            assert await refused(client, "joinCircle", member, circleId=circle["id"]) == (
                ["input", "circleId"],
                "FORBIDDEN",
            ), (circle["slug"], member.handle)
        after = await state(client, store, circle["id"], ada)
        assert after == before
        as_owner = after[0]
        assert handles(as_owner["members"]) == ["ada"]
        assert as_owner["memberCount"] == 1
        assert as_owner["joinRequests"]["totalCount"] == 0
        for member in (eve, fay):
            assert (await seen(client, circle["id"], member))["viewerStatus"] is None


async def test_no_one_is_let_in_or_invited_across_a_block_with_the_owner(client, store):
    ada, bob, eve, fay, gus = [
        await make_member(client, h) for h in ("ada", "bob", "eve", "fay", "gus")
    ]
    circle = await create(client, ada, "Angels", visibility="ON_REQUEST")
    await ok(client, "joinCircle", bob, circleId=circle["id"])
    await ok(client, "approveCircleRequest", ada, circleId=circle["id"], memberId=bob.id)
    await ok(client, "setCircleRole", ada, circleId=circle["id"], memberId=bob.id, role="MODERATOR")
    # eve and fay ask, and gus is invited, before any block
    for member in (eve, fay):
        await ok(client, "joinCircle", member, circleId=circle["id"])
    await ok(client, "inviteToCircle", bob, circleId=circle["id"], memberId=gus.id)
    await block(client, ada, eve)
    await block(client, fay, ada)
    await block(client, ada, gus)
    hal = await make_member(client, "hal")
    await block(client, ada, hal)

    before = await state(client, store, circle["id"], ada)
    for runner in (ada, bob):
        for member in (eve, fay):
            assert await refused(
                client, "approveCircleRequest", runner, circleId=circle["id"], memberId=member.id
            ) == (["input", "memberId"], "FORBIDDEN"), (runner.handle, member.handle)
        # a moderator does not invite whom the owner blocked either
        assert await refused(
            client, "inviteToCircle", runner, circleId=circle["id"], memberId=hal.id
        ) == (["input", "memberId"], "FORBIDDEN")
    # an invitation made before the block is no way in after it
    assert await refused(client, "joinCircle", gus, circleId=circle["id"]) == (
        ["input", "circleId"],
        "FORBIDDEN",
    )
    assert await state(client, store, circle["id"], ada) == before
    assert handles(before[0]["members"]) == ["ada", "bob"]
    # the requests still pending may be turned down
    await ok(client, "declineCircleRequest", bob, circleId=circle["id"], memberId=eve.id)
    assert handles((await seen(client, circle["id"], ada))["joinRequests"]) == ["fay"]


async def test_a_blocker_in_a_circle_is_listed_to_the_blocked_only_if_public(client, store):
    ada, bob, cyd = [await make_member(client, h) for h in ("ada", "bob", "cyd")]
    async with store.transaction() as tx:
        # bob is in ada's network through cyd, and stays so after the block
        for member in (ada, bob):
            await relationships.connect(
                tx, member_id=member.pk, other_id=cyd.pk, context="test", introduced_by_id=None
            )
        await tx.commit()
    circle = await create(client, ada, "Growth")
    await ok(client, "joinCircle", bob, circleId=circle["id"])
    await set_profile_visibility(client, ada, "NETWORK")

    def listed(node):
        return handles(node["members"]), node["members"]["totalCount"]

    assert listed(await seen(client, circle["id"], bob)) == (["ada", "bob"], 2)
    assert listed(await seen(client, circle["id"])) == (["bob"], 1)

    await block(client, ada, bob)
    assert listed(await seen(client, circle["id"], bob)) == (["bob"], 1)
    # what the blocker shows everyone, the blocked member sees too
    await set_profile_visibility(client, ada, "EVERYONE")
    assert listed(await seen(client, circle["id"], bob)) == (["ada", "bob"], 2)
    # the blocker still sees the blocked member, by their own visibility
    assert listed(await seen(client, circle["id"], ada)) == (["ada", "bob"], 2)


async def test_circles_are_found_by_words_in_names_descriptions_and_tags(client):
    ada, bob = await make_member(client, "ada"), await make_member(client, "bob")
    await create(client, ada, "Python Founders", description="Builders of developer tools")
    await create(client, ada, "Cooking Club", tags=["Baking"])
    await create(client, ada, "Angels", visibility="ON_REQUEST", description="Early investors")
    await ok(client, "joinCircle", bob, circleId=(await create(client, ada, "Big Room"))["id"])

    async def slugs(query=None):
        body = await gql(client, SEARCH, {"query": query})
        assert "errors" not in body, body
        return [edge["node"]["slug"] for edge in body["data"]["circles"]["edges"]]

    assert await slugs("pyth") == ["python-founders"]
    assert await slugs("developer") == ["python-founders"]
    assert await slugs("baking") == ["cooking-club"]
    assert await slugs("invest") == ["angels"]
    assert await slugs("nothing matches this") == []
    # without words: the largest first
    assert (await slugs())[0] == "big-room"
    assert len(await slugs()) == 4


async def test_circle_pages_follow_each_other(client):
    ada = await make_member(client, "ada")
    for n in range(5):
        await create(client, ada, f"Circle {n}")
    seen_slugs, after = [], None
    while True:
        body = await gql(client, SEARCH, {"first": 2, "after": after})
        page = body["data"]["circles"]
        assert page["totalCount"] == 5
        seen_slugs += [edge["node"]["slug"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen_slugs) == [f"circle-{n}" for n in range(5)]


async def test_suggestions_rank_circles_by_connections_in_them_and_shared_tags(client, store):
    viewer = await make_member(client, "viv", skills=["Python"], interests=["SaaS"])
    friends = [await make_member(client, f"friend_{n}") for n in range(3)]
    owner = await make_member(client, "own")
    async with store.transaction() as tx:
        for friend in friends:
            await relationships.connect(
                tx, member_id=viewer.pk, other_id=friend.pk, context="test", introduced_by_id=None
            )
        await tx.commit()

    crowded = await create(client, owner, "Crowded")  # three connections
    mixed = await create(client, owner, "Mixed", tags=["python"])  # one connection, one tag
    tagged = await create(client, owner, "Tagged", tags=["saas", "python", "cooking"])  # two tags
    hidden = await create(client, owner, "Hidden", visibility="PRIVATE", tags=["python"])
    joined = await create(client, owner, "Joined", tags=["python"])
    await create(client, owner, "Unrelated", tags=["cooking"])
    for friend in friends:
        await ok(client, "joinCircle", friend, circleId=crowded["id"])
    await ok(client, "joinCircle", friends[0], circleId=mixed["id"])
    await ok(client, "inviteToCircle", owner, circleId=hidden["id"], memberId=friends[0].id)
    await ok(client, "joinCircle", viewer, circleId=joined["id"])
    assert tagged["slug"] == "tagged"

    body = await gql(client, SUGGESTED, {}, token=viewer.token)
    assert "errors" not in body, body
    suggestions = body["data"]["suggestedCircles"]
    assert [(s["circle"]["slug"], s["score"]) for s in suggestions] == [
        ("crowded", 3.0),
        ("mixed", 2.0),  # as good a match as "tagged", and larger
        ("tagged", 2.0),
    ]
    assert suggestions[0]["reasons"] == [
        {
            "code": "CONNECTIONS_IN_CIRCLE",
            "label": "3 of your connections are members",
            "count": 3,
        }
    ]
    assert suggestions[1]["reasons"] == [
        {"code": "CONNECTIONS_IN_CIRCLE", "label": "1 of your connections is a member", "count": 1},
        {"code": "SHARED_TAG", "label": "Python", "count": 1},
    ]
    assert suggestions[2]["reasons"] == [
        {"code": "SHARED_TAG", "label": "SaaS, Python", "count": 2}
    ]
    body = await gql(client, SUGGESTED, {"first": 1}, token=viewer.token)
    assert [s["circle"]["slug"] for s in body["data"]["suggestedCircles"]] == ["crowded"]
    body = await gql(client, SUGGESTED, {})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_page_of_circles_costs_the_same_statements_whatever_its_size(client, statements):
    ada, bob = await make_member(client, "ada"), await make_member(client, "bob")
    for n in range(50):
        circle = await create(client, ada, f"Circle {n:02}", tags=["python", f"topic {n}"])
        if n % 2:
            await ok(client, "joinCircle", bob, circleId=circle["id"])

    async def count(first: int) -> int:
        statements.count, statements.seen = 0, []
        statements.counting = True
        body = await gql(client, SEARCH, {"first": first}, token=bob.token)
        statements.counting = False
        edges = body["data"]["circles"]["edges"]
        assert len(edges) == first
        assert all(len(edge["node"]["tags"]) == 2 for edge in edges)
        roles.update(edge["node"]["viewerRole"] for edge in edges)
        return statements.count

    roles: set[str | None] = set()

    small, large = await count(5), await count(50)
    assert roles == {"MEMBER", None}
    assert small == large, statements.seen
    # the session check, the page, then the tags and the viewer's memberships of all at once
    assert large == 4, statements.seen


async def test_members_of_many_circles_load_in_one_batch(client, statements):
    ada, bob = await make_member(client, "ada"), await make_member(client, "bob")
    for n in range(6):
        circle = await create(client, ada, f"Circle {n}")
        await ok(client, "joinCircle", bob, circleId=circle["id"])
    document = """
    query($first: Int) {
      circles(first: $first) {
        edges {
          node { members(first: 1) { totalCount edges { node { role member { handle } } } } }
        }
      }
    }
    """

    async def count(first: int) -> int:
        statements.count, statements.seen = 0, []
        statements.counting = True
        body = await gql(client, document, {"first": first})
        statements.counting = False
        edges = body["data"]["circles"]["edges"]
        assert [
            (edge["node"]["members"]["totalCount"], handles(edge["node"]["members"]))
            for edge in edges
        ] == [(2, ["ada"])] * first
        return statements.count

    assert await count(2) == await count(6), statements.seen


def _global(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def _pk(circle: dict) -> int:
    return int(GlobalID.from_id(circle["id"]).node_id)
