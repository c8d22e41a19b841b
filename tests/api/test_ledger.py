"""Karma and IOUs through GraphQL, as two members see them: bounties held and paid, tips,
gifts, refunds, IOUs issued, settled, forgiven and called in, and retried mutations."""

from __future__ import annotations

from sqlalchemy import select

from domain.events import OutboxEvent
from domain.marketplace import requests as help_requests
from tests.api.graphql import LOG_IN, gql
from tests.api.test_intros import ACCEPT as INTRO_ACCEPT
from tests.api.test_intros import FORWARD as INTRO_FORWARD
from tests.api.test_intros import asked, connect, make_member, step
from tests.api.test_offers import ACCEPT, OFFER, post
from tests.api.test_relationships import member
from tests.conftest import PASSWORD

KARMA = """
query {
  viewer {
    karma {
      balance available held
      statement(first: 10) {
        nodes { amount change balanceAfter reason memo counterparty { handle } }
        pageInfo { hasNextPage endCursor }
      }
    }
    reciprocity { band helpGiven helpReceived karmaEarned karmaSpent iousHeld iousOwed }
  }
}
"""
COMPLETE = """
mutation($input: CompleteHelpInput!) {
  completeHelp(input: $input) {
    offer { id status settlement } userErrors { field code message }
  }
}
"""
SEND = """
mutation($input: SendKarmaInput!) {
  sendKarma(input: $input) {
    transfer { id amount change balanceAfter reason memo counterparty { handle } }
    userErrors { field code message }
  }
}
"""
IOUS = """
query($role: IouRole) {
  viewer {
    ious(role: $role) {
      nodes {
        id status resolution value reason debtor { handle } creditor { handle }
        calledInFor { id }
      }
    }
  }
}
"""
IOU_COMMAND = """
mutation($id: ID!, $key: String) {
  %s(input: {iouId: $id, idempotencyKey: $key}) {
    iou { id status resolution } userErrors { field code message }
  }
}
"""
CALL_IN = """
mutation($id: ID!, $request: ID!) {
  callInIou(input: {iouId: $id, helpRequestId: $request}) {
    iou { status calledInFor { id } } userErrors { field code message }
  }
}
"""


async def karma(client, someone):
    body = await gql(client, KARMA, token=someone["token"])
    return body["data"]["viewer"]


async def helped(client, author, helper, **posted):
    """Post a request, have ``helper`` offer and the author accept; return both ids."""
    request_id = await post(client, author, **posted)
    offer = (await gql(client, OFFER, {"id": request_id}, token=helper["token"]))["data"]
    offer_id = offer["offerHelp"]["offer"]["id"]
    accepted = (await gql(client, ACCEPT, {"id": offer_id}, token=author["token"]))["data"]
    assert accepted["acceptOffer"]["userErrors"] == []
    return request_id, offer_id


async def complete(client, author, offer_id, **fields):
    body = await gql(
        client, COMPLETE, {"input": {"offerId": offer_id, **fields}}, token=author["token"]
    )
    return body["data"]["completeHelp"]


