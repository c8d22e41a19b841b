"""introPaths: who could introduce the viewer to a member, as a client asks for it."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import update
from strawberry import relay

from domain.network import relationships
from domain.network.models import Connection
from tests.api.graphql import gql, sign_up

INTRO_PATHS = """
query($to: ID!, $maxHops: Int, $first: Int) {
  introPaths(to: $to, maxHops: $maxHops, first: $first) {
    strength hops { handle } brokers { handle displayName }
  }
}
"""
HIDE_PROFILE = """
mutation { updateProfile(input: {privacy: {profile: CONNECTIONS}}) { userErrors { code } } }
"""


def _id(member: dict[str, Any]) -> int:
    return int(relay.GlobalID.from_id(member["viewer"]["id"]).node_id)


async def _tie(store, one: dict[str, Any], other: dict[str, Any], strength: float) -> None:
    async with store.transaction() as tx:
        relationship = await relationships.connect(
            tx, member_id=_id(one), other_id=_id(other), context="work", introduced_by_id=None
        )
        await tx.session.execute(
            update(Connection)
            .where(Connection.relationship_id == relationship.id)
            .values(strength=strength)
        )
        await tx.commit()


async def _paths(client, viewer: dict[str, Any], to: str, **arguments: Any) -> dict[str, Any]:
    return await gql(client, INTRO_PATHS, {"to": to, **arguments}, token=viewer["accessToken"])


@pytest.fixture
async def people(client, store) -> dict[str, dict[str, Any]]:
    """ada knows bob well and dan a little; both know cleo; eve knows only cleo."""
    found = {
        handle: await sign_up(client, handle) for handle in ("ada", "bob", "cleo", "dan", "eve")
    }
    await _tie(store, found["ada"], found["bob"], 0.9)
    await _tie(store, found["bob"], found["cleo"], 0.6)
    await _tie(store, found["ada"], found["dan"], 0.3)
    await _tie(store, found["dan"], found["cleo"], 0.4)
    await _tie(store, found["cleo"], found["eve"], 0.8)
    return found


async def test_paths_come_strongest_first_with_their_brokers(client, people):
    body = await _paths(client, people["ada"], people["cleo"]["viewer"]["id"])

    assert body == {
        "data": {
            "introPaths": [
                {
                    "strength": 0.6,
                    "hops": [{"handle": "ada"}, {"handle": "bob"}, {"handle": "cleo"}],
                    "brokers": [{"handle": "bob", "displayName": "Bob"}],
                },
                {
                    "strength": 0.3,
                    "hops": [{"handle": "ada"}, {"handle": "dan"}, {"handle": "cleo"}],
                    "brokers": [{"handle": "dan", "displayName": "Dan"}],
                },
            ]
        }
    }


async def test_max_hops_and_first_bound_the_answer(client, people):
    eve = people["eve"]["viewer"]["id"]

    three = await _paths(client, people["ada"], eve, first=1)
    two = await _paths(client, people["ada"], eve, maxHops=2)

    assert [[hop["handle"] for hop in path["hops"]] for path in three["data"]["introPaths"]] == [
        ["ada", "bob", "cleo", "eve"]
    ]
    assert two == {"data": {"introPaths": []}}


async def test_a_member_the_viewer_may_not_see_has_no_paths(client, people):
    await gql(client, HIDE_PROFILE, token=people["eve"]["accessToken"])

    body = await _paths(client, people["ada"], people["eve"]["viewer"]["id"])

    assert body == {"data": {"introPaths": []}}


async def test_the_statements_do_not_grow_with_the_number_of_paths(client, people, statements):
    cleo = people["cleo"]["viewer"]["id"]
    counts = []
    for first in (1, 2):
        statements.count, statements.counting = 0, True
        body = await _paths(client, people["ada"], cleo, first=first)
        statements.counting = False
        assert len(body["data"]["introPaths"]) == first
        counts.append(statements.count)

    assert counts[0] == counts[1] > 0


async def test_paths_need_a_signed_in_viewer(client, people):
    body = await gql(client, INTRO_PATHS, {"to": people["cleo"]["viewer"]["id"]})

    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "to",
    [
        "not an id",
        base64.b64encode(b"Member:abc").decode(),
        base64.b64encode(b"Give:1").decode(),
    ],
)
async def test_a_malformed_member_id_is_invalid_input(client, people, to):
    body = await _paths(client, people["ada"], to)

    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "argument": "to"}


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [({"maxHops": 0}, "maxHops"), ({"maxHops": 4}, "maxHops"), ({"first": 21}, "first")],
)
async def test_out_of_range_arguments_are_invalid_input(client, people, arguments, argument):
    body = await _paths(client, people["ada"], people["cleo"]["viewer"]["id"], **arguments)

    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "argument": argument}


async def test_a_path_to_oneself_is_invalid_input(client, people):
    body = await _paths(client, people["ada"], people["ada"]["viewer"]["id"])

    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "argument": "to"}


async def test_a_member_who_does_not_exist_has_no_paths(client, people):
    body = await _paths(client, people["ada"], relay.to_base64("Member", 999_999))

    assert body == {"data": {"introPaths": []}}
