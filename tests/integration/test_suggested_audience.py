"""suggest_audience on a hand-built network: who, in which order, and why; the pure
ranking on its own; and a fixed number of statements whatever the network's size."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update
from strawberry import relay

from domain.errors import Code, DomainError
from domain.marketplace import audience
from domain.marketplace.audience import (
    AudienceWeights,
    Broker,
    Candidate,
    Reason,
    ReasonCode,
    TagRef,
    rank,
    score,
)
from domain.marketplace.models import HelpRequest, HelpRequestTag
from domain.members.models import MemberTag, TagRole
from domain.network import relationships
from domain.network.models import Connection
from tests.api.graphql import gql
from tests.api.test_help_requests import circle, posted
from tests.api.test_relationships import BLOCK, member
from tests.builders import member_row

PROFILE = """
mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { userErrors { code } } }
"""
GIVE = """mutation($tag: String!) { addGive(input: {tag: $tag}) { userErrors { code } } }"""
GOAL = """
mutation($tags: [String!]!) {
  addGoal(input: {title: "Launch the shop", kind: LAUNCH, tags: $tags}) { userErrors { code } }
}
"""

SEO, COPY = TagRef(1, "SEO"), TagRef(2, "Copywriting")


def db_id(global_id: str) -> int:
    return int(relay.GlobalID.from_id(global_id).node_id)


async def tie(store, one: dict[str, Any], other: dict[str, Any], strength: float) -> None:
    async with store.transaction() as tx:
        relationship = await relationships.connect(
            tx,
            member_id=db_id(one["id"]),
            other_id=db_id(other["id"]),
            context="work",
            introduced_by_id=None,
        )
        await tx.session.execute(
            update(Connection)
            .where(Connection.relationship_id == relationship.id)
            .values(strength=strength)
        )
        await tx.commit()


async def ok(client, who: dict[str, Any], document: str, **variables: Any) -> None:
    body = await gql(client, document, variables, token=who["token"])
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    assert payload["userErrors"] == [], payload


async def suggest(store, author: dict[str, Any], request_id: str, **kwargs: Any):
    async with store.reader() as session:
        return await audience.suggest_audience(
            session,
            author_id=db_id(author["id"]),
            help_request_id=db_id(request_id),
            now=store.clock(),
            **{"limit": 20, **kwargs},
        )


# -- the pure ranking ----------------------------------------------------------------------


def test_score_weighs_gives_over_skills_over_goals_and_closeness():
    skill = score(Candidate(member_id=1, skills=[SEO], tie_strength=0.0, budget=3))
    give = score(Candidate(member_id=2, gives=[SEO], tie_strength=0.0, budget=3))
    goal = score(Candidate(member_id=3, goals=[SEO], tie_strength=0.0, budget=3))
    assert skill
    assert give
    assert goal
    assert (give.score, skill.score, goal.score) == (1.5, 1.0, 0.5)
    strong = score(Candidate(member_id=4, skills=[SEO, COPY], tie_strength=0.5, budget=3))
    assert strong == audience.AudienceSuggestion(
        4,
        3.0,
        [
            Reason(ReasonCode.SKILL_MATCH, "SEO"),
            Reason(ReasonCode.SKILL_MATCH, "Copywriting"),
            Reason(ReasonCode.STRONG_TIE, "0.50"),
        ],
    )


def test_score_discounts_the_second_degree_and_adds_circles():
    via = score(
        Candidate(
            member_id=5,
            skills=[SEO],
            broker=Broker(9, "bob", 0.6),
            budget=3,
            circles=[(7, "Zed"), (3, "Growth")],
        )
    )
    assert via == audience.AudienceSuggestion(
        5,
        round(1.0 * 0.5 * 1.6 * 1.5, 4),
        [
            Reason(ReasonCode.SKILL_MATCH, "SEO"),
            Reason(ReasonCode.SHARED_CIRCLE, "Growth", 3),
            Reason(ReasonCode.SHARED_CIRCLE, "Zed", 7),
            Reason(ReasonCode.VIA, "bob", 9),
        ],
    )


def test_score_leaves_out_no_match_and_no_budget_and_discounts_a_used_budget():
    assert score(Candidate(member_id=1, tie_strength=0.9, budget=3)) is None
    assert score(Candidate(member_id=1, skills=[SEO], budget=0)) is None
    assert score(Candidate(member_id=1, skills=[SEO], budget=2, recent_asks=2)) is None
    half = score(Candidate(member_id=1, skills=[SEO], budget=2, recent_asks=1))
    assert half is not None
    assert half.score == 0.75


def test_weights_live_in_one_place_and_rank_orders_by_score_then_id():
    heavy_goals = AudienceWeights(goal=5.0)
    candidates = [
        Candidate(member_id=2, skills=[SEO], budget=3),
        Candidate(member_id=1, skills=[SEO], budget=3),
        Candidate(member_id=3, goals=[SEO], budget=3),
    ]
    assert [s.member_id for s in rank(candidates, limit=5)] == [1, 2, 3]
    assert [s.member_id for s in rank(candidates, limit=2, weights=heavy_goals)] == [3, 1]
    assert dataclasses.is_dataclass(audience.WEIGHTS)


# -- a hand-built network ------------------------------------------------------------------


async def test_a_hand_built_network_gets_the_expected_members_order_and_reasons(client, store):
    people = {
        h: await member(client, h)
        for h in ("ada", "bob", "cleo", "dan", "eve", "fay", "gus", "hal", "ivy", "jon")
    }
    ada, bob, cleo, dan, eve, fay, gus, hal, ivy, jon = people.values()
    await tie(store, ada, bob, 0.9)
    await tie(store, ada, cleo, 0.3)
    await tie(store, ada, dan, 0.2)
    await tie(store, ada, fay, 0.6)
    await tie(store, ada, gus, 0.6)
    await tie(store, ada, ivy, 0.9)
    await tie(store, ada, jon, 0.5)
    await tie(store, bob, eve, 0.8)  # eve: 2nd degree, best through bob …
    await tie(store, cleo, eve, 0.9)  # … (0.3 through cleo: the path's weaker tie)
    await tie(store, bob, hal, 0.9)  # hal: 2nd degree, but ada blocked him
    await ok(client, bob, PROFILE, input={"skills": ["SEO"]})
    await ok(client, cleo, GIVE, tag="SEO")
    await ok(client, dan, GOAL, tags=["Copywriting"])
    await ok(client, eve, PROFILE, input={"skills": ["Copywriting", "SEO"]})
    await ok(client, fay, PROFILE, input={"skills": ["SEO"], "helpBudget": {"requestsPerWeek": 1}})
    await ok(client, gus, PROFILE, input={"skills": ["SEO"], "helpBudget": {"requestsPerWeek": 0}})
    await ok(client, hal, PROFILE, input={"skills": ["SEO"]})
    await ok(client, ivy, PROFILE, input={"skills": ["Python"], "interests": ["SEO"]})
    await ok(client, jon, PROFILE, input={"skills": ["SEO"]})
    await ok(client, ada, BLOCK, id=hal["id"])
    await circle(client, ada, "Growth Hackers", cleo)
    # fay (budget 1) and jon (budget 3) were each shown one request this week; jon also one
    # eight days ago, which no longer counts.
    members_only = {"scope": "MEMBERS", "memberIds": [fay["id"], jon["id"]]}
    await posted(client, ada, title="Who knows a good lawyer", audience=members_only)
    old = await posted(
        client,
        ada,
        title="An old ask for jon",
        audience={"scope": "MEMBERS", "memberIds": [jon["id"]]},
    )
    async with store.transaction() as tx:
        await tx.session.execute(
            update(HelpRequest)
            .where(HelpRequest.id == db_id(old["id"]))
            .values(created_at=store.clock() - dt.timedelta(days=8))
        )
        await tx.commit()
    request = await posted(client, ada, title="Help me rank my shop", tags=["SEO", "Copywriting"])

    found = await suggest(store, ada, request["id"])

    handles = {db_id(p["id"]): p["handle"] for p in people.values()}
    circle_id = next(
        r.subject_id
        for s in found
        for r in s.reasons
        if r.subject_id and r.code is ReasonCode.SHARED_CIRCLE
    )
    assert [(handles[s.member_id], s.score, s.reasons) for s in found] == [
        # a give (1.5) × closeness (1 + 0.3) × one shared circle (1.25)
        (
            "cleo",
            2.4375,
            [
                Reason(ReasonCode.GIVES, "SEO"),
                Reason(ReasonCode.SHARED_CIRCLE, "Growth Hackers", circle_id),
            ],
        ),
        # a skill (1) × (1 + 0.9)
        (
            "bob",
            1.9,
            [Reason(ReasonCode.SKILL_MATCH, "SEO"), Reason(ReasonCode.STRONG_TIE, "0.90")],
        ),
        # two skills (2) × 2nd degree (0.5 × (1 + 0.8 through bob))
        (
            "eve",
            1.8,
            [
                Reason(ReasonCode.SKILL_MATCH, "SEO"),
                Reason(ReasonCode.SKILL_MATCH, "Copywriting"),
                Reason(ReasonCode.VIA, "bob", db_id(bob["id"])),
            ],
        ),
        # a skill (1) × (1 + 0.5) × a third of the budget used (1 - 0.5 / 3)
        (
            "jon",
            1.25,
            [Reason(ReasonCode.SKILL_MATCH, "SEO"), Reason(ReasonCode.STRONG_TIE, "0.50")],
        ),
        # an active goal (0.5) × (1 + 0.2)
        ("dan", 0.6, [Reason(ReasonCode.GOAL, "Copywriting")]),
    ]
    # Left out: fay (over budget), gus (budget 0), hal (blocked), ivy (no skill, give or
    # goal matches: an interest is not enough).
    assert [s.member_id for s in await suggest(store, ada, request["id"], limit=2)] == [
        db_id(cleo["id"]),
        db_id(bob["id"]),
    ]


async def test_only_the_author_is_told_and_a_hidden_request_is_not_found(client, store):
    ada, bob, cleo = [await member(client, h) for h in ("ada", "bob", "cleo")]
    await tie(store, ada, bob, 0.5)
    public = await posted(client, ada, tags=["SEO"])
    private = await posted(client, ada, tags=["SEO"], audience={"scope": "CONNECTIONS"})
    with pytest.raises(DomainError) as refused:
        await suggest(store, bob, public["id"])
    assert refused.value.code is Code.FORBIDDEN
    with pytest.raises(DomainError) as hidden:
        await suggest(store, cleo, private["id"])
    assert hidden.value.code is Code.NOT_FOUND
    with pytest.raises(DomainError) as too_many:
        await suggest(store, ada, public["id"], limit=51)
    assert too_many.value.code is Code.INVALID_INPUT


async def _crowd(store, ada_id: int, tag_id: int, size: int, now: dt.datetime) -> None:
    """Give ada ``size`` connections, each with one connection of their own, all skilled."""
    async with store.transaction() as tx:
        members = [member_row(f"m{size}_{n}", now) for n in range(2 * size)]
        tx.session.add_all(members)
        await tx.session.flush()
        ids = [row.id for row in members]
        for n, member_id in enumerate(ids):
            tx.session.add(
                MemberTag(member_id=member_id, role=TagRole.SKILL, tag_id=tag_id, position=0)
            )
            near = member_id if n < size else ids[n - size]
            await relationships.connect(
                tx,
                member_id=ada_id if n < size else near,
                other_id=member_id,
                context="work",
                introduced_by_id=None,
            )
        await tx.commit()


async def test_the_statement_count_does_not_grow_with_the_network(client, store, statements):
    ada = await member(client, "ada")
    request = await posted(client, ada, tags=["SEO"])
    async with store.reader() as session:
        tag_id = await session.scalar(
            select(HelpRequestTag.tag_id).where(
                HelpRequestTag.help_request_id == db_id(request["id"])
            )
        )
    assert tag_id is not None
    counts, sizes = [], []
    for size in (5, 50):
        await _crowd(store, db_id(ada["id"]), tag_id, size, store.clock())
        statements.count, statements.counting = 0, True
        found = await suggest(store, ada, request["id"], limit=50)
        statements.counting = False
        counts.append(statements.count)
        sizes.append(len(found))
    assert sizes == [10, 50]  # 5 + 5, then 55 + 55 candidates (at most 50 shown)
    assert counts[0] == counts[1] <= 8, statements.seen
