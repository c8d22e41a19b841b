"""A blocked member trying every way in: each a clear `userErrors` code, nothing changed.

Ada and Bob are connected, share skills and a circle, and Cyd knows both. Ada shows her
profile to everyone but her location, goals, gives, seeks and connections to her connections
only. Then Ada blocks Bob: from there on Bob sees what a stranger sees of Ada, at most, and
every path from Bob to Ada (a request, an intro, a circle, a suggestion) is shut.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select

from domain.events import OutboxEvent
from tests.api.graphql import gql
from tests.api.test_relationships import BLOCK, connect, member, request, respond

UPDATE_PROFILE = """
mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { userErrors { code } } }
"""
ADD_GIVE = """
mutation($tag: String!) { addGive(input: {tag: $tag}) { give { id } userErrors { code } } }
"""
ADD_GOAL = """
mutation($title: String!) { addGoal(input: {title: $title}) { goal { id } userErrors { code } } }
"""
PROFILE_FIELDS = """
  id handle headline skills { slug } location
  seeks { slug } gives { tag { slug } } goals { title }
  degree mutualConnectionCount
  relationship { id status sharedTags { slug } }
  connections(first: 10) { totalCount edges { node { handle } } }
"""
BY_HANDLE = f"query($handle: String!) {{ member(handle: $handle) {{ {PROFILE_FIELDS} }} }}"
RELATIONSHIP_FIELDS = """
  id status context sharedTags { slug } member { handle location seeks { slug } }
