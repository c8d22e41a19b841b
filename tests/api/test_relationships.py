"""Relationships through GraphQL: asking, answering, ending, blocking, and the network."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from domain.events import OutboxEvent
from domain.network import relationships
from tests.api.graphql import gql, sign_up

REQUEST = """
mutation($input: RequestConnectionInput!) {
  requestConnection(input: $input) {
    relationship { id status context viewerCanRespond member { handle } }
    userErrors { field code message }
  }
}
"""
RESPOND = """
mutation($input: RespondToConnectionInput!) {
  respondToConnection(input: $input) {
    relationship { id status connectedAt strength member { handle } }
    userErrors { field code message }
  }
}
"""
REMOVE = """
mutation($input: RemoveConnectionInput!) {
  removeConnection(input: $input) { relationship { status } userErrors { code message } }
}
"""
BLOCK = """
mutation($id: ID!) { blockMember(input: {memberId: $id}) { userErrors { code message } } }
"""
UNBLOCK = """
mutation($id: ID!) { unblockMember(input: {memberId: $id}) { userErrors { code message } } }
"""
NOTE = """
mutation($id: ID!, $note: String) {
  setRelationshipNote(input: {relationshipId: $id, note: $note}) {
    relationship { note } userErrors { code }
  }
}
"""
PROFILE = """
query($handle: String!) {
  member(handle: $handle) {
    handle headline location
    relationship { status context note member { handle } }
    connections(first: 10) { totalCount edges { node { handle } } }
  }
}
"""


async def member(client, handle):
    signed = await sign_up(client, handle)
    return {"id": signed["viewer"]["id"], "token": signed["accessToken"], "handle": handle}


async def request(client, actor, other, context="We met at PyCon"):
    body = await gql(
        client,
        REQUEST,
        {"input": {"memberId": other["id"], "context": context}},
        token=actor["token"],
    )
    return body["data"]["requestConnection"]


async def respond(client, actor, relationship_id, accept=True):
    body = await gql(
        client,
        RESPOND,
        {"input": {"relationshipId": relationship_id, "accept": accept}},
        token=actor["token"],
    )
    return body["data"]["respondToConnection"]


async def connect(client, one, other):
    asked = await request(client, one, other)
    assert asked["userErrors"] == []
    answered = await respond(client, other, asked["relationship"]["id"])
    assert answered["userErrors"] == []
    return asked["relationship"]["id"]


async def outbox_types(store):
    async with store.reader() as session:
        return [
            row.type for row in await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        ]


async def test_request_accept_and_both_sides_see_the_context(client, store):
    ada, bob = await member(client, "ada"), await member(client, "bob")

    asked = await request(client, ada, bob, context="Co-founded a meetup")
    assert asked["userErrors"] == []
    assert asked["relationship"]["status"] == "PENDING"
    assert asked["relationship"]["viewerCanRespond"] is False

    # Bob sees the request waiting for him
    body = await gql(
        client,
        "{ connectionRequests { edges { node {"
        " id context viewerCanRespond member { handle } } } } }",
        token=bob["token"],
    )
    (waiting,) = [edge["node"] for edge in body["data"]["connectionRequests"]["edges"]]
    assert waiting["member"]["handle"] == "ada"
    assert waiting["viewerCanRespond"] is True

    answered = await respond(client, bob, waiting["id"])
    assert answered["relationship"]["status"] == "ACTIVE"
    assert 0 < answered["relationship"]["strength"] <= 1

    for viewer, other in ((ada, "bob"), (bob, "ada")):
        body = await gql(client, PROFILE, {"handle": other}, token=viewer["token"])
        seen = body["data"]["member"]
        assert seen["relationship"]["context"] == "Co-founded a meetup"
        assert seen["relationship"]["status"] == "ACTIVE"
    events = await outbox_types(store)
    assert events.count("connection.requested") == 1
    assert events.count("connection.accepted") == 1


async def test_wrong_actors_are_refused_and_nothing_changes(client):
    ada, bob, eve = (
        await member(client, "ada"),
        await member(client, "bob"),
        await member(client, "eve"),
    )
    asked = await request(client, ada, bob)
    relationship_id = asked["relationship"]["id"]

    # A stranger cannot see, answer or remove someone else's request
    refused = await respond(client, eve, relationship_id)
    assert refused["userErrors"][0]["code"] == "NOT_FOUND"
    body = await gql(
        client, REMOVE, {"input": {"relationshipId": relationship_id}}, token=eve["token"]
    )
    assert body["data"]["removeConnection"]["userErrors"][0]["code"] == "NOT_FOUND"
    # The requester cannot accept their own request
    refused = await respond(client, ada, relationship_id)
    assert refused["userErrors"][0]["code"] == "FORBIDDEN"
    # Asking twice, asking oneself, a malformed id
    assert (await request(client, ada, bob))["userErrors"][0]["code"] == "ALREADY_EXISTS"
    assert (await request(client, ada, ada))["userErrors"][0]["code"] == "INVALID_INPUT"
    body = await gql(client, REQUEST, {"input": {"memberId": "nope"}}, token=ada["token"])
    assert body["data"]["requestConnection"]["userErrors"][0]["field"] == ["input", "memberId"]

    body = await gql(client, PROFILE, {"handle": "bob"}, token=ada["token"])
    assert body["data"]["member"]["relationship"]["status"] == "PENDING"

    # Once accepted, answering again is an invalid transition
    assert (await respond(client, bob, relationship_id))["userErrors"] == []
    assert (await respond(client, bob, relationship_id))["userErrors"][0][
        "code"
    ] == "INVALID_TRANSITION"


async def test_a_declined_member_cannot_ask_again_at_once(client, clock):
    ada, bob = await member(client, "ada"), await member(client, "bob")
    asked = await request(client, ada, bob)
    declined = await respond(client, bob, asked["relationship"]["id"], accept=False)
    assert declined["relationship"]["status"] == "DECLINED"

    again = await request(client, ada, bob)
    assert again["userErrors"][0]["code"] == "RATE_LIMITED"

    clock.advance(days=31)
    ada["token"] = await _log_in(client, "ada")  # the old access token expired meanwhile
    assert (await request(client, ada, bob))["userErrors"] == []
    # ... while the one who declined may ask at any time
    ada2, bob2 = await member(client, "ada_two"), await member(client, "bob_two")
    asked = await request(client, ada2, bob2)
    await respond(client, bob2, asked["relationship"]["id"], accept=False)
    assert (await request(client, bob2, ada2))["userErrors"] == []


async def test_asking_someone_who_asked_you_connects_you(client):
    ada, bob = await member(client, "ada"), await member(client, "bob")
    await request(client, ada, bob)
    crossed = await request(client, bob, ada)
    assert crossed["userErrors"] == []
    assert crossed["relationship"]["status"] == "ACTIVE"


async def test_removing_a_connection_and_withdrawing_a_request(client, store):
    ada, bob, cyd = (
        await member(client, "ada"),
        await member(client, "bob"),
        await member(client, "cyd"),
    )
    relationship_id = await connect(client, ada, bob)
    body = await gql(
        client, REMOVE, {"input": {"relationshipId": relationship_id}}, token=bob["token"]
    )
    assert body["data"]["removeConnection"]["relationship"]["status"] == "REMOVED"
    body = await gql(client, PROFILE, {"handle": "bob"}, token=bob["token"])
    assert body["data"]["member"]["connections"]["totalCount"] == 0
    body = await gql(client, PROFILE, {"handle": "ada"}, token=bob["token"])
    assert body["data"]["member"]["connections"] is None  # ada shows them to connections
    # removing again is refused
    body = await gql(
        client, REMOVE, {"input": {"relationshipId": relationship_id}}, token=ada["token"]
    )
    assert body["data"]["removeConnection"]["userErrors"][0]["code"] == "INVALID_TRANSITION"

    pending = (await request(client, ada, cyd))["relationship"]["id"]
    body = await gql(client, REMOVE, {"input": {"relationshipId": pending}}, token=cyd["token"])
    assert body["data"]["removeConnection"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    body = await gql(client, REMOVE, {"input": {"relationshipId": pending}}, token=ada["token"])
    assert body["data"]["removeConnection"]["userErrors"] == []
    assert "connection.removed" in await outbox_types(store)


async def test_private_notes_are_seen_by_their_author_alone(client):
    ada, bob = await member(client, "ada"), await member(client, "bob")
    relationship_id = await connect(client, ada, bob)
    body = await gql(
        client, NOTE, {"id": relationship_id, "note": "owes me a coffee"}, token=ada["token"]
    )
    assert body["data"]["setRelationshipNote"]["relationship"]["note"] == "owes me a coffee"

    body = await gql(client, PROFILE, {"handle": "ada"}, token=bob["token"])
    assert body["data"]["member"]["relationship"]["note"] is None
    body = await gql(client, PROFILE, {"handle": "bob"}, token=ada["token"])
    assert body["data"]["member"]["relationship"]["note"] == "owes me a coffee"


async def test_a_blocked_member_cannot_reach_the_blocker(client):
    ada, bob = await member(client, "ada"), await member(client, "bob")
    await gql(
        client,
        'mutation { updateProfile(input: {headline: "Organiser", location: "Lyon", '
        "privacy: {profile: EVERYONE, location: CONNECTIONS}}) { userErrors { code } } }",
        token=ada["token"],
    )
    await connect(client, ada, bob)
    body = await gql(client, PROFILE, {"handle": "ada"}, token=bob["token"])
    assert body["data"]["member"]["location"] == "Lyon"

    body = await gql(client, BLOCK, {"id": bob["id"]}, token=ada["token"])
    assert body["data"]["blockMember"]["userErrors"] == []

    # The connection ended; bob sees only what ada shows everyone, and cannot ask again
    body = await gql(client, PROFILE, {"handle": "ada"}, token=bob["token"])
    assert body["data"]["member"]["location"] is None
    assert body["data"]["member"]["relationship"]["status"] == "REMOVED"
    assert (await request(client, bob, ada))["userErrors"][0]["code"] == "FORBIDDEN"
    # ... nor can ada (unblock first), and blocking twice is refused
    assert (await request(client, ada, bob))["userErrors"][0]["code"] == "FORBIDDEN"
    body = await gql(client, BLOCK, {"id": bob["id"]}, token=ada["token"])
    assert body["data"]["blockMember"]["userErrors"][0]["code"] == "ALREADY_EXISTS"
    # bob never appears in ada's suggestions
    cyd = await member(client, "cyd")
    await connect(client, ada, cyd)
    await connect(client, cyd, bob)
    body = await gql(client, "{ peopleYouMayKnow { member { handle } } }", token=ada["token"])
    assert body["data"]["peopleYouMayKnow"] == []

    body = await gql(client, UNBLOCK, {"id": bob["id"]}, token=ada["token"])
    assert body["data"]["unblockMember"]["userErrors"] == []
    body = await gql(client, UNBLOCK, {"id": bob["id"]}, token=ada["token"])
    assert body["data"]["unblockMember"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await request(client, bob, ada))["userErrors"] == []


async def test_people_you_may_know_ranks_by_mutuals(client):
    ada = await member(client, "ada")
    friends = [await member(client, f"friend_{n}") for n in range(3)]
    for friend in friends:
        await connect(client, ada, friend)
    popular, lonely = await member(client, "popular"), await member(client, "lonely")
    for friend in friends:
        await connect(client, friend, popular)
    await connect(client, friends[0], lonely)

    body = await gql(
        client,
        "{ peopleYouMayKnow { member { handle } mutualCount score } }",
        token=ada["token"],
    )
    suggested = body["data"]["peopleYouMayKnow"]
    assert [s["member"]["handle"] for s in suggested] == ["popular", "lonely"]
    assert [s["mutualCount"] for s in suggested] == [3, 1]

    body = await gql(
        client,
        "query($with: ID!) { viewer { mutualConnections(with: $with) { totalCount "
        "edges { node { handle } } } } }",
        {"with": popular["id"]},
        token=ada["token"],
    )
    mutuals = body["data"]["viewer"]["mutualConnections"]
    assert mutuals["totalCount"] == 3
    assert sorted(edge["node"]["handle"] for edge in mutuals["edges"]) == [
        "friend_0",
        "friend_1",
        "friend_2",
    ]


async def test_ties_grow_with_help_and_cool_when_left_alone(client, store, clock):
    ada, bob = await member(client, "ada"), await member(client, "bob")
    await connect(client, ada, bob)
    ada_id, bob_id = await _ids(store, "ada", "bob")
    async with store.transaction() as tx:
        await relationships.record_help(tx, member_id=ada_id, other_id=bob_id)
        await relationships.record_help(tx, member_id=bob_id, other_id=ada_id)
        await tx.commit()

    query = '{ member(handle: "bob") { relationship { strength isCooling } } }'
    fresh = (await gql(client, query, token=ada["token"]))["data"]["member"]["relationship"]
    assert fresh["strength"] > 0.6
    assert fresh["isCooling"] is False
    body = await gql(client, "{ coolingRelationships { member { handle } } }", token=ada["token"])
    assert body["data"]["coolingRelationships"] == []

    clock.advance(days=150)
    # a new token: the old one expired while the clock moved
    token = await _log_in(client, "ada")
    faded = (await gql(client, query, token=token))["data"]["member"]["relationship"]
    assert faded["strength"] < fresh["strength"] * 0.6
    assert faded["isCooling"] is True
    body = await gql(client, "{ coolingRelationships { member { handle } } }", token=token)
    assert body["data"]["coolingRelationships"] == [{"member": {"handle": "bob"}}]


async def test_a_page_of_connections_with_mutual_counts_costs_the_same_statements(
    client, store, statements
):
    ada = await member(client, "ada")
    ada_id = (await _ids(store, "ada"))[0]
    others = [await member(client, f"peer_{n:02}") for n in range(50)]
    ids = await _ids(store, *(f"peer_{n:02}" for n in range(50)))
    async with store.transaction() as tx:
        for other_id in ids:
            await relationships.connect(
                tx, member_id=ada_id, other_id=other_id, context="test", introduced_by_id=None
            )
        for left, right in itertools.pairwise(ids):
            await relationships.connect(
                tx, member_id=left, other_id=right, context="test", introduced_by_id=None
            )
        await tx.commit()
    assert len(others) == 50
    query = """
    query($first: Int!) { viewer { connections(first: $first) { edges { node {
      handle mutualConnectionCount relationship { status } } } } } }
    """

    async def count(first: int) -> int:
        statements.count, statements.seen = 0, []
        statements.counting = True
        body = await gql(client, query, {"first": first}, token=ada["token"])
        statements.counting = False
        edges = body["data"]["viewer"]["connections"]["edges"]
        assert len(edges) == first
        assert all(edge["node"]["mutualConnectionCount"] >= 1 for edge in edges)
        return statements.count

    assert await count(5) == await count(50)


async def test_connections_pages_follow_each_other(client, store):
    ada = await member(client, "ada")
    for n in range(5):
        await connect(client, ada, await member(client, f"peer_{n}"))
    seen, after = [], None
    while True:
        body = await gql(
            client,
            "query($after: String) { viewer { connections(first: 2, after: $after) { totalCount "
            "pageInfo { hasNextPage endCursor } edges { node { handle } } } } }",
            {"after": after},
            token=ada["token"],
        )
        page = body["data"]["viewer"]["connections"]
        assert page["totalCount"] == 5
        seen += [edge["node"]["handle"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == [f"peer_{n}" for n in range(5)]


async def _ids(store, *handles):
    from domain.members.models import Member

    async with store.reader() as session:
        rows = dict(
            (
                await session.execute(
                    select(Member.handle, Member.id).where(Member.handle.in_(handles))
                )
            ).all()
        )
    return [rows[handle] for handle in handles]


async def _log_in(client, handle):
    from tests.api.graphql import LOG_IN
    from tests.conftest import PASSWORD

    body = await gql(
        client, LOG_IN, {"input": {"email": f"{handle}@example.com", "password": PASSWORD}}
    )
    return body["data"]["logIn"]["accessToken"]


async def test_the_viewer_sees_each_members_degree_of_separation(client):
    ada, bob, cyd, dan, eve = [await member(client, h) for h in ("ada", "bob", "cyd", "dan", "eve")]
    await connect(client, ada, bob)
    await connect(client, bob, cyd)
    await connect(client, cyd, dan)
    query = "query($h: String!) { member(handle: $h) { degree } }"

    async def degree(handle, token=ada["token"]):
        body = await gql(client, query, {"h": handle}, token=token)
        return body["data"]["member"]["degree"]

    assert [await degree(h) for h in ("bob", "cyd", "dan", "eve", "ada")] == [1, 2, 3, None, None]
    assert await degree("bob", token=None) is None
    assert eve  # a stranger to everyone


async def test_connections_can_be_read_backward(client):
    ada = await member(client, "ada")
    for n in range(5):
        await connect(client, ada, await member(client, f"peer_{n}"))
    query = """
    query($first: Int, $after: String, $last: Int, $before: String) {
      viewer { connections(first: $first, after: $after, last: $last, before: $before) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { node { handle } }
      } }
    }
    """

    async def page(**variables):
        body = await gql(client, query, variables, token=ada["token"])
        assert "errors" not in body, body
        return body["data"]["viewer"]["connections"]

    one = await page(first=2)
    two = await page(first=2, after=one["pageInfo"]["endCursor"])
    back = await page(last=2, before=two["pageInfo"]["startCursor"])

    assert [e["node"]["handle"] for e in back["edges"]] == [
        e["node"]["handle"] for e in one["edges"]
    ]
    assert back["pageInfo"]["hasPreviousPage"] is False
    assert back["pageInfo"]["hasNextPage"] is True
    assert two["pageInfo"]["hasPreviousPage"] is True