async def test_a_bounty_is_held_then_paid_with_a_tip_and_a_retry_pays_nothing_twice(client):
    carol, alice = await member(client, "carol"), await member(client, "alice")
    assert (await karma(client, carol))["karma"]["available"] == 50  # the welcome grant

    request_id, offer_id = await helped(client, carol, alice, bounty=30)
    held = (await karma(client, carol))["karma"]
    assert (held["available"], held["held"], held["balance"]) == (20, 30, 50)

    key = {"idempotencyKey": "complete-1"}
    done = await complete(client, carol, offer_id, settlement="BOUNTY", tip=5, **key)
    assert done["userErrors"] == []
    assert done["offer"]["status"] == "COMPLETED"
    # the same click again, with its key: the first outcome, nothing moved twice
    again = await complete(client, carol, offer_id, settlement="BOUNTY", tip=5, **key)
    assert again == done
    # the same key for something else is refused
    other = await complete(client, carol, offer_id, settlement="THANKS", **key)
    assert other["userErrors"][0]["code"] == "CONFLICT"
    assert other["userErrors"][0]["field"] == ["input", "idempotencyKey"]

    alice_now = await karma(client, alice)
    assert alice_now["karma"]["available"] == 85
    lines = alice_now["karma"]["statement"]["nodes"]
    assert [(line["reason"], line["change"], line["balanceAfter"]) for line in lines] == [
        ("TIP", 5, 85),
        ("BOUNTY_AWARD", 30, 80),
        ("WELCOME", 50, 50),
    ]
    assert lines[0]["counterparty"] == {"handle": "carol"}
    assert alice_now["reciprocity"]["helpGiven"] == 1
    assert alice_now["reciprocity"]["karmaEarned"] == 35
    carol_now = await karma(client, carol)
    assert carol_now["karma"] == {**carol_now["karma"], "available": 15, "held": 0}
    assert carol_now["reciprocity"]["helpReceived"] == 1
    assert carol_now["reciprocity"]["karmaSpent"] == 35
    assert carol_now["reciprocity"]["band"] == "NEW"

    # karma and IOUs are the member's alone; reciprocity shows with the profile
    seen = await gql(
        client,
        "query($h: String!) { member(handle: $h) { karma { balance } ious { nodes { id } } "
        "reciprocity { helpGiven } } }",
        {"h": "alice"},
        token=carol["token"],
    )
    assert seen["data"]["member"] == {"karma": None, "ious": None, "reciprocity": {"helpGiven": 1}}
    node = await gql(
        client,
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": request_id},
        token=carol["token"],
    )
    assert node["data"]["node"] == {"id": request_id}


