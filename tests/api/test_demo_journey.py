"""The demo network's known accounts, as a newcomer meets them in the playground."""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain.demo.seeding import DEMO_PASSWORD, Result, seed_demo, story_end
from domain.demo.story import Policies
from tests.api.graphql import LOG_IN, gql

ALICE = """
query {
  viewer { handle skills { slug } }
  member(handle: "carol") { id degree displayName }
}
"""
PATHS = """
query($to: ID!) { introPaths(to: $to) { hops { handle } brokers { handle } strength } }
"""
CAROL = "query { viewer { handle karma { available } } }"
POST = """
mutation {
  postHelpRequest(input: {title: "SEO for the SaaS Summit Lisbon website", kind: ADVICE,
    tags: ["seo"], audience: {scope: NETWORK}, bounty: 10}) {
    helpRequest { id status bounty }
    userErrors { field code message }
  }
}
"""
FEED = """
query { helpRequests(filter: {tags: ["seo"]}) { edges { node { title author { handle } } } } }
"""


async def _log_in(client, handle: str) -> str:
    body = await gql(
        client,
        LOG_IN,
        {"input": {"email": f"{handle}@example.com", "password": DEMO_PASSWORD}},
    )
    payload: dict[str, Any] = body["data"]["logIn"]
    assert payload["userErrors"] == []
    return str(payload["accessToken"])


async def test_alice_reaches_carol_through_bob_and_sees_her_seo_bounty(client, runtime):
    seeding = await seed_demo(
        runtime.store,
        passwords=runtime.passwords,
        policies=Policies(
            auth=runtime.auth_policy,
            market=runtime.market_policy,
            intros_per_broker_per_week=runtime.settings.intro_requests_per_broker_per_week,
        ),
        end=story_end(dt.datetime.now(dt.UTC)),
        members=40,
    )
    assert seeding.result is Result.SEEDED

    # Alice signs in with the demo password: she gives SEO, and Carol is two hops away.
    alice = await _log_in(client, "alice")
    seen = (await gql(client, ALICE, token=alice))["data"]
    assert seen["viewer"]["handle"] == "alice"
    assert "seo" in [tag["slug"] for tag in seen["viewer"]["skills"]]
    carol = seen["member"]
    assert carol["degree"] == 2

    paths = (await gql(client, PATHS, {"to": carol["id"]}, token=alice))["data"]["introPaths"]
    assert [hop["handle"] for hop in paths[0]["hops"]] == ["alice", "bob", "carol"]
    # Bob is the only one who knows both of them.
    two_hops = [path for path in paths if len(path["hops"]) == 3]
    assert [[b["handle"] for b in path["brokers"]] for path in two_hops] == [["bob"]]

    # Carol can afford a bounty, and posts one for SEO help.
    carol_token = await _log_in(client, "carol")
    karma = (await gql(client, CAROL, token=carol_token))["data"]["viewer"]["karma"]
    assert karma["available"] >= 10
    posted = (await gql(client, POST, token=carol_token))["data"]["postHelpRequest"]
    assert posted["userErrors"] == []
    assert posted["helpRequest"]["status"] == "OPEN"

    # Alice, in Carol's network through Bob, sees it among the SEO asks.
    feed = (await gql(client, FEED, token=alice))["data"]["helpRequests"]["edges"]
    assert {
        "title": "SEO for the SaaS Summit Lisbon website",
        "author": {"handle": "carol"},
    } in [edge["node"] for edge in feed]
