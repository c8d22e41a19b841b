"""Any object by its global id: ``node`` and ``nodes``."""

from __future__ import annotations

import base64

from tests.api.graphql import gql, sign_up

NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Member { handle }
    ... on Give { tag { slug } }
    ... on Goal { title tags { slug } }
  }
}
"""
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Member { handle } } }"


async def _give_and_goal(client, token):
    body = await gql(
        client,
        """mutation {
             addGive(input: {tag: "Public speaking", monthlyCapacity: 2}) {
               give { id } userErrors { code }
             }
             addGoal(input: {title: "Organise SaaS Summit", kind: EVENT, tags: ["SaaS"]}) {
               goal { id } userErrors { code }
             }
           }""",
        token=token,
    )
    return body["data"]["addGive"]["give"]["id"], body["data"]["addGoal"]["goal"]["id"]


async def test_every_kind_of_node_resolves_by_its_global_id(client):
    ada = await sign_up(client, "ada")
    give_id, goal_id = await _give_and_goal(client, ada["accessToken"])

    member = (await gql(client, NODE, {"id": ada["viewer"]["id"]}))["data"]["node"]
    assert member == {"__typename": "Member", "id": ada["viewer"]["id"], "handle": "ada"}
    give = (await gql(client, NODE, {"id": give_id}))["data"]["node"]
    assert give["tag"] == {"slug": "public-speaking"}
    # goals show to the member's network by default: anonymous callers do not see them
    assert (await gql(client, NODE, {"id": goal_id}))["data"]["node"] is None
    goal = (await gql(client, NODE, {"id": goal_id}, token=ada["accessToken"]))["data"]["node"]
    assert goal["title"] == "Organise SaaS Summit"
    assert goal["tags"] == [{"slug": "saas"}]


async def test_global_ids_are_opaque_and_distinct_per_type(client):
    ada = await sign_up(client, "ada")
    give_id, goal_id = await _give_and_goal(client, ada["accessToken"])
    assert len({ada["viewer"]["id"], give_id, goal_id}) == 3
    assert not ada["viewer"]["id"].isdigit()


async def test_nodes_keep_order_and_give_null_for_what_does_not_exist(client):
    ada = await sign_up(client, "ada")
    bob = await sign_up(client, "bob")
    missing = base64.b64encode(b"Member:999999").decode()

    body = await gql(client, NODES, {"ids": [bob["viewer"]["id"], missing, ada["viewer"]["id"]]})
    handles = [node and node["handle"] for node in body["data"]["nodes"]]
    assert handles == ["bob", None, "ada"]


async def test_a_malformed_id_is_a_client_error_not_a_crash(client):
    for malformed in ("not a global id", base64.b64encode(b"Spaceship:1").decode()):
        body = await gql(client, NODE, {"id": malformed})
        assert body["data"]["node"] is None
        assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_one_malformed_id_fails_its_own_entry_not_the_whole_list(client):
    ada = await sign_up(client, "ada")
    body = await gql(client, NODES, {"ids": ["garbage", ada["viewer"]["id"]]})
    assert [node and node["handle"] for node in body["data"]["nodes"]] == [None, "ada"]
    assert body["errors"][0]["path"] == ["nodes", 0]
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