async def test_a_bounty_the_author_cannot_cover_is_refused_and_nothing_is_posted(client):
    carol = await member(client, "carol")
    body = await gql(
        client,
        """mutation($input: PostHelpRequestInput!) {
          postHelpRequest(input: $input) { helpRequest { id } userErrors { field code message } }
        }""",
        {
            "input": {
                "title": "Need SEO advice for our launch",
                "kind": "ADVICE",
                "audience": {"scope": "PUBLIC"},
                "bounty": 80,
            }
        },
        token=carol["token"],
    )
    payload = body["data"]["postHelpRequest"]
    assert payload["helpRequest"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "INSUFFICIENT_KARMA"
    assert error["field"] == ["input", "bounty"]
    assert "50 available" in error["message"]
    mine = await gql(
        client, "query { viewer { helpRequests { totalCount } } }", token=carol["token"]
    )
    assert mine["data"]["viewer"]["helpRequests"]["totalCount"] == 0
    assert (await karma(client, carol))["karma"]["available"] == 50


async def test_cancelling_returns_the_bounty_once(client):
    carol = await member(client, "carol")
    request_id = await post(client, carol, bounty=20)
    cancel = """mutation($id: ID!) {
      cancelHelpRequest(input: {helpRequestId: $id, idempotencyKey: "cancel-1"}) {
        helpRequest { status } userErrors { code }
      }
    }"""
    for _ in range(2):  # a retry with the key answers as the first time did
        body = await gql(client, cancel, {"id": request_id}, token=carol["token"])
        assert body["data"]["cancelHelpRequest"] == {
            "helpRequest": {"status": "CANCELLED"},
            "userErrors": [],
        }
    now = (await karma(client, carol))["karma"]
    assert (now["available"], now["held"]) == (50, 0)
    assert [line["reason"] for line in now["statement"]["nodes"]] == [
        "BOUNTY_REFUND",
        "BOUNTY_HOLD",
        "WELCOME",
    ]


async def test_send_karma_moves_it_once_per_key_and_refuses_what_cannot_be_covered(client):
    carol, alice = await member(client, "carol"), await member(client, "alice")
    gift = {
        "toMemberId": alice["id"],
        "amount": 10,
        "memo": "for the intro",
        "idempotencyKey": "g1",
    }
    first = (await gql(client, SEND, {"input": gift}, token=carol["token"]))["data"]["sendKarma"]
    assert first["userErrors"] == []
    assert first["transfer"]["change"] == -10
    assert first["transfer"]["balanceAfter"] == 40
    assert first["transfer"]["counterparty"] == {"handle": "alice"}
    again = (await gql(client, SEND, {"input": gift}, token=carol["token"]))["data"]["sendKarma"]
    assert again == first
    assert (await karma(client, alice))["karma"]["available"] == 60

    too_much = {**gift, "amount": 45, "idempotencyKey": "g2"}
    refused = (await gql(client, SEND, {"input": too_much}, token=carol["token"]))["data"]
    assert refused["sendKarma"]["userErrors"][0]["code"] == "INSUFFICIENT_KARMA"
    # once carol can cover it, the same key still answers as it did: refused
    back = {"toMemberId": carol["id"], "amount": 20, "idempotencyKey": "g3"}
    await gql(client, SEND, {"input": back}, token=alice["token"])
    replay = (await gql(client, SEND, {"input": too_much}, token=carol["token"]))["data"]
    assert replay == refused
    fresh = {**too_much, "idempotencyKey": "g4"}
    paid = (await gql(client, SEND, {"input": fresh}, token=carol["token"]))["data"]
    assert paid["sendKarma"]["userErrors"] == []

    to_self = {"toMemberId": carol["id"], "amount": 1}
    refused = (await gql(client, SEND, {"input": to_self}, token=carol["token"]))["data"]
    assert refused["sendKarma"]["userErrors"][0]["code"] == "INVALID_INPUT"
    # a key is the member's own: alice may use "g1" too
    hers = {"toMemberId": carol["id"], "amount": 1, "idempotencyKey": "g1"}
    mine = (await gql(client, SEND, {"input": hers}, token=alice["token"]))["data"]
    assert mine["sendKarma"]["userErrors"] == []


async def iou_ids(client, someone, role):
    body = await gql(client, IOUS, {"role": role}, token=someone["token"])
    return body["data"]["viewer"]["ious"]["nodes"]


async def test_ious_are_issued_settled_forgiven_and_called_in_by_the_right_member(client):
    carol, alice = await member(client, "carol"), await member(client, "alice")

    # carol asks on an IOU twice, and alice helps both times
    offers = []
    for _ in range(2):
        _, offer_id = await helped(client, carol, alice, offersIou=True)
        done = await complete(client, carol, offer_id, settlement="IOU")
        assert done["userErrors"] == []
        offers.append(offer_id)
    owed = await iou_ids(client, carol, "OWED")
    assert [(i["status"], i["debtor"]["handle"], i["creditor"]["handle"]) for i in owed] == [
        ("OUTSTANDING", "carol", "alice")
    ] * 2
    assert owed[0]["reason"] == "for help with “Need SEO advice for our launch”"
    assert await iou_ids(client, carol, "HELD") == []
    newer, older = owed[0]["id"], owed[1]["id"]

    # only the debtor settles, in karma; a second settle says it is settled
    settle = IOU_COMMAND % "settleIou"
    refused = (await gql(client, settle, {"id": older}, token=alice["token"]))["data"]
    assert refused["settleIou"]["userErrors"][0]["code"] == "FORBIDDEN"
    settled = await gql(client, settle, {"id": older, "key": "s1"}, token=carol["token"])
    assert settled["data"]["settleIou"]["iou"]["resolution"] == "KARMA"
    assert (await karma(client, alice))["karma"]["available"] == 60
    twice = (await gql(client, settle, {"id": older}, token=carol["token"]))["data"]
    assert twice["settleIou"]["userErrors"][0]["code"] == "INVALID_TRANSITION"

    # only the creditor calls one in, on a request of their own that the debtor can see
    alice_request = await post(client, alice)
    call = await gql(client, CALL_IN, {"id": newer, "request": alice_request}, token=carol["token"])
    assert call["data"]["callInIou"]["userErrors"][0]["code"] == "FORBIDDEN"
    call = await gql(client, CALL_IN, {"id": newer, "request": alice_request}, token=alice["token"])
    assert call["data"]["callInIou"]["iou"]["calledInFor"] == {"id": alice_request}

    # carol helps alice back on that request: the IOU is settled by the help itself
    offer = (await gql(client, OFFER, {"id": alice_request}, token=carol["token"]))["data"]
    back_offer = offer["offerHelp"]["offer"]["id"]
    await gql(client, ACCEPT, {"id": back_offer}, token=alice["token"])
    assert (await complete(client, alice, back_offer, settlement="THANKS"))["userErrors"] == []
    held = await iou_ids(client, alice, "HELD")
    assert [(i["status"], i["resolution"]) for i in held] == [
        ("SETTLED", "HELPED_BACK"),
        ("SETTLED", "KARMA"),
    ]

    # a third IOU, forgiven by its creditor alone
    _, offer_id = await helped(client, carol, alice, offersIou=True)
    await complete(client, carol, offer_id, settlement="IOU")
    [third] = [i for i in await iou_ids(client, carol, "OWED") if i["status"] == "OUTSTANDING"]
    forgive = IOU_COMMAND % "forgiveIou"
    refused = (await gql(client, forgive, {"id": third["id"]}, token=carol["token"]))["data"]
    assert refused["forgiveIou"]["userErrors"][0]["code"] == "FORBIDDEN"
    forgiven = (await gql(client, forgive, {"id": third["id"]}, token=alice["token"]))["data"]
    assert forgiven["forgiveIou"]["iou"] == {
        "id": third["id"],
        "status": "FORGIVEN",
        "resolution": "FORGIVEN",
    }
    # (given + 2) / (received + 2): alice 5/3 is a giver, carol 3/5 a taker
    figures = (await karma(client, alice))["reciprocity"]
    assert (figures["helpGiven"], figures["helpReceived"], figures["band"]) == (3, 1, "GIVER")
    figures = (await karma(client, carol))["reciprocity"]
    assert (figures["helpGiven"], figures["helpReceived"], figures["band"]) == (1, 3, "TAKER")
    assert (figures["iousOwed"], figures["karmaSpent"]) == (0, 10)
    # nobody else can read an IOU, even by id
    eve = await member(client, "eve")
    hidden = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": newer}, token=eve["token"]
    )
    assert hidden["data"]["node"] is None


