"""Intros through GraphQL: asked, forwarded by the broker, accepted or declined by the target,
expired, refused, capped per broker — and never a window onto a profile."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.app import create_app
from api.context import Runtime
from domain.events import OutboxEvent
from domain.network import intros, relationships
from domain.network.models import Block, Intro, IntroStatus, Relationship
from tests.api.graphql import LOG_IN, gql, sign_up
from tests.conftest import PASSWORD

INTRO_FIELDS = """
  id status viewerRole message brokerNote declineReason createdAt forwardedAt respondedAt
  expiresAt requester { handle } broker { handle } target { handle }
"""
PAYLOAD = f"intro {{ {INTRO_FIELDS} }} userErrors {{ field code message }}"
REQUEST = f"""
mutation($input: RequestIntroInput!) {{ requestIntro(input: $input) {{ {PAYLOAD} }} }}
"""
FORWARD = f"""
mutation($input: ForwardIntroInput!) {{ forwardIntro(input: $input) {{ {PAYLOAD} }} }}
"""
ACCEPT = f"""
mutation($input: AcceptIntroInput!) {{ acceptIntro(input: $input) {{ {PAYLOAD} }} }}
"""
DECLINE = f"""
mutation($input: DeclineIntroInput!) {{ declineIntro(input: $input) {{ {PAYLOAD} }} }}
"""
INTRO = f"query($id: ID!) {{ intro(id: $id) {{ {INTRO_FIELDS} }} }}"
NODE = "query($id: ID!) { node(id: $id) { id ... on Intro { status } } }"
INTROS = """
query($role: IntroRole, $status: [IntroStatus!], $first: Int, $after: String) {
  intros(role: $role, status: $status, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { status viewerRole requester { handle } broker { handle }
                          target { handle } } }
  }
}
"""
RELATIONSHIP = """
query($handle: String!) {
  member(handle: $handle) { relationship { status context introducedBy { handle } } }
}
"""
UPDATE_PROFILE = """
mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { userErrors { code } } }
"""


@dataclasses.dataclass
class Person:
    handle: str
    id: str  # the global id
    member_id: int
    token: str


def _global(type_name: str, node_id: int | str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


async def make_member(client, handle: str) -> Person:
    payload = await sign_up(client, handle)
    global_id = payload["viewer"]["id"]
    member_id = int(base64.b64decode(global_id).decode().partition(":")[2])
    return Person(handle, global_id, member_id, payload["accessToken"])


async def log_in_again(client, *people: Person) -> None:
    """Access tokens last minutes: after moving the clock by days, sign in afresh."""
    for person in people:
        body = await gql(
            client,
            LOG_IN,
            {"input": {"email": f"{person.handle}@example.com", "password": PASSWORD}},
        )
        person.token = body["data"]["logIn"]["accessToken"]


async def connect(store, *pairs: tuple[Person, Person]) -> None:
    async with store.transaction() as tx:
        for one, other in pairs:
            await relationships.connect(
                tx,
                member_id=one.member_id,
                other_id=other.member_id,
                context="met",
                introduced_by_id=None,
            )
        await tx.commit()


async def block(store, blocker: Person, blocked: Person) -> None:
    async with store.transaction() as tx:
        await relationships.block_member(
            tx, actor_id=blocker.member_id, member_id=blocked.member_id
        )
        await tx.commit()


async def request(
    client, requester: Person, broker: Person, target: Person, message: str = "Hi!", **extra: Any
) -> dict[str, Any]:
    variables = {"targetId": target.id, "brokerId": broker.id, "message": message, **extra}
    body = await gql(client, REQUEST, {"input": variables}, token=requester.token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["requestIntro"]
    return payload


async def asked(client, requester: Person, broker: Person, target: Person) -> str:
    payload = await request(client, requester, broker, target)
    assert payload["userErrors"] == [], payload
    intro_id: str = payload["intro"]["id"]
    return intro_id


async def step(
    client, document: str, person: Person, intro_id: str, **extra: Any
) -> dict[str, Any]:
    body = await gql(
        client, document, {"input": {"introId": intro_id, **extra}}, token=person.token
    )
    assert "errors" not in body, body
    payload: dict[str, Any] = next(iter(body["data"].values()))
    return payload


async def seen(client, person: Person | None, intro_id: str) -> Any:
    body = await gql(client, INTRO, {"id": intro_id}, token=person.token if person else None)
    assert "errors" not in body, body
    return body["data"]["intro"]


async def listed(client, person: Person, **variables: Any) -> dict[str, Any]:
    body = await gql(client, INTROS, variables, token=person.token)
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["intros"]
    return found


def refused(payload: dict[str, Any]) -> tuple[str, list[str] | None]:
    assert payload["intro"] is None, payload
    (error,) = payload["userErrors"]
    return error["code"], error["field"]


async def event_types(store) -> list[str]:
    async with store.reader() as session:
        return list(await session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)))


async def events_of(store, kind: str) -> list[dict[str, Any]]:
    async with store.reader() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.type == kind))
        return [row.payload for row in rows]


async def intro_rows(store) -> list[Intro]:
    async with store.reader() as session:
        return list(await session.scalars(select(Intro).order_by(Intro.id)))


@pytest.fixture
async def trio(client, store) -> tuple[Person, Person, Person]:
    """Ada and Cyd do not know each other; Bob knows both."""
    ada, bob, cyd = [await make_member(client, handle) for handle in ("ada", "bob", "cyd")]
    await connect(store, (ada, bob), (bob, cyd))
    return ada, bob, cyd


# The happy path


async def test_an_intro_forwarded_and_accepted_connects_the_two(client, store, trio):
    ada, bob, cyd = trio

    # given Ada asks Bob to introduce her to Cyd
    payload = await request(client, ada, bob, cyd, "I'm organising a SaaS conference")
    assert payload["userErrors"] == []
    intro = payload["intro"]
    intro_id = intro["id"]
    assert intro["status"] == "REQUESTED"
    assert intro["viewerRole"] == "REQUESTER"
    assert (intro["requester"], intro["broker"], intro["target"]) == (
        {"handle": "ada"},
        {"handle": "bob"},
        {"handle": "cyd"},
    )
    assert intro["expiresAt"] > intro["createdAt"]
    # Cyd does not learn of it until Bob forwards it
    assert await seen(client, cyd, intro_id) is None
    assert (await listed(client, cyd))["totalCount"] == 0
    assert (await seen(client, bob, intro_id))["viewerRole"] == "BROKER"

    # when Bob forwards it with a note
    forwarded = await step(client, FORWARD, bob, intro_id, note="Ada is great, you should talk")
    assert forwarded["userErrors"] == []
    assert forwarded["intro"]["status"] == "FORWARDED"
    assert forwarded["intro"]["forwardedAt"] is not None

    # then Cyd sees it, message and note included
    at_cyd = await seen(client, cyd, intro_id)
    assert at_cyd["viewerRole"] == "TARGET"
    assert at_cyd["message"] == "I'm organising a SaaS conference"
    assert at_cyd["brokerNote"] == "Ada is great, you should talk"

    # when Cyd accepts
    accepted = await step(client, ACCEPT, cyd, intro_id)
    assert accepted["userErrors"] == []
    assert accepted["intro"]["status"] == "ACCEPTED"
    assert accepted["intro"]["respondedAt"] is not None

    # then Ada and Cyd are connected, through Bob
    body = await gql(client, RELATIONSHIP, {"handle": "cyd"}, token=ada.token)
    assert body["data"]["member"]["relationship"] == {
        "status": "ACTIVE",
        "context": "introduced by Bob",
        "introducedBy": {"handle": "bob"},
    }
    assert (await seen(client, ada, intro_id))["status"] == "ACCEPTED"
    types = await event_types(store)
    for kind in ("intro.requested", "intro.forwarded", "connection.accepted", "intro.accepted"):
        assert kind in types
    assert types.index("intro.requested") < types.index("intro.forwarded")
    assert types.index("intro.forwarded") < types.index("intro.accepted")
    (credit,) = await events_of(store, "intro.accepted")
    assert credit["broker_id"] == bob.member_id
    assert (credit["requester_id"], credit["target_id"]) == (ada.member_id, cyd.member_id)
    connected = [
        event
        for event in await events_of(store, "connection.accepted")
        if event["relationship_id"] == credit["relationship_id"]
    ]
    assert connected[0]["introduced_by_id"] == bob.member_id
    # and Bob's ties with both grew stronger
    async with store.reader() as session:
        counts = list(
            await session.scalars(
                select(Relationship.intro_count).where(
                    (Relationship.low_member_id == bob.member_id)
                    | (Relationship.high_member_id == bob.member_id)
                )
            )
        )
    assert counts == [1, 1]


async def test_only_the_three_parties_see_an_intro(client, store, trio):
    ada, bob, cyd = trio
    eve = await make_member(client, "eve")
    intro_id = await asked(client, ada, bob, cyd)
    await step(client, FORWARD, bob, intro_id)

    for person, role in ((ada, "REQUESTER"), (bob, "BROKER"), (cyd, "TARGET")):
        assert (await seen(client, person, intro_id))["viewerRole"] == role
        body = await gql(client, NODE, {"id": intro_id}, token=person.token)
        assert body["data"]["node"] == {"id": intro_id, "status": "FORWARDED"}
    assert await seen(client, eve, intro_id) is None
    assert await seen(client, None, intro_id) is None
    assert (await gql(client, NODE, {"id": intro_id}, token=eve.token))["data"]["node"] is None
    assert (await listed(client, eve))["totalCount"] == 0


# Declining


async def test_the_broker_may_decline_before_forwarding(client, store, trio):
    ada, bob, cyd = trio
    intro_id = await asked(client, ada, bob, cyd)

    declined = await step(client, DECLINE, bob, intro_id, reason="I barely know Cyd")

    assert declined["userErrors"] == []
    assert declined["intro"]["status"] == "DECLINED"
    assert declined["intro"]["declineReason"] == "I barely know Cyd"
    assert (await seen(client, ada, intro_id))["status"] == "DECLINED"
    assert await seen(client, cyd, intro_id) is None  # Cyd never hears of it
    (event,) = await events_of(store, "intro.declined")
    assert event["declined_by_id"] == bob.member_id
    assert "intro.forwarded" not in await event_types(store)
    assert refused(await step(client, FORWARD, bob, intro_id))[0] == "INVALID_TRANSITION"


async def test_the_target_may_decline_once_forwarded(client, store, trio):
    ada, bob, cyd = trio
    intro_id = await asked(client, ada, bob, cyd)
    await step(client, FORWARD, bob, intro_id)

    declined = await step(client, DECLINE, cyd, intro_id, reason="Not now")

    assert declined["userErrors"] == []
    assert declined["intro"]["status"] == "DECLINED"
    # the requester learns why; the broker, who did not decline, does not
    assert (await seen(client, ada, intro_id))["declineReason"] == "Not now"
    assert (await seen(client, bob, intro_id))["declineReason"] is None
    (event,) = await events_of(store, "intro.declined")
    assert event["declined_by_id"] == cyd.member_id
    body = await gql(client, RELATIONSHIP, {"handle": "cyd"}, token=ada.token)
    assert body["data"]["member"]["relationship"] is None
    assert "intro.accepted" not in await event_types(store)
    assert refused(await step(client, ACCEPT, cyd, intro_id))[0] == "INVALID_TRANSITION"


# Asking again after a decline


@pytest.mark.parametrize("decliner", ["broker", "target"])
async def test_after_a_decline_the_requester_waits_30_days_to_ask_again(
    client, store, clock, trio, decliner
):
    ada, bob, cyd = trio
    gus, dan = await make_member(client, "gus"), await make_member(client, "dan")
    await connect(store, (ada, gus), (gus, cyd), (bob, dan))
    intro_id = await asked(client, ada, bob, cyd)
    if decliner == "target":
        await step(client, FORWARD, bob, intro_id)
    declined = await step(client, DECLINE, cyd if decliner == "target" else bob, intro_id)
    assert declined["userErrors"] == []

    # when Ada asks again ten days later, through the same broker or another
    clock.advance(days=10)
    await log_in_again(client, ada, bob, cyd)
    again_at = (clock.now + dt.timedelta(days=20)).date().isoformat()
    for broker in (bob, gus):
        payload = await request(client, ada, broker, cyd)
        # then she is told to wait, and until when
        assert refused(payload) == ("RATE_LIMITED", ["input", "targetId"])
        assert again_at in payload["userErrors"][0]["message"]
    assert len(await intro_rows(store)) == 1
    # ... while an intro to someone else, or Cyd asking to meet her, is not held back
    assert (await request(client, ada, bob, dan))["userErrors"] == []
    assert (await request(client, cyd, gus, ada))["userErrors"] == []

    # when the 30 days are over, she may ask again
    clock.advance(days=20, minutes=1)
    await log_in_again(client, ada)
    assert (await request(client, ada, gus, cyd))["userErrors"] == []


# Expiry


async def test_intros_expire_two_weeks_after_they_were_asked_for(client, store, clock, trio):
    ada, bob, cyd = trio
    dan = await make_member(client, "dan")
    await connect(store, (bob, dan))
    forwarded_id = await asked(client, ada, bob, cyd)
    await step(client, FORWARD, bob, forwarded_id)
    requested_id = await asked(client, ada, bob, dan)

    # when 15 days pass with no answer
    clock.advance(days=15)
    await log_in_again(client, ada, bob, cyd, dan)

    # then both read as expired at once, and no step may be taken any more
    assert (await seen(client, ada, forwarded_id))["status"] == "EXPIRED"
    assert (await seen(client, bob, requested_id))["status"] == "EXPIRED"
    for document, person, intro_id in (
        (FORWARD, bob, requested_id),
        (DECLINE, bob, requested_id),
        (ACCEPT, cyd, forwarded_id),
        (DECLINE, cyd, forwarded_id),
    ):
        payload = await step(client, document, person, intro_id)
        assert refused(payload)[0] == "INVALID_TRANSITION"
        assert "expired" in payload["userErrors"][0]["message"]
    assert (await listed(client, ada, status=["EXPIRED"]))["totalCount"] == 2
    assert (await listed(client, ada, status=["REQUESTED", "FORWARDED"]))["totalCount"] == 0

    # when the worker sweeps, the expiry is recorded once
    async with store.transaction() as tx:
        assert await intros.expire_intros(tx, clock.now) == 2
        await tx.commit()
    async with store.transaction() as tx:
        assert await intros.expire_intros(tx, clock.now) == 0
        await tx.commit()
    assert {row.status for row in await intro_rows(store)} == {IntroStatus.EXPIRED}
    assert len(await events_of(store, "intro.expired")) == 2
    # and Ada may ask again
    assert (await request(client, ada, bob, cyd))["userErrors"] == []


async def test_asking_again_after_expiry_records_the_lapsed_intro(client, store, clock, trio):
    ada, bob, cyd = trio
    await asked(client, ada, bob, cyd)
    clock.advance(days=14, seconds=1)
    await log_in_again(client, ada)

    assert (await request(client, ada, bob, cyd))["userErrors"] == []

    assert [row.status for row in await intro_rows(store)] == [
        IntroStatus.EXPIRED,
        IntroStatus.REQUESTED,
    ]
    assert len(await events_of(store, "intro.expired")) == 1


# Refusals


async def _nothing_happened(store) -> None:
    assert await intro_rows(store) == []
    assert not [kind for kind in await event_types(store) if kind.startswith("intro.")]


async def test_requests_that_make_no_sense_are_invalid_input(client, store, trio):
    ada, bob, cyd = trio

    cases = [
        ((ada, bob, ada), {}, ["input", "targetId"]),
        ((ada, ada, cyd), {}, ["input", "brokerId"]),
        ((ada, cyd, cyd), {}, ["input", "brokerId"]),
        ((ada, bob, cyd), {"message": "  "}, ["input", "message"]),
        ((ada, bob, cyd), {"message": "x" * 1001}, ["input", "message"]),
        ((ada, bob, cyd), {"message": "hi\x00"}, ["input", "message"]),
        ((ada, bob, cyd), {"helpRequestId": "nonsense"}, ["input", "helpRequestId"]),
        ((ada, bob, cyd), {"helpRequestId": _global("Member", 1)}, ["input", "helpRequestId"]),
    ]
    for (requester, broker, target), extra, field in cases:
        payload = await request(client, requester, broker, target, **extra)
        assert refused(payload) == ("INVALID_INPUT", field), (extra, payload)
    body = await gql(
        client,
        REQUEST,
        {"input": {"targetId": "nonsense", "brokerId": bob.id, "message": "Hi"}},
        token=ada.token,
    )
    assert refused(body["data"]["requestIntro"]) == ("INVALID_INPUT", ["input", "targetId"])
    await _nothing_happened(store)


async def test_unknown_members_are_not_found(client, store, trio):
    ada, bob, _ = trio
    # an id too large to be one this API gave out is malformed, not merely unknown
    for target_id, code in (
        (_global("Member", 999), "NOT_FOUND"),
        (_global("Member", 10**30), "INVALID_INPUT"),
    ):
        body = await gql(
            client,
            REQUEST,
            {"input": {"targetId": target_id, "brokerId": bob.id, "message": "Hi"}},
            token=ada.token,
        )
        assert refused(body["data"]["requestIntro"]) == (code, ["input", "targetId"])
    await _nothing_happened(store)


async def test_the_broker_must_be_connected_to_both(client, store, trio):
    ada, bob, cyd = trio
    dan = await make_member(client, "dan")
    await connect(store, (dan, cyd))

    not_to_target = await request(client, ada, bob, dan)  # Bob does not know Dan
    not_to_requester = await request(client, ada, dan, cyd)  # Ada does not know Dan

    for payload in (not_to_target, not_to_requester):
        assert refused(payload) == ("FORBIDDEN", ["input", "brokerId"])
        assert payload["userErrors"][0]["message"] == "your broker must be connected to both of you"
    await _nothing_happened(store)


async def test_no_intro_to_someone_already_connected_or_already_asked(client, store, trio):
    ada, bob, cyd = trio
    fay, gus = await make_member(client, "fay"), await make_member(client, "gus")
    await connect(store, (ada, fay), (bob, fay), (gus, ada), (gus, cyd))

    assert refused(await request(client, ada, bob, fay)) == (
        "ALREADY_EXISTS",
        ["input", "targetId"],
    )
    await _nothing_happened(store)

    intro_id = await asked(client, ada, bob, cyd)
    # an open intro to Cyd, even through another broker
    again = await request(client, ada, gus, cyd)
    assert refused(again) == ("ALREADY_EXISTS", ["input", "targetId"])
    forwarded = await step(client, FORWARD, bob, intro_id)
    assert forwarded["userErrors"] == []
    assert refused(await request(client, ada, bob, cyd))[0] == "ALREADY_EXISTS"
    assert len(await intro_rows(store)) == 1


@pytest.mark.parametrize(
    ("blocker", "blocked"), [("ada", "bob"), ("cyd", "ada"), ("bob", "cyd"), ("cyd", "bob")]
)
async def test_a_block_between_any_two_forbids_the_intro(client, store, trio, blocker, blocked):
    people = {person.handle: person for person in trio}
    ada, bob, cyd = trio
    await block(store, people[blocker], people[blocked])

    assert refused(await request(client, ada, bob, cyd))[0] == "FORBIDDEN"
    await _nothing_happened(store)


async def test_a_block_after_asking_stops_the_intro(client, store, trio):
    ada, bob, cyd = trio
    intro_id = await asked(client, ada, bob, cyd)
    await step(client, FORWARD, bob, intro_id)
    async with store.transaction() as tx:
        # a block straight in the table, so the connections stay and only the block counts
        tx.session.add(Block(blocker_id=cyd.member_id, blocked_id=ada.member_id, created_at=tx.now))
        await tx.commit()

    assert refused(await step(client, ACCEPT, cyd, intro_id))[0] == "FORBIDDEN"
    assert (await seen(client, cyd, intro_id))["status"] == "FORWARDED"
    # declining is always possible
    assert (await step(client, DECLINE, cyd, intro_id))["userErrors"] == []


async def test_each_step_belongs_to_one_party(client, store, trio):
    ada, bob, cyd = trio
    eve = await make_member(client, "eve")
    intro_id = await asked(client, ada, bob, cyd)

    # at REQUESTED: only Bob forwards or declines; Cyd is not a party yet, Eve never is
    for document, person, code in (
        (FORWARD, ada, "FORBIDDEN"),
        (DECLINE, ada, "FORBIDDEN"),
        (FORWARD, cyd, "NOT_FOUND"),
        (DECLINE, cyd, "NOT_FOUND"),
        (ACCEPT, cyd, "NOT_FOUND"),
        (FORWARD, eve, "NOT_FOUND"),
        (DECLINE, eve, "NOT_FOUND"),
        (ACCEPT, bob, "INVALID_TRANSITION"),
        (ACCEPT, ada, "INVALID_TRANSITION"),
    ):
        payload = await step(client, document, person, intro_id)
        assert refused(payload) == (code, ["input", "introId"]), (document, person.handle)
    assert (await seen(client, ada, intro_id))["status"] == "REQUESTED"

    await step(client, FORWARD, bob, intro_id)

    # at FORWARDED: only Cyd accepts or declines
    for document, person, code in (
        (ACCEPT, ada, "FORBIDDEN"),
        (ACCEPT, bob, "FORBIDDEN"),
        (DECLINE, ada, "FORBIDDEN"),
        (DECLINE, bob, "FORBIDDEN"),
        (ACCEPT, eve, "NOT_FOUND"),
        (DECLINE, eve, "NOT_FOUND"),
        (FORWARD, bob, "INVALID_TRANSITION"),
    ):
        payload = await step(client, document, person, intro_id)
        assert refused(payload) == (code, ["input", "introId"]), (document, person.handle)
    assert (await seen(client, ada, intro_id))["status"] == "FORWARDED"

    await step(client, ACCEPT, cyd, intro_id)

    # once accepted, nothing more happens to it
    for document, person in ((ACCEPT, cyd), (DECLINE, cyd), (FORWARD, bob), (DECLINE, bob)):
        assert refused(await step(client, document, person, intro_id))[0] == "INVALID_TRANSITION"
    assert (await seen(client, ada, intro_id))["status"] == "ACCEPTED"
    assert len(await events_of(store, "intro.accepted")) == 1


async def test_malformed_or_unknown_intro_ids(client, store, trio):
    ada, bob, _ = trio
    for intro_id, code in (
        ("nonsense", "INVALID_INPUT"),
        (ada.id, "INVALID_INPUT"),  # a Member's id
        (_global("Intro", 999), "NOT_FOUND"),
        (_global("Intro", 10**30), "INVALID_INPUT"),
    ):
        assert refused(await step(client, FORWARD, bob, intro_id)) == (code, ["input", "introId"])
    body = await gql(client, INTRO, {"id": "nonsense"}, token=ada.token)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_notes_and_reasons_are_checked(client, store, trio):
    ada, bob, cyd = trio
    intro_id = await asked(client, ada, bob, cyd)

    assert refused(await step(client, FORWARD, bob, intro_id, note="x" * 1001)) == (
        "INVALID_INPUT",
        ["input", "note"],
    )
    assert refused(await step(client, DECLINE, bob, intro_id, reason="no\x00")) == (
        "INVALID_INPUT",
        ["input", "reason"],
    )
    assert (await seen(client, ada, intro_id))["status"] == "REQUESTED"


async def test_a_help_request_id_is_kept_as_given(client, store, trio):
    ada, bob, cyd = trio

    payload = await request(client, ada, bob, cyd, helpRequestId=_global("HelpRequest", 42))

    assert payload["userErrors"] == []
    (row,) = await intro_rows(store)
    assert row.help_request_id == 42


# The broker's weekly cap


@contextlib.asynccontextmanager
async def client_with(runtime: Runtime, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app whose settings differ from the fixture's by ``changes``."""
    settings = dataclasses.replace(runtime.settings, **changes)
    app = create_app(settings, dataclasses.replace(runtime, settings=settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as client:
        yield client


async def test_a_broker_is_asked_at_most_so_many_intros_a_week(client, store, runtime, clock, trio):
    ada, bob, cyd = trio
    dan, eve = await make_member(client, "dan"), await make_member(client, "eve")
    await connect(store, (bob, dan), (bob, eve))

    async with client_with(runtime, intro_requests_per_broker_per_week=2) as capped:
        # given Bob was asked twice this week, by two members, and declined one
        first = await asked(capped, ada, bob, cyd)
        await asked(capped, eve, bob, dan)
        await step(capped, DECLINE, bob, first)

        # then a third request is refused, and nothing is written
        third = await request(capped, ada, bob, dan)
        assert refused(third) == ("LIMIT_EXCEEDED", ["input", "brokerId"])
        assert len(await intro_rows(store)) == 2

        # when the week has rolled past the first requests
        clock.advance(days=7, minutes=1)
        await log_in_again(capped, ada)

        # then Bob may be asked again
        assert (await request(capped, ada, bob, dan))["userErrors"] == []


def test_the_weekly_cap_is_read_from_the_environment():
    from api.settings import Settings, SettingsError

    assert Settings.from_env({}).intro_requests_per_broker_per_week == 10
    found = Settings.from_env({"INTRO_REQUESTS_PER_BROKER_PER_WEEK": "3"})
    assert found.intro_requests_per_broker_per_week == 3
    with pytest.raises(SettingsError, match="INTRO_REQUESTS_PER_BROKER_PER_WEEK"):
        Settings.from_env({"INTRO_REQUESTS_PER_BROKER_PER_WEEK": "0"})


# Privacy: an intro is no window onto a profile


async def test_before_accepting_the_target_sees_no_more_of_the_requester(client, store, trio):
    ada, bob, cyd = trio
    # given Ada shows her profile to her connections only
    body = await gql(
        client, UPDATE_PROFILE, {"input": {"privacy": {"profile": "CONNECTIONS"}}}, token=ada.token
    )
    assert body["data"]["updateProfile"]["userErrors"] == []
    intro_id = await asked(client, ada, bob, cyd)
    await step(client, FORWARD, bob, intro_id, note="Worth meeting")

    # then Cyd, asked to meet her, sees the intro but not Ada's profile
    at_cyd = await seen(client, cyd, intro_id)
    assert at_cyd["requester"] is None
    assert at_cyd["broker"] == {"handle": "bob"}
    assert at_cyd["message"] == "Hi!"
    body = await gql(
        client,
        "query($id: ID!) { intro(id: $id) { requester { handle email } target { email } } }",
        {"id": intro_id},
        token=cyd.token,
    )
    assert body["data"]["intro"] == {"requester": None, "target": {"email": "cyd@example.com"}}
    # and Ada sees Cyd as anyone does: no contact details
    body = await gql(
        client,
        """query($id: ID!) {
             intro(id: $id) { target { handle email helpBudget { requestsPerWeek } } }
           }""",
        {"id": intro_id},
        token=ada.token,
    )
    assert body["data"]["intro"]["target"] == {"handle": "cyd", "email": None, "helpBudget": None}

    # once Cyd accepts, they are connected, and she sees Ada as a connection does
    await step(client, ACCEPT, cyd, intro_id)
    assert (await seen(client, cyd, intro_id))["requester"] == {"handle": "ada"}


async def test_no_intro_to_a_member_whose_profile_is_hidden_from_you(client, store, trio):
    ada, bob, cyd = trio
    body = await gql(
        client, UPDATE_PROFILE, {"input": {"privacy": {"profile": "CONNECTIONS"}}}, token=cyd.token
    )
    assert body["data"]["updateProfile"]["userErrors"] == []

    assert refused(await request(client, ada, bob, cyd)) == ("NOT_FOUND", ["input", "targetId"])
    await _nothing_happened(store)


# Lists


async def test_the_viewers_intros_newest_first_by_role_and_status(client, store, clock, trio):
    ada, bob, cyd = trio
    dan, eve = await make_member(client, "dan"), await make_member(client, "eve")
    await connect(store, (bob, dan), (ada, eve))
    to_cyd = await asked(client, ada, bob, cyd)
    clock.advance(seconds=1)
    to_dan = await asked(client, ada, bob, dan)
    clock.advance(seconds=1)
    await asked(client, eve, ada, bob)  # Ada brokers this one
    await step(client, FORWARD, bob, to_cyd)
    await step(client, DECLINE, bob, to_dan)

    everything = await listed(client, ada, first=2)
    assert everything["totalCount"] == 3
    assert [edge["node"]["viewerRole"] for edge in everything["edges"]] == ["BROKER", "REQUESTER"]
    assert everything["pageInfo"]["hasNextPage"] is True
    rest = await listed(client, ada, first=2, after=everything["pageInfo"]["endCursor"])
    assert [edge["node"]["target"] for edge in rest["edges"]] == [{"handle": "cyd"}]
    assert rest["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "endCursor": rest["pageInfo"]["endCursor"],
    }

    as_requester = await listed(client, ada, role="REQUESTER")
    assert [edge["node"]["status"] for edge in as_requester["edges"]] == ["DECLINED", "FORWARDED"]
    declined = await listed(client, ada, status=["DECLINED"])
    assert [edge["node"]["target"] for edge in declined["edges"]] == [{"handle": "dan"}]
    as_target = await listed(client, cyd, role="TARGET")
    assert [edge["node"]["requester"] for edge in as_target["edges"]] == [{"handle": "ada"}]
    assert (await listed(client, dan))["totalCount"] == 0  # declined before it reached Dan
    body = await gql(client, INTROS, {"first": 101}, token=ada.token)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    body = await gql(client, INTROS, {})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_page_of_intros_costs_the_same_whatever_its_size(client, store, statements, trio):
    ada, bob, cyd = trio
    others = [await make_member(client, f"member{n}") for n in range(4)]
    await connect(store, *((bob, other) for other in others))
    await asked(client, ada, bob, cyd)

    statements.counting = True
    await listed(client, ada)
    one = statements.count
    statements.counting = False
    for other in others:
        await asked(client, ada, bob, other)
    statements.count = 0
    statements.counting = True
    page = await listed(client, ada)
    statements.counting = False

    assert page["totalCount"] == 5
    assert statements.count == one, statements.seen
