"""What a member hides stays hidden, whichever way someone asks for it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.graphql import gql, sign_up

UPDATE_PROFILE = """
mutation Update($input: UpdateProfileInput!) {
  updateProfile(input: $input) { userErrors { field code message } }
}
"""
ADD_GIVE = """
mutation AddGive($input: AddGiveInput!) {
  addGive(input: $input) { give { id } userErrors { field code message } }
}
"""
ADD_GOAL = """
mutation AddGoal($input: AddGoalInput!) {
  addGoal(input: $input) { goal { id } userErrors { field code message } }
}
"""
MEMBER_FIELDS = """
  handle location seeks { slug } gives { tag { slug } } goals { title }
  email helpBudget { requestsPerWeek } privacy { profile location }
"""
BY_HANDLE = f"query($handle: String!) {{ member(handle: $handle) {{ {MEMBER_FIELDS} }} }}"
NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on Member {{ {MEMBER_FIELDS} }} }} }}"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Member { handle } } }"
SEARCH = """
query($query: String, $tags: [String!]) {
  searchMembers(query: $query, tags: $tags) { totalCount nodes { handle } }
}
"""


async def update_profile(client, token: str, **changes: Any) -> None:
    body = await gql(client, UPDATE_PROFILE, {"input": changes}, token=token)
    assert body["data"]["updateProfile"]["userErrors"] == [], body


async def add_give(client, token: str, tag: str) -> str:
    body = await gql(client, ADD_GIVE, {"input": {"tag": tag}}, token=token)
    assert body["data"]["addGive"]["userErrors"] == [], body
    give_id: str = body["data"]["addGive"]["give"]["id"]
    return give_id


async def add_goal(client, token: str, title: str) -> str:
    body = await gql(client, ADD_GOAL, {"input": {"title": title}}, token=token)
    assert body["data"]["addGoal"]["userErrors"] == [], body
    goal_id: str = body["data"]["addGoal"]["goal"]["id"]
    return goal_id


async def by_handle(client, handle: str, token: str | None) -> dict[str, Any] | None:
    body = await gql(client, BY_HANDLE, {"handle": handle}, token=token)
    assert "errors" not in body, body
    member: dict[str, Any] | None = body["data"]["member"]
    return member


async def node(client, node_id: str, token: str | None) -> dict[str, Any] | None:
    body = await gql(client, NODE, {"id": node_id}, token=token)
    assert "errors" not in body, body
    found: dict[str, Any] | None = body["data"]["node"]
    return found


async def nodes(client, ids: list[str], token: str | None) -> list[str | None]:
    body = await gql(client, NODES, {"ids": ids}, token=token)
    assert "errors" not in body, body
    return [found["handle"] if found else None for found in body["data"]["nodes"]]


async def search(client, token: str | None, **arguments: Any) -> list[str]:
    body = await gql(client, SEARCH, arguments, token=token)
    assert "errors" not in body, body
    connection = body["data"]["searchMembers"]
    handles = [member["handle"] for member in connection["nodes"]]
    assert connection["totalCount"] == len(handles)
    return handles


@pytest.fixture
async def ada(client) -> dict[str, Any]:
    """A member who shows her profile to her connections only."""
    ada = await sign_up(client, "ada", display_name="Ada Lovelace")
    await update_profile(
        client,
        ada["accessToken"],
        headline="Analyst of engines",
        skills=["Mathematics"],
        privacy={"profile": "CONNECTIONS"},
    )
    return ada


@pytest.fixture
async def bob(client) -> dict[str, Any]:
    """A member with a public profile, and no tie to anyone."""
    return await sign_up(client, "bob", display_name="Bob Babbage")


STRANGER, ANONYMOUS = "stranger", "anonymous"


@pytest.fixture(params=[STRANGER, ANONYMOUS])
def outsider(request, bob) -> str | None:
    """Someone who is not ada's connection: another member, or nobody signed in."""
    token: str | None = bob["accessToken"] if request.param == STRANGER else None
    return token


# A profile shown to connections only


async def test_a_hidden_profile_cannot_be_looked_up_by_handle(client, ada, outsider):
    assert await by_handle(client, "ada", outsider) is None


async def test_a_hidden_profile_cannot_be_fetched_as_a_node(client, ada, outsider):
    assert await node(client, ada["viewer"]["id"], outsider) is None


async def test_a_hidden_profile_is_a_null_among_nodes_in_order(client, ada, bob, outsider):
    # When someone asks for several members at once, ada among them
    ids = [bob["viewer"]["id"], ada["viewer"]["id"], bob["viewer"]["id"]]

    found = await nodes(client, ids, outsider)

    # Then ada's place holds null and the others keep theirs
    assert found == ["bob", None, "bob"]


@pytest.mark.parametrize(
    "arguments",
    [{"query": "ada"}, {"query": "Lovelace"}, {"query": "engines"}, {"tags": ["mathematics"]}],
    ids=["handle", "name", "headline", "tag"],
)
async def test_a_hidden_profile_is_not_found_by_search(client, ada, bob, outsider, arguments):
    assert await search(client, outsider, **arguments) == []