"""
NODE = f"""
query($id: ID!) {{
  node(id: $id) {{
    ... on Member {{ {PROFILE_FIELDS} }}
    ... on Relationship {{ {RELATIONSHIP_FIELDS} }}
  }}
}}
"""
NODES = f"""
query($ids: [ID!]!) {{
  nodes(ids: $ids) {{
    ... on Member {{ {PROFILE_FIELDS} }}
    ... on Relationship {{ {RELATIONSHIP_FIELDS} }}
  }}
}}
"""
SEARCH = """
query($query: String, $tags: [String!]) {
  searchMembers(query: $query, tags: $tags) { totalCount nodes { handle } }
}
"""
INTRO_PATHS = """
query($to: ID!) { introPaths(to: $to, maxHops: 3, first: 20) { hops { handle } strength } }
"""
REQUEST_INTRO = """
mutation($input: RequestIntroInput!) {
  requestIntro(input: $input) { intro { id } userErrors { field code message } }
}
"""
INTROS = "{ intros { totalCount edges { node { id } } } }"
CIRCLE_FIELDS = "id memberCount viewerStatus viewerRole"
CIRCLE = f"""
query($id: ID!) {{
  node(id: $id) {{
    ... on Circle {{
      {CIRCLE_FIELDS}
      members {{ totalCount edges {{ node {{ member {{ handle }} }} }} }}
    }}
  }}
}}
"""
MUTUALS = """
query($with: ID!) {
  viewer { mutualConnections(with: $with) { totalCount edges { node { handle } } } }
}
"""
PEOPLE_YOU_MAY_KNOW = "{ peopleYouMayKnow(first: 50) { member { handle } } }"
CONNECTION_REQUESTS = "{ connectionRequests { edges { node { id member { handle } } } } }"


@dataclasses.dataclass
class World:
    ada: dict[str, Any]
    bob: dict[str, Any]
    cyd: dict[str, Any]
    relationship_id: str  # Ada and Bob's, ended by the block
    shared_circle_id: str  # Ada's open circle Bob joined before the block
    adas_circle_id: str  # another open circle of Ada's, which Bob is not in
    bobs_circle_id: str  # Bob's on-request circle


async def ok(client, document: str, variables: dict[str, Any], who: dict[str, Any]) -> Any:
    body = await gql(client, document, variables, token=who["token"])
    assert "errors" not in body, body
    payload = next(iter(body["data"].values()))
    assert payload["userErrors"] == [], payload
    return payload


async def read(client, document: str, variables: dict[str, Any], who: dict[str, Any]) -> Any:
    body = await gql(client, document, variables, token=who["token"])
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


async def circle_command(client, mutation: str, who: dict[str, Any], **fields: Any) -> Any:
    input_type = mutation[0].upper() + mutation[1:] + "Input"
    document = f"""
    mutation($input: {input_type}!) {{
      {mutation}(input: $input) {{ circle {{ {CIRCLE_FIELDS} }} userErrors {{ field code }} }}
    }}
    """
    body = await gql(client, document, {"input": fields}, token=who["token"])
    assert "errors" not in body, body
    return body["data"][mutation]


async def create_circle(client, owner: dict[str, Any], name: str, visibility: str) -> str:
    payload = await circle_command(client, "createCircle", owner, name=name, visibility=visibility)
    assert payload["userErrors"] == [], payload
    circle_id: str = payload["circle"]["id"]
    return circle_id


async def outbox(store) -> list[str]:
    async with store.reader() as session:
        return list(await session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)))


def code_of(payload: dict[str, Any]) -> str:
    (error,) = payload["userErrors"]
    code: str = error["code"]
    return code


def handles(suggestions: list[dict[str, Any]]) -> list[str]:
    return [suggestion["member"]["handle"] for suggestion in suggestions]


def is_empty(connection: dict[str, Any] | None) -> bool:
    return connection is None or (connection["totalCount"] == 0 and connection["edges"] == [])


@pytest.fixture
async def world(client) -> World:
    ada, bob, cyd = [await member(client, handle) for handle in ("ada", "bob", "cyd")]
    await ok(
        client,
        UPDATE_PROFILE,
        {
            "input": {
                "headline": "Analyst of engines",
                "location": "London",
                "skills": ["Mathematics", "Poetry"],
                "seeks": ["Engines"],
                "privacy": {
                    "profile": "EVERYONE",
                    "location": "CONNECTIONS",
                    "goals": "CONNECTIONS",
                    "gives": "CONNECTIONS",
                    "seeks": "CONNECTIONS",
                    "connections": "CONNECTIONS",
                },
            }
        },
        ada,
    )
    await ok(client, ADD_GIVE, {"tag": "Fundraising"}, ada)
    await ok(client, ADD_GOAL, {"title": "Build the analytical engine"}, ada)
    await ok(client, UPDATE_PROFILE, {"input": {"skills": ["Mathematics", "Poetry"]}}, bob)

    shared_circle_id = await create_circle(client, ada, "Engine Club", "OPEN")
    joined = await circle_command(client, "joinCircle", bob, circleId=shared_circle_id)
    assert joined["userErrors"] == [], joined
    adas_circle_id = await create_circle(client, ada, "Ada Salon", "OPEN")
    bobs_circle_id = await create_circle(client, bob, "Bob Workshop", "ON_REQUEST")

    relationship_id = await connect(client, ada, bob)
    await connect(client, cyd, ada)
    await connect(client, cyd, bob)

    # Before the block Bob sees everything the assertions below say he must then not see,
    # so each of them can fail.
    seen = await read(client, BY_HANDLE, {"handle": "ada"}, bob)
    assert seen["location"] == "London"
    assert seen["seeks"] == [{"slug": "engines"}]
    assert seen["gives"] == [{"tag": {"slug": "fundraising"}}]
    assert seen["goals"] == [{"title": "Build the analytical engine"}]
    assert seen["degree"] == 1
    assert seen["mutualConnectionCount"] == 1
    assert seen["relationship"]["status"] == "ACTIVE"
    assert {tag["slug"] for tag in seen["relationship"]["sharedTags"]} == {"mathematics", "poetry"}
    assert seen["connections"]["totalCount"] == 2
    found = await read(client, SEARCH, {"tags": ["fundraising"]}, bob)
    assert [node["handle"] for node in found["nodes"]] == ["ada"]
    assert await read(client, INTRO_PATHS, {"to": ada["id"]}, bob) != []
    mutuals = await read(client, MUTUALS, {"with": ada["id"]}, bob)
    assert [edge["node"]["handle"] for edge in mutuals["mutualConnections"]["edges"]] == ["cyd"]

    await ok(client, BLOCK, {"id": bob["id"]}, ada)
    return World(ada, bob, cyd, relationship_id, shared_circle_id, adas_circle_id, bobs_circle_id)


HIDDEN = {"location": None, "seeks": None, "gives": None, "goals": None, "connections": None}


# What Bob sees of Ada


async def test_the_blocked_member_sees_only_her_public_profile(client, world):
    seen = await read(client, BY_HANDLE, {"handle": "ada"}, world.bob)

    assert seen is not None  # her profile is public ...
    assert seen["headline"] == "Analyst of engines"
    assert {part: seen[part] for part in HIDDEN} == HIDDEN  # ... her connections-only parts not


async def test_the_blocked_member_is_no_longer_related_to_her(client, world):
    seen = await read(client, BY_HANDLE, {"handle": "ada"}, world.bob)

    assert seen["relationship"] is None or seen["relationship"]["status"] == "REMOVED"
    assert seen["relationship"] is None or seen["relationship"]["sharedTags"] == []


async def test_the_blocked_member_has_no_degree_to_her(client, world):
    # Bob - Cyd - Ada is still there, but Ada blocked Bob: no path counts.
    seen = await read(client, BY_HANDLE, {"handle": "ada"}, world.bob)

    assert seen["degree"] is None


async def test_the_blocked_member_has_no_mutual_count_with_her(client, world):
    seen = await read(client, BY_HANDLE, {"handle": "ada"}, world.bob)

    assert seen["mutualConnectionCount"] in (None, 0)


async def test_her_node_shows_no_more_than_her_profile(client, world):
    by_handle = await read(client, BY_HANDLE, {"handle": "ada"}, world.bob)

    as_node = await read(client, NODE, {"id": world.ada["id"]}, world.bob)
    assert as_node == by_handle
    among_nodes = await read(client, NODES, {"ids": [world.ada["id"]]}, world.bob)
    assert among_nodes == [by_handle]


async def test_the_old_relationship_as_a_node_shows_nothing_shared(client, world):
    as_node = await read(client, NODE, {"id": world.relationship_id}, world.bob)
    (among_nodes,) = await read(client, NODES, {"ids": [world.relationship_id]}, world.bob)

    for relationship in (as_node, among_nodes):
        if relationship is None:
            continue
        assert relationship["status"] == "REMOVED"
        assert relationship["sharedTags"] == []
        assert relationship["member"] is None or (
            relationship["member"]["location"] is None and relationship["member"]["seeks"] is None
        )


@pytest.mark.parametrize(
    "arguments",
    [{"tags": ["fundraising"]}, {"query": "fundraising"}, {"tags": ["engines"]}],
    ids=["give by tag", "give by text", "seek by tag"],
)
async def test_search_by_her_connections_only_parts_does_not_find_her(client, world, arguments):
    found = await read(client, SEARCH, arguments, world.bob)

    assert found == {"totalCount": 0, "nodes": []}


# Paths from Bob to Ada


async def test_there_is_no_intro_path_between_them(client, world):
    # Bob - Cyd - Ada would be a path; the block shuts it, both ways.
    assert await read(client, INTRO_PATHS, {"to": world.ada["id"]}, world.bob) == []
    assert await read(client, INTRO_PATHS, {"to": world.bob["id"]}, world.ada) == []


async def test_the_blocked_member_cannot_ask_a_broker_for_an_intro(client, store, world):
    before = await outbox(store)

    payload = await read(
        client,
        REQUEST_INTRO,
        {"input": {"targetId": world.ada["id"], "brokerId": world.cyd["id"], "message": "Hi"}},
        world.bob,
    )

    assert payload["intro"] is None
    assert code_of(payload) == "FORBIDDEN"
    for who in (world.ada, world.bob, world.cyd):
        assert (await read(client, INTROS, {}, who))["totalCount"] == 0
    assert await outbox(store) == before


async def test_the_blocked_member_cannot_ask_to_connect_again(client, store, world):
    before = await outbox(store)

    payload = await request(client, world.bob, world.ada)

    assert payload["relationship"] is None
    assert code_of(payload) == "FORBIDDEN"
    assert (await read(client, CONNECTION_REQUESTS, {}, world.ada))["edges"] == []
    for viewer, other in ((world.bob, "ada"), (world.ada, "bob")):
        seen = await read(client, BY_HANDLE, {"handle": other}, viewer)
        assert seen["relationship"] is None or seen["relationship"]["status"] == "REMOVED"
    assert await outbox(store) == before


async def test_the_blocked_member_cannot_join_her_open_circle(client, store, world):
    before = await outbox(store)

    payload = await circle_command(client, "joinCircle", world.bob, circleId=world.adas_circle_id)

    assert payload["circle"] is None
    assert code_of(payload) == "FORBIDDEN"
    circle = await read(client, CIRCLE, {"id": world.adas_circle_id}, world.ada)
    assert circle["memberCount"] == 1
    assert [edge["node"]["member"]["handle"] for edge in circle["members"]["edges"]] == ["ada"]
    as_bob = await read(client, CIRCLE, {"id": world.adas_circle_id}, world.bob)
    assert as_bob is None or (as_bob["viewerStatus"] is None and as_bob["viewerRole"] is None)
    assert await outbox(store) == before


async def test_the_blocked_member_cannot_invite_her_into_his_circle(client, store, world):
    before = await outbox(store)

    payload = await circle_command(
        client,
        "inviteToCircle",
        world.bob,
        circleId=world.bobs_circle_id,
        memberId=world.ada["id"],
    )

    assert payload["circle"] is None
    assert code_of(payload) == "FORBIDDEN"
    as_ada = await read(client, CIRCLE, {"id": world.bobs_circle_id}, world.ada)
    assert as_ada is None or as_ada["viewerStatus"] is None
    as_bob = await read(client, CIRCLE, {"id": world.bobs_circle_id}, world.bob)
    assert as_bob["memberCount"] == 1
    assert [edge["node"]["member"]["handle"] for edge in as_bob["members"]["edges"]] == ["bob"]
    assert await outbox(store) == before


# The network around them


async def test_they_have_no_mutual_connections_for_the_blocked_member(client, world):
    viewer = await read(client, MUTUALS, {"with": world.ada["id"]}, world.bob)

    assert is_empty(viewer["mutualConnections"])


async def test_neither_is_suggested_to_the_other(client, world):
    # Each is a friend of a friend (Cyd) of the other, and they share skills and a circle.
    for viewer, other in ((world.bob, "ada"), (world.ada, "bob")):
        suggested = await read(client, PEOPLE_YOU_MAY_KNOW, {}, viewer)
        assert other not in handles(suggested), (viewer["handle"], suggested)


# A stranger asking to connect learns nothing hidden

REQUEST_CONNECTION = """
mutation($input: RequestConnectionInput!) {
  requestConnection(input: $input) {
    relationship { id status sharedTags { slug } member { handle } }
    userErrors { code }
  }
}
"""
RELATIONSHIP_NODE = """
query($id: ID!) { node(id: $id) { ... on Relationship { status sharedTags { slug } } } }
"""
RELATIONSHIP_NODES = """
query($ids: [ID!]!) { nodes(ids: $ids) { ... on Relationship { status sharedTags { slug } } } }
"""


async def shared_tags_seen(client, relationship_id: str, who: dict[str, Any]) -> list[Any]:
    """The shared tags ``who`` reads on a relationship by node and among nodes ([] if null)."""
    as_node = await read(client, RELATIONSHIP_NODE, {"id": relationship_id}, who)
    (among_nodes,) = await read(client, RELATIONSHIP_NODES, {"ids": [relationship_id]}, who)
    return [found["sharedTags"] for found in (as_node, among_nodes) if found is not None]


async def test_asking_a_hidden_member_to_connect_reveals_none_of_her_tags(client):
    mia, eve = await member(client, "mia"), await member(client, "eve")
    await ok(
        client,
        UPDATE_PROFILE,
        {"input": {"skills": ["Cryptography"], "privacy": {"profile": "CONNECTIONS"}}},
        mia,
    )
    await ok(client, UPDATE_PROFILE, {"input": {"skills": ["Cryptography"]}}, eve)

    payload = await read(client, REQUEST_CONNECTION, {"input": {"memberId": mia["id"]}}, eve)

    relationship = payload["relationship"]
    if relationship is None:  # refused outright (e.g. NOT_FOUND): that reveals nothing either
        assert payload["userErrors"] != []
        return
    assert relationship["sharedTags"] == []
    assert relationship["member"] is None
    assert all(tags == [] for tags in await shared_tags_seen(client, relationship["id"], eve))


async def test_a_pending_request_does_not_reveal_tags_hidden_since(client):
    # Eve asks Mia while Mia's profile is public; Mia then hides it and adds a skill.
    mia, eve = await member(client, "mia"), await member(client, "eve")
    await ok(client, UPDATE_PROFILE, {"input": {"skills": ["Cryptography"]}}, eve)
    payload = await read(client, REQUEST_CONNECTION, {"input": {"memberId": mia["id"]}}, eve)
    assert payload["userErrors"] == [], payload
    relationship_id = payload["relationship"]["id"]
    await ok(
        client,
        UPDATE_PROFILE,
        {"input": {"skills": ["Cryptography"], "privacy": {"profile": "CONNECTIONS"}}},
        mia,
    )

    # While the request waits, Eve learns nothing of what Mia now hides
    assert await read(client, BY_HANDLE, {"handle": "mia"}, eve) is None
    assert all(tags == [] for tags in await shared_tags_seen(client, relationship_id, eve))

    # ... and once Mia accepts, her profile is Eve's to see, and so is what they share.
    assert (await respond(client, mia, relationship_id))["userErrors"] == []
    assert await shared_tags_seen(client, relationship_id, eve) == [
        [{"slug": "cryptography"}],
        [{"slug": "cryptography"}],
    ]
