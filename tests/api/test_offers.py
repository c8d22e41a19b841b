"""Offers through GraphQL, two members at a time, with double clicks."""

from __future__ import annotations

from tests.api.graphql import gql
from tests.api.test_relationships import member

POST = """
mutation($input: PostHelpRequestInput!) {
  postHelpRequest(input: $input) { helpRequest { id status } userErrors { field code message } }
}
"""
OFFER = """
mutation($id: ID!) {
  offerHelp(input: {helpRequestId: $id, message: "I did this for three launches"}) {
    offer { id status helper { handle } helpRequest { id } } userErrors { field code message }
  }
}
"""
ACCEPT = """
mutation($id: ID!) {
  acceptOffer(input: {offerId: $id}) { offer { status } userErrors { field code message } }
}
"""
COMPLETE = """
mutation($id: ID!, $settlement: Settlement!) {
  completeHelp(input: {offerId: $id, settlement: $settlement, note: "Thanks!"}) {
    offer { status settlement helpRequest { status } } userErrors { field code message }
  }
}
"""
REQUEST = """
query($id: ID!) {
  node(id: $id) {
    ... on HelpRequest { status viewerCanOffer offers { totalCount nodes { status } } }
  }
}
"""


async def post(client, author, **fields):
    body = await gql(
        client,
        POST,
        {
            "input": {
                "title": "Need SEO advice for our launch",
                "kind": "ADVICE",
                "tags": ["seo"],
                "audience": {"scope": "PUBLIC"},
                **fields,
            }
        },
        token=author["token"],
    )
    payload = body["data"]["postHelpRequest"]
    assert payload["userErrors"] == []
    return payload["helpRequest"]["id"]


async def test_offer_accept_complete_and_double_clicks_change_nothing(client):
    carol, alice, eve = [await member(client, h) for h in ("carol", "alice", "eve")]
    request_id = await post(client, carol, bounty=10)

    seen = (await gql(client, REQUEST, {"id": request_id}, token=alice["token"]))["data"]["node"]
    assert seen["viewerCanOffer"] is True
    offered = (await gql(client, OFFER, {"id": request_id}, token=alice["token"]))["data"]
    offer = offered["offerHelp"]["offer"]
    assert offer["status"] == "PENDING"
    assert offer["helper"]["handle"] == "alice"
    again = (await gql(client, OFFER, {"id": request_id}, token=alice["token"]))["data"]
    assert again["offerHelp"]["userErrors"][0]["code"] == "ALREADY_EXISTS"
    own = (
        """query($id: ID!) { node(id: $id) { ... on HelpRequest { viewerOffer { id status } } } }"""
    )
    mine = (await gql(client, own, {"id": request_id}, token=alice["token"]))["data"]["node"]
    assert mine["viewerOffer"] == {"id": offer["id"], "status": "PENDING"}
    nobody = (await gql(client, own, {"id": request_id}, token=eve["token"]))["data"]["node"]
    assert nobody["viewerOffer"] is None
    seen = (await gql(client, REQUEST, {"id": request_id}, token=alice["token"]))["data"]["node"]
    assert seen["viewerCanOffer"] is False

    # the author sees every offer; someone else sees none of alice's
    author_view = (await gql(client, REQUEST, {"id": request_id}, token=carol["token"]))["data"]
    assert author_view["node"]["offers"]["totalCount"] == 1
    other_view = (await gql(client, REQUEST, {"id": request_id}, token=eve["token"]))["data"]
    assert other_view["node"]["offers"]["totalCount"] == 0

    # only the author accepts; a second click says the offer is already accepted
    refused = (await gql(client, ACCEPT, {"id": offer["id"]}, token=alice["token"]))["data"]
    assert refused["acceptOffer"]["userErrors"][0]["code"] == "FORBIDDEN"
    accepted = (await gql(client, ACCEPT, {"id": offer["id"]}, token=carol["token"]))["data"]
    assert accepted["acceptOffer"]["offer"]["status"] == "ACCEPTED"
    twice = (await gql(client, ACCEPT, {"id": offer["id"]}, token=carol["token"]))["data"]
    error = twice["acceptOffer"]["userErrors"][0]
    assert error["code"] == "INVALID_TRANSITION"
    assert "accepted" in error["message"]

    done = (
        await gql(
            client, COMPLETE, {"id": offer["id"], "settlement": "BOUNTY"}, token=carol["token"]
        )
    )["data"]["completeHelp"]
    assert done["userErrors"] == []
    assert done["offer"]["settlement"] == "BOUNTY"
    assert done["offer"]["helpRequest"]["status"] == "FULFILLED"
    redo = (
        await gql(
            client, COMPLETE, {"id": offer["id"], "settlement": "BOUNTY"}, token=carol["token"]
        )
    )["data"]["completeHelp"]
    assert redo["userErrors"][0]["code"] == "INVALID_TRANSITION"


async def test_an_iou_cannot_settle_a_request_that_offered_none(client):
    carol, alice = await member(client, "carol"), await member(client, "alice")
    request_id = await post(client, carol)
    offer_id = (await gql(client, OFFER, {"id": request_id}, token=alice["token"]))["data"][
        "offerHelp"
    ]["offer"]["id"]
    await gql(client, ACCEPT, {"id": offer_id}, token=carol["token"])
    refused = (
        await gql(client, COMPLETE, {"id": offer_id, "settlement": "IOU"}, token=carol["token"])
    )["data"]["completeHelp"]
    assert refused["userErrors"][0]["field"] == ["input", "settlement"]
    assert refused["userErrors"][0]["code"] == "INVALID_INPUT"


async def test_a_request_for_connections_cannot_be_offered_on_by_a_stranger(client):
    carol, eve = await member(client, "carol"), await member(client, "eve")
    request_id = await post(client, carol, audience={"scope": "CONNECTIONS"})
    refused = (await gql(client, OFFER, {"id": request_id}, token=eve["token"]))["data"]
    assert refused["offerHelp"]["userErrors"][0]["code"] == "NOT_FOUND"
    malformed = (await gql(client, OFFER, {"id": "nope"}, token=eve["token"]))["data"]
    assert malformed["offerHelp"]["userErrors"][0]["field"] == ["input", "helpRequestId"]


async def test_an_authors_profile_lists_only_the_requests_the_viewer_may_see(client):
    carol, eve = await member(client, "carol"), await member(client, "eve")
    await post(client, carol, title="Public ask about SEO basics")
    await post(
        client, carol, title="Ask for my connections only", audience={"scope": "CONNECTIONS"}
    )
    query = '{ member(handle: "carol") { helpRequests { totalCount nodes { title } } } }'

    mine = (await gql(client, query, token=carol["token"]))["data"]["member"]["helpRequests"]
    theirs = (await gql(client, query, token=eve["token"]))["data"]["member"]["helpRequests"]
    anonymous = (await gql(client, query))["data"]["member"]["helpRequests"]

    assert mine["totalCount"] == 2
    assert [node["title"] for node in theirs["nodes"]] == ["Public ask about SEO basics"]
    assert theirs == anonymous