async def test_a_hidden_profile_is_all_there_for_its_member(client, ada, bob):
    token = ada["accessToken"]

    assert (await by_handle(client, "ada", token) or {})["handle"] == "ada"
    assert (await node(client, ada["viewer"]["id"], token) or {})["handle"] == "ada"
    assert await nodes(client, [bob["viewer"]["id"], ada["viewer"]["id"]], token) == [
        "bob",
        "ada",
    ]
    assert await search(client, token, query="Lovelace") == ["ada"]
    assert await search(client, token, tags=["Mathematics"]) == ["ada"]


async def test_a_profile_shown_again_is_found_again(client, ada, bob):
    await update_profile(client, ada["accessToken"], privacy={"profile": "EVERYONE"})

    assert (await by_handle(client, "ada", bob["accessToken"]) or {})["handle"] == "ada"
    assert await search(client, None, query="Lovelace") == ["ada"]


# Parts of a public profile


@pytest.fixture
async def grace(client) -> dict[str, Any]:
    """A member with a public profile whose every part is shown to herself alone."""
    grace = await sign_up(client, "grace", display_name="Grace Hopper")
    token = grace["accessToken"]
    await update_profile(
        client,
        token,
        location="Arlington",
        seeks=["Compilers"],
        privacy={"location": "ONLY_ME", "seeks": "ONLY_ME", "gives": "ONLY_ME", "goals": "ONLY_ME"},
    )
    grace["give_id"] = await add_give(client, token, "Fundraising")
    grace["goal_id"] = await add_goal(client, token, "Ship a compiler")
    return grace


HIDDEN_PARTS = {"location": None, "seeks": None, "gives": None, "goals": None}
OWN_PARTS = {"email": None, "helpBudget": None, "privacy": None}


async def test_parts_shown_to_herself_alone_are_null_to_others(client, grace, outsider):
    seen = await by_handle(client, "grace", outsider)

    assert seen is not None
    assert seen["handle"] == "grace"
    assert {part: seen[part] for part in HIDDEN_PARTS} == HIDDEN_PARTS
    assert seen == await node(client, grace["viewer"]["id"], outsider)


async def test_parts_shown_to_herself_alone_are_there_for_her(client, grace):
    seen = await by_handle(client, "grace", grace["accessToken"])

    assert seen is not None
    assert seen["location"] == "Arlington"
    assert seen["seeks"] == [{"slug": "compilers"}]
    assert seen["gives"] == [{"tag": {"slug": "fundraising"}}]
    assert seen["goals"] == [{"title": "Ship a compiler"}]


async def test_hidden_gives_and_goals_cannot_be_fetched_as_nodes(client, grace, outsider):
    ids = [grace["give_id"], grace["goal_id"]]

    assert await nodes(client, ids, outsider) == [None, None]
    body = await gql(client, "query($id: ID!) { node(id: $id) { id } }", {"id": ids[0]})
    assert body == {"data": {"node": None}}


async def test_her_own_gives_and_goals_can_be_fetched_as_nodes(client, grace):
    body = await gql(
        client,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": [grace["give_id"], grace["goal_id"]]},
        token=grace["accessToken"],
    )

    assert body["data"]["nodes"] == [{"id": grace["give_id"]}, {"id": grace["goal_id"]}]


@pytest.mark.parametrize(
    "arguments",
    [{"tags": ["fundraising"]}, {"query": "fundraising"}, {"tags": ["compilers"]}],
    ids=["give by tag", "give by text", "seek by tag"],
)
async def test_hidden_parts_do_not_make_a_member_findable(client, grace, outsider, arguments):
    # Searching for what grace hides must not tell a stranger that she has it.
    assert await search(client, outsider, **arguments) == []


async def test_her_shown_gives_make_her_findable(client, grace):
    await update_profile(client, grace["accessToken"], privacy={"gives": "EVERYONE"})

    assert await search(client, None, tags=["fundraising"]) == ["grace"]
    assert await search(client, None, query="fundraising") == ["grace"]


async def test_email_help_budget_and_privacy_are_hers_alone(client, grace, outsider):
    # Given a member with a public profile
    await update_profile(client, grace["accessToken"], privacy={"location": "EVERYONE"})

    # When someone else reads it, her account settings are null
    seen = await by_handle(client, "grace", outsider)
    assert seen is not None
    assert {part: seen[part] for part in OWN_PARTS} == OWN_PARTS
    assert seen["location"] == "Arlington"

    # ... while she sees them
    own = await by_handle(client, "grace", grace["accessToken"])
    assert own is not None
    assert own["email"] == "grace@example.com"
    assert own["helpBudget"] == {"requestsPerWeek": 3}
    assert own["privacy"] == {"profile": "EVERYONE", "location": "EVERYONE"}


async def test_own_parts_are_hers_alone_in_search_results_too(client, grace, bob):
    body = await gql(
        client,
        'query { searchMembers(query: "grace") { nodes { handle email helpBudget '
        "{ requestsPerWeek } privacy { profile } location } } }",
        token=bob["accessToken"],
    )

    assert body["data"]["searchMembers"]["nodes"] == [
        {"handle": "grace", "email": None, "helpBudget": None, "privacy": None, "location": None}
    ]
