"""Help requests through GraphQL: posting to an audience, who sees them, editing,
cancelling, expiring, and the feed."""

from __future__ import annotations

import base64
import datetime as dt

from sqlalchemy import select

from domain.events import OutboxEvent
from domain.marketplace import requests as help_requests
from domain.marketplace.models import Offer
from domain.marketplace.rules import OfferStatus
from tests.api.graphql import gql
from tests.api.test_privacy import update_profile
from tests.api.test_relationships import BLOCK, connect, member, outbox_types

FIELDS = """
  id title details kind status bounty offersIou maxHelpers expiresAt viewerCanOffer
  author { handle } tags { slug label }
  audience { scope circles { slug } members { handle } }
"""
POST = f"""
mutation($input: PostHelpRequestInput!) {{
  postHelpRequest(input: $input) {{
    helpRequest {{ {FIELDS} }} userErrors {{ field code message }}
  }}
}}
"""
EDIT = f"""
mutation($input: EditHelpRequestInput!) {{
  editHelpRequest(input: $input) {{
    helpRequest {{ {FIELDS} }} userErrors {{ field code message }}
  }}
}}
"""
CANCEL = f"""
mutation($id: ID!) {{
  cancelHelpRequest(input: {{helpRequestId: $id}}) {{
    helpRequest {{ {FIELDS} }} userErrors {{ field code message }}
  }}
}}
"""
FEED = """
query($filter: HelpRequestFilter, $first: Int) {
  helpRequests(filter: $filter, first: $first) {
    totalCount
    edges { node { id title author { handle } tags { slug } viewerCanOffer } }
  }
}
"""
NODE = """query($id: ID!) { node(id: $id) { ... on HelpRequest { id title } } }"""
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on HelpRequest { id } } }"""
CREATE_CIRCLE = """
mutation($name: String!) {
  createCircle(input: {name: $name}) { circle { id slug } userErrors { code } }
}
"""
JOIN_CIRCLE = """
mutation($id: ID!) { joinCircle(input: {circleId: $id}) { userErrors { code } } }
"""


async def post(client, author, *, title="Need advice on SEO", audience=None, **fields):
    body = await gql(
        client,
        POST,
        {
            "input": {
                "title": title,
                "kind": fields.pop("kind", "ADVICE"),
                "audience": audience or {"scope": "PUBLIC"},
                **fields,
            }
        },
        token=author["token"],
    )
    assert "errors" not in body, body
    return body["data"]["postHelpRequest"]


async def posted(client, author, **fields):
    payload = await post(client, author, **fields)
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["helpRequest"]


async def feed(client, viewer, first=20, **filter_):
    body = await gql(
        client, FEED, {"filter": filter_, "first": first}, token=viewer and viewer["token"]
    )
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["helpRequests"]["edges"]]


async def titles(client, viewer, **filter_):
    return sorted(node["title"] for node in await feed(client, viewer, **filter_))


async def sees(client, viewer, request_id):
    """Tell whether every read path shows the request to the viewer, and check they agree."""
    token = viewer and viewer["token"]
    in_feed = request_id in [node["id"] for node in await feed(client, viewer)]
    node = (await gql(client, NODE, {"id": request_id}, token=token))["data"]["node"]
    nodes = (await gql(client, NODES, {"ids": [request_id]}, token=token))["data"]["nodes"]
    assert in_feed == (node is not None) == (nodes[0] is not None)
    return in_feed


async def circle(client, owner, name, *joiners):
    body = await gql(client, CREATE_CIRCLE, {"name": name}, token=owner["token"])
    made = body["data"]["createCircle"]["circle"]
    for joiner in joiners:
        body = await gql(client, JOIN_CIRCLE, {"id": made["id"]}, token=joiner["token"])
        assert body["data"]["joinCircle"]["userErrors"] == []
    return made


async def test_post_shows_the_request_to_its_author_with_defaults_and_an_event(
    client, store, clock
):
    ada = await member(client, "ada")

    request = await posted(
        client,
        ada,
        title="  Need   advice on SEO  ",
        details="For a SaaS landing page",
        tags=["SEO", "Growth"],
        bounty=20,
        offersIou=True,
    )

    assert request["title"] == "Need advice on SEO"
    assert request["status"] == "OPEN"
    assert request["author"]["handle"] == "ada"
    assert [tag["slug"] for tag in request["tags"]] == ["seo", "growth"]
    assert request["bounty"] == 20
    assert request["offersIou"] is True
    assert request["maxHelpers"] == 1
    assert request["viewerCanOffer"] is False  # not on one's own request
    expires = dt.datetime.fromisoformat(request["expiresAt"])
    assert expires - clock.now == dt.timedelta(days=14)
    assert (await outbox_types(store))[-1] == "help_request.posted"
    async with store.reader() as session:
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.type == "help_request.posted")
        )
    assert event is not None
    assert event.payload["tags"] == ["seo", "growth"]
    assert event.payload["bounty"] == 20
    assert event.payload["scope"] == "PUBLIC"


async def test_every_bad_input_is_named(client):
    ada = await member(client, "ada")
    payload = await post(
        client,
        ada,
        title="Hi",
        bounty=0,
        maxHelpers=0,
        expiresAt="2000-01-01T00:00:00+00:00",
        audience={"scope": "CIRCLES"},
    )
    assert payload["helpRequest"] is None
    fields = {tuple(error["field"]): error["code"] for error in payload["userErrors"]}
    assert fields == {
        ("input", "title"): "INVALID_INPUT",
        ("input", "bounty"): "INVALID_INPUT",
        ("input", "maxHelpers"): "INVALID_INPUT",
        ("input", "expiresAt"): "INVALID_INPUT",
        ("input", "audience", "circleIds"): "INVALID_INPUT",
    }
    (bad_id,) = (await post(client, ada, audience={"scope": "MEMBERS", "memberIds": ["x"]}))[
        "userErrors"
    ]
    assert bad_id["field"] == ["input", "audience", "memberIds"]
    (empty,) = (await post(client, ada, audience={"scope": "MEMBERS"}))["userErrors"]
    assert empty["field"] == ["input", "audience", "memberIds"]
    (bad_tag,) = (await post(client, ada, tags=["!!"]))["userErrors"]
    assert bad_tag["field"] == ["input", "tags"]


async def test_audience_members_and_circles_must_be_the_authors_own(client):
    ada, bob, cy = (
        await member(client, "ada"),
        await member(client, "bob"),
        await member(client, "cyd"),
    )
    theirs = await circle(client, bob, "Bobs circle")
    (error,) = (
        await post(client, ada, audience={"scope": "CIRCLES", "circleIds": [theirs["id"]]})
    )["userErrors"]
    assert (error["field"], error["code"]) == (["input", "audience", "circleIds"], "INVALID_INPUT")

    await gql(client, BLOCK, {"id": ada["id"]}, token=cy["token"])
    (error,) = (await post(client, ada, audience={"scope": "MEMBERS", "memberIds": [cy["id"]]}))[
        "userErrors"
    ]
    assert (error["field"], error["code"]) == (["input", "audience", "memberIds"], "INVALID_INPUT")


async def test_each_audience_is_enforced_on_the_feed_node_and_nodes(client):
    # ada — bob — cy (cy is 2nd degree to ada); dee is a stranger in ada's circle
    ada, bob, cy, dee = [await member(client, handle) for handle in ("ada", "bob", "cyd", "deb")]
    await connect(client, ada, bob)
    await connect(client, bob, cy)
    club = await circle(client, ada, "Founders club", dee)

    public = await posted(client, ada, title="Public ask")
    network = await posted(client, ada, title="Network ask", audience={"scope": "NETWORK"})
    connections = await posted(
        client, ada, title="Connections ask", audience={"scope": "CONNECTIONS"}
    )
    circles = await posted(
        client, ada, title="Circle ask", audience={"scope": "CIRCLES", "circleIds": [club["id"]]}
    )
    chosen = await posted(
        client, ada, title="Chosen ask", audience={"scope": "MEMBERS", "memberIds": [dee["id"]]}
    )
    asks = [public, network, connections, circles, chosen]

    async def seen_by(viewer):
        return [ask["title"] for ask in asks if await sees(client, viewer, ask["id"])]

    assert await seen_by(ada) == [ask["title"] for ask in asks]
    assert await seen_by(bob) == ["Public ask", "Network ask", "Connections ask"]
    assert await seen_by(cy) == ["Public ask", "Network ask"]
    assert await seen_by(dee) == ["Public ask", "Circle ask", "Chosen ask"]
    assert await seen_by(None) == ["Public ask"]
    # The author alone sees whom they chose.
    assert circles["audience"]["circles"] == [{"slug": club["slug"]}]
    body = await gql(
        client,
        "query($id: ID!) { node(id: $id) {"
        " ... on HelpRequest { audience { scope members { handle } } } } }",
        {"id": chosen["id"]},
        token=dee["token"],
    )
    assert body["data"]["node"]["audience"] == {"scope": "MEMBERS", "members": None}

    # A block either way leaves only what everyone sees.
    await gql(client, BLOCK, {"id": ada["id"]}, token=bob["token"])
    assert await seen_by(bob) == ["Public ask"]
    await gql(client, BLOCK, {"id": dee["id"]}, token=ada["token"])
    assert await seen_by(dee) == ["Public ask"]


async def test_open_requests_are_capped(client):
    ada = await member(client, "ada")
    for number in range(5):
        await posted(client, ada, title=f"Ask number {number}")
    (error,) = (await post(client, ada, title="One too many"))["userErrors"]
    assert error["code"] == "LIMIT_EXCEEDED"

    first = (await feed(client, ada, first=1))[0]
    assert (await gql(client, CANCEL, {"id": first["id"]}, token=ada["token"]))["data"][
        "cancelHelpRequest"
    ]["userErrors"] == []
    await posted(client, ada, title="Room again")


async def test_edit_by_the_author_while_open_and_unoffered(client, store):
    ada, bob, cy = [await member(client, handle) for handle in ("ada", "bob", "cyd")]
    request = await posted(client, ada, title="Need advice on SEO", tags=["seo"])
    secret = await posted(client, ada, title="For connections", audience={"scope": "CONNECTIONS"})

    body = await gql(
        client,
        EDIT,
        {"input": {"helpRequestId": request["id"], "title": "Need advice on pricing", "tags": []}},
        token=ada["token"],
    )
    edited = body["data"]["editHelpRequest"]
    assert edited["userErrors"] == []
    assert edited["helpRequest"]["title"] == "Need advice on pricing"
    assert edited["helpRequest"]["tags"] == []
    assert edited["helpRequest"]["details"] is None
    assert (await outbox_types(store))[-1] == "help_request.edited"

    async def edit_as(actor, request_id):
        body = await gql(
            client,
            EDIT,
            {"input": {"helpRequestId": request_id, "title": "Hijacked title"}},
            token=actor["token"],
        )
        return body["data"]["editHelpRequest"]

    assert [e["code"] for e in (await edit_as(bob, request["id"]))["userErrors"]] == ["FORBIDDEN"]
    assert [e["code"] for e in (await edit_as(cy, secret["id"]))["userErrors"]] == ["NOT_FOUND"]

    # An offer on it freezes the wording.
    async with store.transaction() as tx:
        tx.session.add(
            Offer(
                help_request_id=int(_pk(request["id"])),
                helper_id=int(_pk(bob["id"])),
                status=OfferStatus.PENDING,
                created_at=tx.now,
            )
        )
        await tx.commit()
    (error,) = (await edit_as(ada, request["id"]))["userErrors"]
    assert error["code"] == "INVALID_TRANSITION"
    assert (await sees(client, ada, request["id"])) is True
    titles_now = await titles(client, ada)
    assert "Hijacked title" not in titles_now


async def test_cancel_by_the_author_once_and_the_live_offers_with_it(client, store):
    ada, bob = await member(client, "ada"), await member(client, "bob")
    request = await posted(client, ada)
    async with store.transaction() as tx:
        tx.session.add(
            Offer(
                help_request_id=int(_pk(request["id"])),
                helper_id=int(_pk(bob["id"])),
                status=OfferStatus.PENDING,
                created_at=tx.now,
            )
        )
        await tx.commit()

    wrong = (await gql(client, CANCEL, {"id": request["id"]}, token=bob["token"]))["data"][
        "cancelHelpRequest"
    ]
    assert [e["code"] for e in wrong["userErrors"]] == ["FORBIDDEN"]

    done = (await gql(client, CANCEL, {"id": request["id"]}, token=ada["token"]))["data"][
        "cancelHelpRequest"
    ]
    assert done["userErrors"] == []
    assert done["helpRequest"]["status"] == "CANCELLED"
    async with store.reader() as session:
        assert list(await session.scalars(select(Offer.status))) == [OfferStatus.CANCELLED]
    assert (await outbox_types(store))[-1] == "help_request.cancelled"

    again = (await gql(client, CANCEL, {"id": request["id"]}, token=ada["token"]))["data"][
        "cancelHelpRequest"
    ]
    (error,) = again["userErrors"]
    assert error["code"] == "INVALID_TRANSITION"
    assert "cancelled" in error["message"]
    assert (await outbox_types(store)).count("help_request.cancelled") == 1

    body = await gql(
        client,
        EDIT,
        {"input": {"helpRequestId": request["id"], "title": "Edited after cancel"}},
        token=ada["token"],
    )
    assert [e["code"] for e in body["data"]["editHelpRequest"]["userErrors"]] == [
        "INVALID_TRANSITION"
    ]


async def test_a_lapsed_request_shows_expired_then_is_recorded_once(client, store, clock):
    ada, bob = await member(client, "ada"), await member(client, "bob")
    lapses = clock.now + dt.timedelta(minutes=5)
    request = await posted(client, ada, expiresAt=lapses.isoformat())
    clock.advance(minutes=6)  # within the access token's life

    (node,) = await feed(client, bob)
    assert node["viewerCanOffer"] is False
    assert await titles(client, bob, status=["OPEN"]) == []
    assert await titles(client, bob, status=["EXPIRED"]) == ["Need advice on SEO"]
    (error,) = (await gql(client, CANCEL, {"id": request["id"]}, token=ada["token"]))["data"][
        "cancelHelpRequest"
    ]["userErrors"]
    assert error["code"] == "INVALID_TRANSITION"

    for expected in (1, 0):
        async with store.transaction() as tx:
            assert await help_requests.expire_help_requests(tx, tx.now) == expected
            await tx.commit()
    assert (await outbox_types(store)).count("help_request.expired") == 1


async def test_feed_filters(client):
    ada, bob, cy = [await member(client, handle) for handle in ("ada", "bob", "cyd")]
    await connect(client, ada, bob)
    await posted(client, bob, title="Landing page review", kind="FEEDBACK", tags=["copywriting"])
    await posted(client, bob, title="Hiring a Python developer", kind="HIRE", tags=["python"])
    await posted(client, cy, title="Intro to a seed investor", kind="INTRO", tags=["funding"])

    assert await titles(client, ada, kind=["HIRE", "INTRO"]) == [
        "Hiring a Python developer",
        "Intro to a seed investor",
    ]
    assert await titles(client, ada, tags=["Python"]) == ["Hiring a Python developer"]
    assert await titles(client, ada, query="landing rev") == ["Landing page review"]
    assert await titles(client, ada, query="copywriting") == ["Landing page review"]
    assert await titles(client, ada, fromNetwork=True) == [
        "Hiring a Python developer",
        "Landing page review",
    ]
    assert await titles(client, ada, authorId=cy["id"]) == ["Intro to a seed investor"]
    assert await titles(client, None, fromNetwork=True) == []
    newest_first = [node["title"] for node in await feed(client, ada)]
    assert newest_first[0] == "Intro to a seed investor"


async def test_feed_statements_do_not_grow_with_the_page(client, statements):
    authors = [await member(client, f"author{number}") for number in range(3)]
    viewer = await member(client, "reader")
    for number in range(12):
        await posted(client, authors[number % 3], title=f"Ask number {number}", tags=["seo", "ops"])

    async def count(first):
        statements.count, statements.counting = 0, True
        nodes = await feed(client, viewer, first=first)
        statements.counting = False
        assert len(nodes) == min(first, 12)
        return statements.count

    assert await count(5) == await count(50)


def _pk(global_id):
    from strawberry.relay import GlobalID

    return GlobalID.from_id(global_id).node_id


async def test_matching_me_keeps_requests_tagged_with_my_skills_or_gives(client):
    ada, bob = await member(client, "ada"), await member(client, "bob")
    await gql(
        client,
        'mutation { updateProfile(input: {skills: ["Python"]}) { userErrors { code } } }',
        token=ada["token"],
    )
    await gql(
        client,
        'mutation { addGive(input: {tag: "Copywriting"}) { userErrors { code } } }',
        token=ada["token"],
    )
    await posted(client, bob, title="Hiring a Python developer", tags=["python"])
    await posted(client, bob, title="Landing page review", tags=["copywriting"])
    await posted(client, bob, title="Intro to a seed investor", tags=["funding"])

    assert await titles(client, ada, matchingMe=True) == [
        "Hiring a Python developer",
        "Landing page review",
    ]
    assert await titles(client, bob, matchingMe=True) == []


PAGE = """
query($filter: HelpRequestFilter, $first: Int, $after: String, $last: Int, $before: String) {
  helpRequests(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { title } }
  }
}
"""


async def feed_page(client, viewer, **variables):
    body = await gql(client, PAGE, variables, token=viewer["token"])
    assert "errors" not in body, body
    connection = body["data"]["helpRequests"]
    return connection, [edge["node"]["title"] for edge in connection["edges"]]


async def feed_error(client, viewer, **variables):
    body = await gql(client, PAGE, variables, token=viewer["token"])
    assert body["data"] is None or body["data"]["helpRequests"] is None, body
    (error,) = body["errors"]
    return error["extensions"]["code"], error["message"]


async def asks(client, count, *, clock, prefix="Ask number"):
    """Post ``count`` public requests a second apart (every author may keep 5 open)."""
    authors = [await member(client, f"asker{n}") for n in range((count + 4) // 5)]
    for number in range(count):
        clock.advance(seconds=1)
        await posted(client, authors[number // 5], title=f"{prefix} {number}")
    return authors


async def test_feed_pages_neither_repeat_nor_skip_when_requests_are_posted_meanwhile(client, clock):
    authors = await asks(client, 7, clock=clock)
    reader = await member(client, "reader")

    seen: list[str] = []
    connection, titles_ = await feed_page(client, reader, first=3)
    seen += titles_
    assert connection["pageInfo"]["hasPreviousPage"] is False
    while connection["pageInfo"]["hasNextPage"]:
        clock.advance(seconds=1)
        await posted(client, authors[-1], title=f"Posted meanwhile {len(seen)}")
        connection, titles_ = await feed_page(
            client, reader, first=3, after=connection["pageInfo"]["endCursor"]
        )
        seen += titles_
        assert connection["pageInfo"]["hasPreviousPage"] is True

    assert seen == [f"Ask number {number}" for number in reversed(range(7))]
    assert connection["totalCount"] == 7 + 2  # the whole list, new requests included


async def test_requests_posted_in_the_same_instant_page_by_id(client, clock):
    author = await member(client, "ada")
    reader = await member(client, "reader")
    for number in range(4):  # the clock stands still: the same created_at
        await posted(client, author, title=f"Same instant {number}")

    one, first_titles = await feed_page(client, reader, first=2)
    two, second_titles = await feed_page(
        client, reader, first=2, after=one["pageInfo"]["endCursor"]
    )

    assert first_titles + second_titles == [f"Same instant {n}" for n in (3, 2, 1, 0)]
    assert two["pageInfo"]["hasNextPage"] is False


async def test_feed_pages_backward(client, clock):
    await asks(client, 6, clock=clock)
    reader = await member(client, "reader")
    one, first_titles = await feed_page(client, reader, first=2)
    two, _ = await feed_page(client, reader, first=2, after=one["pageInfo"]["endCursor"])
    three, third_titles = await feed_page(
        client, reader, first=2, after=two["pageInfo"]["endCursor"]
    )
    assert three["pageInfo"]["hasNextPage"] is False

    back, back_titles = await feed_page(
        client, reader, last=2, before=two["pageInfo"]["startCursor"]
    )
    assert back_titles == first_titles
    assert back["pageInfo"]["hasPreviousPage"] is False
    assert back["pageInfo"]["hasNextPage"] is True
    assert back["totalCount"] == 6

    middle, middle_titles = await feed_page(
        client, reader, last=3, before=three["pageInfo"]["endCursor"]
    )
    assert middle_titles == ["Ask number 3", "Ask number 2", "Ask number 1"]
    assert middle["pageInfo"]["hasPreviousPage"] is True
    assert middle["pageInfo"]["hasNextPage"] is True
    assert [edge["cursor"] for edge in middle["edges"]][-1] == three["edges"][0]["cursor"]

    # Nothing lies after the last item, nor before the first.
    _, after_end = await feed_page(client, reader, first=2, after=three["pageInfo"]["endCursor"])
    assert after_end == []
    newest, none_before = await feed_page(
        client, reader, last=2, before=one["pageInfo"]["startCursor"]
    )
    assert none_before == []
    assert newest["pageInfo"]["hasNextPage"] is True
    assert newest["pageInfo"]["hasPreviousPage"] is False
    assert newest["totalCount"] == 6
    assert third_titles == ["Ask number 1", "Ask number 0"]


async def test_forged_and_mismatched_feed_cursors_are_refused(client, clock):
    await asks(client, 3, clock=clock, prefix="Need advice on SEO")
    reader = await member(client, "reader")
    newest, _ = await feed_page(client, reader, first=1)
    ranked, _ = await feed_page(client, reader, first=1, filter={"query": "seo"})
    key_cursor = newest["pageInfo"]["endCursor"]
    rank_cursor = ranked["pageInfo"]["endCursor"]

    for forged in ("garbage", "azpub3QtYS1kYXRlfDE=", base64_of("k:2026-01-01T00:00:00|1")):
        code, message = await feed_error(client, reader, first=1, after=forged)
        assert (code, message) == ("INVALID_INPUT", "`after` is not a cursor this list gave out")
    code, message = await feed_error(client, reader, first=1, after=rank_cursor)
    assert code == "INVALID_INPUT"
    assert "paged by rank, and this one pages by date" in message
    code, message = await feed_error(
        client, reader, first=1, after=key_cursor, filter={"query": "seo"}
    )
    assert code == "INVALID_INPUT"
    assert "paged by date, and this one pages by rank" in message
    code, message = await feed_error(client, reader, last=1, before=rank_cursor)
    assert (code, "`before`" in message) == ("INVALID_INPUT", True)
    code, _ = await feed_error(client, reader, first=1, last=1, before=key_cursor)
    assert code == "INVALID_INPUT"


def base64_of(text):
    return base64.urlsafe_b64encode(text.encode()).decode()


async def test_the_feed_shows_tags_in_the_authors_order_and_hidden_authors_as_null(client):
    ada, bob, reader = [await member(client, handle) for handle in ("ada", "bob", "reader")]
    await update_profile(client, ada["token"], privacy={"profile": "CONNECTIONS"})
    await connect(client, ada, bob)
    await posted(client, ada, title="Need advice on SEO", tags=["SEO", "Growth", "Analytics"])

    for viewer, author in ((bob, {"handle": "ada"}), (reader, None)):
        (node,) = await feed(client, viewer)
        assert node["author"] == author
        assert [tag["slug"] for tag in node["tags"]] == ["seo", "growth", "analytics"]
