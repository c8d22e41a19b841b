"""Opportunities through GraphQL: listed in the order they came with their reasons and
subject, caught up `after:` a cursor, marked seen, dismissed, and private to their member."""

from __future__ import annotations

from api.worker import Worker, consumers_for
from domain.matching.scoring import Caps
from tests.api.graphql import gql
from tests.api.test_intros import connect, make_member

PROFILE = """
mutation($skills: [String!]) { updateProfile(input: {skills: $skills}) { userErrors { code } } }
"""
POST = """
mutation($tags: [String!]!) {
  postHelpRequest(input: {title: "Need SEO advice for our launch", kind: ADVICE, tags: $tags,
    audience: {scope: NETWORK}}) { helpRequest { id } userErrors { code } }
}
"""
OPPORTUNITIES = """
query($after: String, $status: [OpportunityStatus!]) {
  opportunities(after: $after, status: $status) {
    edges {
      cursor
      node {
        id kind status score cursor
        reasons { code label subject { ... on Member { handle } } }
        subject { ... on HelpRequest { id title author { handle } } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
SEEN = """
mutation($id: ID!) {
  markOpportunitySeen(input: {opportunityId: $id}) {
    opportunity { status } userErrors { field code message }
  }
}
"""
DISMISS = """
mutation($id: ID!) {
  dismissOpportunity(input: {opportunityId: $id, reason: NOT_RELEVANT}) {
    opportunity { status } userErrors { field code message }
  }
}
"""


async def _round(store) -> None:
    await Worker(store, _ignore, consumers_for(Caps())).round()


async def _ignore(_channel, _message) -> None:
    return None


async def test_alice_is_offered_carols_ask_via_bob_and_catches_up_after_a_cursor(client, store):
    alice, bob, carol = [await make_member(client, h) for h in ("alice", "bob", "carol")]
    await gql(client, PROFILE, {"skills": ["SEO", "Growth"]}, token=alice.token)
    await connect(store, (alice, bob), (bob, carol))

    first = await gql(client, POST, {"tags": ["SEO"]}, token=carol.token)
    request_id = first["data"]["postHelpRequest"]["helpRequest"]["id"]
    await _round(store)
    page = (await gql(client, OPPORTUNITIES, token=alice.token))["data"]["opportunities"]
    [edge] = page["edges"]
    node = edge["node"]
    assert node["kind"] == "HELP_REQUEST"
    assert node["status"] == "NEW"
    assert node["cursor"] == edge["cursor"]
    assert node["reasons"] == [
        {"code": "SKILL_MATCH", "label": "SEO", "subject": None},
        {"code": "VIA", "label": "bob", "subject": {"handle": "bob"}},
    ]
    assert node["subject"] == {
        "id": request_id,
        "title": "Need SEO advice for our launch",
        "author": {"handle": "carol"},
    }

    # what came after the cursor alice has, and only that
    await gql(client, POST, {"tags": ["Growth"]}, token=carol.token)
    await _round(store)
    since = await gql(client, OPPORTUNITIES, {"after": edge["cursor"]}, token=alice.token)
    missed = since["data"]["opportunities"]["edges"]
    assert [e["node"]["reasons"][0]["label"] for e in missed] == ["Growth"]

    # nobody else sees them: not in their list, not by id
    assert (await gql(client, OPPORTUNITIES, token=bob.token))["data"]["opportunities"][
        "edges"
    ] == []
    hidden = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": node["id"]}, token=bob.token
    )
    assert hidden["data"]["node"] is None
    refused = await gql(client, SEEN, {"id": node["id"]}, token=bob.token)
    assert refused["data"]["markOpportunitySeen"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_seen_then_dismissed_and_never_offered_again(client, store):
    alice, carol = await make_member(client, "alice"), await make_member(client, "carol")
    await gql(client, PROFILE, {"skills": ["SEO"]}, token=alice.token)
    await connect(store, (alice, carol))
    await gql(client, POST, {"tags": ["SEO"]}, token=carol.token)
    await _round(store)
    [edge] = (await gql(client, OPPORTUNITIES, token=alice.token))["data"]["opportunities"]["edges"]
    opportunity_id = edge["node"]["id"]

    for _ in range(2):  # a second click changes nothing
        seen = await gql(client, SEEN, {"id": opportunity_id}, token=alice.token)
        assert seen["data"]["markOpportunitySeen"] == {
            "opportunity": {"status": "SEEN"},
            "userErrors": [],
        }
    dismissed = await gql(client, DISMISS, {"id": opportunity_id}, token=alice.token)
    assert dismissed["data"]["dismissOpportunity"]["opportunity"] == {"status": "DISMISSED"}
    again = await gql(client, DISMISS, {"id": opportunity_id}, token=alice.token)
    assert again["data"]["dismissOpportunity"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    open_ones = await gql(client, OPPORTUNITIES, {"status": ["NEW", "SEEN"]}, token=alice.token)
    assert open_ones["data"]["opportunities"]["edges"] == []

    # two NOT_RELEVANT dismissals of carol's asks: her next one is not offered to alice
    await gql(client, POST, {"tags": ["SEO", "Ads"]}, token=carol.token)
    await _round(store)
    listed = (await gql(client, OPPORTUNITIES, {"status": ["NEW"]}, token=alice.token))["data"]
    [second] = listed["opportunities"]["edges"]
    await gql(client, DISMISS, {"id": second["node"]["id"]}, token=alice.token)
    await gql(client, POST, {"tags": ["SEO", "Copy"]}, token=carol.token)
    await _round(store)
    listed = (await gql(client, OPPORTUNITIES, {"status": ["NEW"]}, token=alice.token))["data"]
    assert listed["opportunities"]["edges"] == []


async def test_opportunities_need_a_viewer(client):
    body = await gql(client, OPPORTUNITIES)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