async def test_an_expired_request_returns_its_bounty(client, store, clock):
    carol = await member(client, "carol")
    await post(client, carol, bounty=25)
    assert (await karma(client, carol))["karma"]["held"] == 25
    clock.advance(days=15)
    async with store.transaction() as tx:
        assert await help_requests.expire_help_requests(tx, tx.now) == 1
        await tx.commit()
    log_in = {"input": {"email": "carol@example.com", "password": PASSWORD}}
    carol["token"] = (await gql(client, LOG_IN, log_in))["data"]["logIn"]["accessToken"]
    now = (await karma(client, carol))["karma"]
    assert (now["available"], now["held"]) == (50, 0)
    assert now["statement"]["nodes"][0]["reason"] == "BOUNTY_REFUND"


async def test_a_broker_earns_a_share_per_accepted_intro_up_to_a_weekly_cap(client, store):
    ada, bob = await make_member(client, "ada"), await make_member(client, "bob")
    targets = [await make_member(client, f"target{n}") for n in range(6)]
    await connect(store, (ada, bob), *((bob, target) for target in targets))
    for target in targets:
        intro_id = await asked(client, ada, bob, target)
        assert (await step(client, INTRO_FORWARD, bob, intro_id))["userErrors"] == []
        assert (await step(client, INTRO_ACCEPT, target, intro_id))["userErrors"] == []

    bob_now = await karma(client, {"token": bob.token})
    shares = [
        line["change"]
        for line in bob_now["karma"]["statement"]["nodes"]
        if line["reason"] == "BROKER_SHARE"
    ]
    assert shares == [5] * 5  # the sixth intro is past the weekly cap of 25
    assert bob_now["karma"]["available"] == 50 + 25
    assert bob_now["reciprocity"]["karmaEarned"] == 25
    async with store.reader() as session:
        moved = await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == "karma.transferred")
        )
        reasons = [payload["reason"] for payload in moved]
    assert reasons.count("BROKER_SHARE") == 5
    assert reasons.count("WELCOME") == 8
