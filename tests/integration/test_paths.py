"""Intro paths and degrees of separation over small graphs with known answers."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest
from sqlalchemy import update

from domain.errors import Code, DomainError
from domain.members.models import Member, Visibility
from domain.network import graph as network_graph
from domain.network import paths, relationships
from domain.network.models import (
    Block,
    Connection,
    Intro,
    IntroStatus,
    Relationship,
    RelationshipStatus,
)
from domain.network.paths import broker_responsiveness, degree_of_separation, intro_paths
from domain.store import Store

BEGINNING = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Graph:
    """Members by handle, ties with chosen strengths, blocks; then the paths between them.

    Ties are made (their last contact) and paths read at the store's clock, which tests move.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ids: dict[str, int] = {}
        self.handles: dict[int, str] = {}

    @property
    def now(self) -> dt.datetime:
        return self.store.clock()

    async def members(self, *handles: str, visibility: Visibility = Visibility.EVERYONE) -> None:
        async with self.store.transaction() as tx:
            for handle in handles:
                member = Member(
                    email=f"{handle}@example.com",
                    email_key=f"{handle}@example.com",
                    password_hash="-",
                    handle=handle,
                    display_name=handle.title(),
                    help_requests_per_week=3,
                    visibility=visibility,
                    location_visibility=Visibility.EVERYONE,
                    seeks_visibility=Visibility.EVERYONE,
                    gives_visibility=Visibility.EVERYONE,
                    goals_visibility=Visibility.EVERYONE,
                    connections_visibility=Visibility.EVERYONE,
                    search_text=handle,
                    created_at=BEGINNING,
                    updated_at=BEGINNING,
                )
                tx.session.add(member)
                await tx.session.flush()
                self.ids[handle], self.handles[member.id] = member.id, handle
            await tx.commit()

    async def ties(self, *ties: tuple[str, str, float]) -> None:
        """Connect pairs of members, each tie with its strength."""
        async with self.store.transaction() as tx:
            for one, other, strength in ties:
                low, high = sorted((self.ids[one], self.ids[other]))
                relationship = Relationship(
                    requester_id=low,
                    addressee_id=high,
                    low_member_id=low,
                    high_member_id=high,
                    status=RelationshipStatus.ACTIVE,
                    requested_at=BEGINNING,
                    connected_at=BEGINNING,
                    help_count=0,
                    intro_count=0,
                    last_interaction_at=self.now,
                )
                tx.session.add(relationship)
                await tx.session.flush()
                tx.session.add_all(
                    Connection(
                        member_id=member,
                        other_id=other_member,
                        relationship_id=relationship.id,
                        strength=strength,
                        last_contact_at=self.now,
                        since=BEGINNING,
                    )
                    for member, other_member in ((low, high), (high, low))
                )
            await tx.commit()

    async def age(self, one: str, other: str, *, days: float) -> None:
        """Make a tie's last contact ``days`` before now (its strength then is unchanged)."""
        low, high = sorted((self.ids[one], self.ids[other]))
        async with self.store.transaction() as tx:
            await tx.session.execute(
                update(Relationship)
                .where(Relationship.low_member_id == low, Relationship.high_member_id == high)
                .values(last_interaction_at=self.now - dt.timedelta(days=days))
            )
            await tx.session.execute(
                update(Connection)
                .where(Connection.member_id.in_((low, high)), Connection.other_id.in_((low, high)))
                .values(last_contact_at=self.now - dt.timedelta(days=days))
            )
            await tx.commit()

    async def block(self, blocker: str, blocked: str) -> None:
        async with self.store.transaction() as tx:
            tx.session.add(
                Block(
                    blocker_id=self.ids[blocker],
                    blocked_id=self.ids[blocked],
                    created_at=BEGINNING,
                )
            )
            await tx.commit()

    async def intros(self, broker: str, *statuses: IntroStatus, days_ago: float = 0) -> None:
        """Record intros asked of a broker (between two members of their own), as they ended.

        Asked ``days_ago``: an intro still open 14 days after it was asked has lapsed.
        """
        asked = self.now - dt.timedelta(days=days_ago)
        async with self.store.transaction() as tx:
            for status in statuses:
                forwarded = status in (IntroStatus.FORWARDED, IntroStatus.ACCEPTED)
                tx.session.add(
                    Intro(
                        requester_id=self.ids["v"],
                        broker_id=self.ids[broker],
                        target_id=self.ids["t"],
                        message="please",
                        status=status,
                        created_at=asked,
                        forwarded_at=asked if forwarded else None,
                        expires_at=asked + dt.timedelta(days=14),
                    )
                )
            await tx.commit()

    async def responsiveness(self, *handles: str) -> dict[str, float]:
        async with self.store.reader() as session:
            found = await broker_responsiveness(
                session, [self.ids[h] for h in handles], now=self.now
            )
        return {self.handles[m]: round(score, 3) for m, score in found.items()}

    async def paths(
        self, viewer: str = "v", target: str = "t", **options: int
    ) -> list[tuple[str, float]]:
        """Return each path as "v-a-t" with its strength, best first."""
        async with self.store.reader() as session:
            found = await intro_paths(
                session,
                viewer_id=self.ids[viewer],
                target_id=self.ids[target],
                now=self.now,
                **options,
            )
        return [
            ("-".join(self.handles[m] for m in path.member_ids), path.strength) for path in found
        ]

    async def degrees(self, viewer: str, *handles: str) -> dict[str, int | None]:
        async with self.store.reader() as session:
            found = await degree_of_separation(
                session, self.ids[viewer], [self.ids[handle] for handle in handles]
            )
        return {self.handles[member_id]: degree for member_id, degree in found.items()}


@pytest.fixture
async def graph(store: Store) -> Graph:
    graph = Graph(store)
    await graph.members("v", "t", "a", "b", "c", "d", "e")
    return graph


async def _three_routes(graph: Graph) -> None:
    """v reaches t through a (weak), through b, and through c then d (strong all along)."""
    await graph.ties(
        ("v", "a", 0.9),
        ("a", "t", 0.3),
        ("v", "b", 0.6),
        ("b", "t", 0.7),
        ("v", "c", 0.8),
        ("c", "d", 0.8),
        ("d", "t", 0.9),
    )


async def test_the_path_whose_weakest_tie_is_strongest_comes_first(graph):
    await _three_routes(graph)

    assert await graph.paths() == [("v-c-d-t", 0.8), ("v-b-t", 0.6), ("v-a-t", 0.3)]


async def test_first_keeps_only_the_best_paths(graph):
    await _three_routes(graph)

    assert await graph.paths(first=2) == [("v-c-d-t", 0.8), ("v-b-t", 0.6)]


async def test_paths_longer_than_max_hops_are_left_out(graph):
    await _three_routes(graph)
    await graph.ties(("v", "t", 0.2))

    assert await graph.paths(max_hops=2) == [("v-b-t", 0.6), ("v-a-t", 0.3), ("v-t", 0.2)]
    assert await graph.paths(max_hops=1) == [("v-t", 0.2)]


async def test_with_equally_strong_paths_the_shorter_comes_first(graph):
    await graph.ties(
        ("v", "c", 0.5), ("c", "d", 0.5), ("d", "t", 0.5), ("v", "a", 0.5), ("a", "t", 0.5)
    )

    assert await graph.paths() == [("v-a-t", 0.5), ("v-c-d-t", 0.5)]


async def test_no_member_appears_twice_on_a_path(graph):
    # Everyone knows everyone: every simple path of up to 3 hops, and nothing else.
    handles = ["v", "t", "a", "b", "c"]
    await graph.ties(
        *(
            (one, other, 0.5)
            for position, one in enumerate(handles)
            for other in handles[position + 1 :]
        )
    )

    paths = [path for path, _ in await graph.paths(first=20)]

    assert sorted(paths) == sorted(
        [
            "v-t",
            "v-a-t",
            "v-b-t",
            "v-c-t",
            *(f"v-{x}-{y}-t" for x in "abc" for y in "abc" if x != y),
        ]
    )
    assert paths[0] == "v-t"


@pytest.mark.parametrize(
    ("blocker", "blocked"),
    [("c", "t"), ("t", "c"), ("d", "v"), ("v", "d")],
    ids=[
        "broker-blocked-target",
        "target-blocked-broker",
        "broker-blocked-viewer",
        "viewer-blocked-broker",
    ],
)
async def test_no_path_goes_through_a_block_either_way(graph, blocker, blocked):
    await _three_routes(graph)
    await graph.block(blocker, blocked)

    assert await graph.paths() == [("v-b-t", 0.6), ("v-a-t", 0.3)]


@pytest.mark.parametrize(("blocker", "blocked"), [("v", "t"), ("t", "v")])
async def test_there_is_no_path_between_members_when_one_blocked_the_other(graph, blocker, blocked):
    await _three_routes(graph)
    await graph.block(blocker, blocked)

    assert await graph.paths() == []


async def test_no_path_goes_through_a_member_the_viewer_may_not_see(graph):
    await graph.members("hermit", visibility=Visibility.ONLY_ME)
    await graph.members("private", visibility=Visibility.CONNECTIONS)
    await graph.ties(
        ("v", "hermit", 0.9),
        ("hermit", "t", 0.9),
        # a 3-hop path whose second broker shows only their connections (not the viewer)
        ("v", "a", 0.8),
        ("a", "private", 0.8),
        ("private", "t", 0.8),
        ("v", "b", 0.4),
        ("b", "t", 0.4),
    )

    assert await graph.paths() == [("v-b-t", 0.4)]


async def test_a_broker_who_shows_their_connections_is_seen_by_them(graph):
    await graph.members("private", visibility=Visibility.CONNECTIONS)
    await graph.ties(("v", "a", 0.8), ("a", "private", 0.8), ("private", "t", 0.8))
    await graph.ties(("v", "private", 0.1))

    assert await graph.paths() == [("v-a-private-t", 0.8), ("v-private-t", 0.1)]


async def test_there_is_no_path_to_a_member_the_viewer_may_not_see(graph):
    await graph.members("hidden", visibility=Visibility.CONNECTIONS)
    await graph.ties(("v", "a", 0.9), ("a", "b", 0.9), ("b", "hidden", 0.9))

    assert await graph.paths(target="hidden") == []


async def test_there_is_no_path_when_nobody_links_the_two(graph):
    await graph.ties(("v", "a", 0.9), ("a", "b", 0.9), ("b", "c", 0.9), ("c", "t", 0.9))

    assert await graph.paths() == []


async def test_among_equally_strong_paths_a_responsive_broker_comes_first(graph):
    await graph.ties(("v", "a", 0.5), ("a", "t", 0.5), ("v", "b", 0.5), ("b", "t", 0.5))
    await graph.intros("b", IntroStatus.FORWARDED, IntroStatus.ACCEPTED, IntroStatus.FORWARDED)
    await graph.intros("a", IntroStatus.DECLINED, IntroStatus.EXPIRED, IntroStatus.FORWARDED)

    assert await graph.paths() == [("v-b-t", 0.5), ("v-a-t", 0.5)]


async def test_a_broker_is_neutral_until_asked_a_few_times(graph):
    await graph.intros("a", IntroStatus.FORWARDED, IntroStatus.FORWARDED)
    await graph.intros("b", IntroStatus.DECLINED, IntroStatus.FORWARDED, IntroStatus.FORWARDED)
    await graph.intros("c", IntroStatus.REQUESTED, IntroStatus.REQUESTED, IntroStatus.REQUESTED)

    assert await graph.responsiveness(*"abcd") == {"a": 0.5, "b": 0.667, "c": 0.5, "d": 0.5}


async def test_intros_left_open_past_their_expiry_count_as_not_passed_on(graph):
    # given intros nobody recorded as expired: open, asked 15 days ago
    await graph.intros("a", IntroStatus.REQUESTED, IntroStatus.REQUESTED, days_ago=15)
    await graph.intros("a", IntroStatus.DECLINED)
    # ... and forwarded ones whose target never answered: the broker did their part
    await graph.intros("b", *[IntroStatus.FORWARDED] * 3, days_ago=15)
    await graph.intros("c", *[IntroStatus.REQUESTED] * 3, days_ago=13)

    assert await graph.responsiveness(*"abc") == {"a": 0.0, "b": 1.0, "c": 0.5}

    # and a broker who lets every intro lapse comes last among equally strong paths
    await graph.ties(("v", "a", 0.5), ("a", "t", 0.5), ("v", "c", 0.5), ("c", "t", 0.5))
    assert await graph.paths() == [("v-c-t", 0.5), ("v-a-t", 0.5)]


# Strength decays: a tie halves every 120 days without contact.


async def test_an_old_strong_tie_loses_to_a_fresh_weaker_one(graph, clock):
    await graph.ties(("v", "a", 0.9), ("a", "t", 0.9), ("v", "b", 0.5), ("b", "t", 0.5))
    assert await graph.paths() == [("v-a-t", 0.9), ("v-b-t", 0.5)]

    # when Ada last heard from the viewer 240 days ago (two half-lives)
    await graph.age("v", "a", days=240)

    # then her path is as strong as that tie is now, and the fresh path comes first
    assert await graph.paths() == [("v-b-t", 0.5), ("v-a-t", 0.225)]

    # and as time passes, every tie fades from its last contact
    clock.advance(days=120)
    assert await graph.paths() == [("v-b-t", 0.25), ("v-a-t", 0.1125)]


@pytest.mark.parametrize(("one", "other"), [("v", "c"), ("c", "d"), ("d", "t")])
async def test_an_old_tie_anywhere_on_a_longer_path_weakens_it(graph, one, other):
    await graph.ties(("v", "c", 0.8), ("c", "d", 0.8), ("d", "t", 0.8))
    await graph.ties(("v", "b", 0.5), ("b", "t", 0.5))
    assert await graph.paths() == [("v-c-d-t", 0.8), ("v-b-t", 0.5)]

    await graph.age(one, other, days=240)

    assert await graph.paths() == [("v-b-t", 0.5), ("v-c-d-t", 0.2)]


async def test_a_paths_strength_is_that_of_its_weakest_relationship_now(graph, clock):
    # given ties made and strengthened through the app's own commands, at different times
    async with graph.store.transaction() as tx:
        for one, other in (("v", "a"), ("a", "t"), ("v", "b"), ("b", "t")):
            await relationships.connect(
                tx,
                member_id=graph.ids[one],
                other_id=graph.ids[other],
                context="met",
                introduced_by_id=None,
            )
        for _ in range(3):
            await relationships.record_help(tx, member_id=graph.ids["v"], other_id=graph.ids["a"])
        await tx.commit()
    clock.advance(days=61, hours=5)
    async with graph.store.transaction() as tx:
        await relationships.record_help(tx, member_id=graph.ids["a"], other_id=graph.ids["t"])
        await relationships.record_intro(tx, member_id=graph.ids["b"], other_id=graph.ids["t"])
        await tx.commit()
    clock.advance(days=17, minutes=3)

    found = dict(await graph.paths())

    # then each path is as strong as its weakest relationship says it is now
    async with graph.store.reader() as session:
        for path, strongest in found.items():
            members = [graph.ids[handle] for handle in path.split("-")]
            ties = [
                (await network_graph.ties_with(session, viewer_id=one, member_ids=[other]))[other]
                for one, other in itertools.pairwise(members)
            ]
            assert strongest == min(tie.strength(graph.now) for tie in ties), path
    assert list(found) == ["v-a-t", "v-b-t"]
    assert 0 < found["v-b-t"] < found["v-a-t"] < 0.5


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_hops": 0}, "max_hops"),
        ({"max_hops": 4}, "max_hops"),
        ({"first": 0}, "first"),
        ({"first": 21}, "first"),
    ],
)
async def test_out_of_range_options_are_refused(graph, options, field):
    with pytest.raises(DomainError) as refused:
        await graph.paths(**options)

    assert refused.value.code is Code.INVALID_INPUT
    assert refused.value.field == (field,)


async def test_a_path_to_oneself_is_refused(graph):
    with pytest.raises(DomainError) as refused:
        await graph.paths(target="v")

    assert refused.value.code is Code.INVALID_INPUT


@pytest.mark.parametrize("walk", ["from the viewer", "from the members"])
async def test_degrees_of_separation_count_the_hops_along_the_shortest_path(
    graph, monkeypatch, walk
):
    if walk == "from the members":  # as for a viewer with very many connections
        monkeypatch.setattr(paths, "HUB", 0)
    await graph.members("f")
    await graph.ties(("v", "a", 0.5), ("a", "b", 0.5), ("b", "c", 0.5), ("c", "d", 0.5))
    await graph.ties(("v", "e", 0.5), ("e", "b", 0.5), ("t", "f", 0.5))

    assert await graph.degrees("v", "v", "a", "b", "c", "d", "e", "t") == {
        "v": 0,
        "a": 1,
        "e": 1,
        "b": 2,
        "c": 3,
        "d": None,
        "t": None,
    }
    assert await graph.degrees("d", "c", "b", "a", "v") == {"c": 1, "b": 2, "a": 3, "v": None}


def _expected_paths(
    ties: dict[frozenset[str], float],
    shows: dict[str, Visibility],
    blocks: set[tuple[str, str]],
    viewer: str,
    target: str,
) -> list[tuple[str, float]]:
    """Every path by brute force, ranked as the product ranks them (brokers all neutral).

    ``ties``: each tie's strength now.
    """

    def neighbours(member: str) -> set[str]:
        return {other for pair in ties if member in pair for other in pair if other != member}

    def blocked(one: str, other: str) -> bool:
        return (one, other) in blocks or (other, one) in blocks

    near = neighbours(viewer)
    relation_shown = {
        Visibility.EVERYONE: True,
        Visibility.NETWORK: target in near or bool(near & neighbours(target)),
        Visibility.CONNECTIONS: target in near,
        Visibility.ONLY_ME: False,
    }
    if blocked(viewer, target) or not relation_shown[shows[target]]:
        return []

    def may_broker(member: str, position: int) -> bool:
        if member in (viewer, target) or blocked(member, viewer) or blocked(member, target):
            return False
        if position == 1:  # a connection of the viewer
            return shows[member] is not Visibility.ONLY_ME
        return shows[member] in (Visibility.EVERYONE, Visibility.NETWORK) or (
            shows[member] is Visibility.CONNECTIONS and member in near
        )

    found = []
    walks: list[list[str]] = [[viewer]]
    for _ in range(3):
        longer = []
        for walk in walks:
            for step in neighbours(walk[-1]) - set(walk):
                if step == target:
                    found.append([*walk, step])
                elif may_broker(step, len(walk)):
                    longer.append([*walk, step])
        walks = longer
    ranked = [
        (min(ties[frozenset(pair)] for pair in itertools.pairwise(path)), path) for path in found
    ]
    ranked.sort(key=lambda entry: (-entry[0], len(entry[1])))
    return [("-".join(path), weakest) for weakest, path in ranked]


async def test_the_paths_are_those_a_brute_force_search_finds(store):
    # given a random network with hidden profiles, blocks and ties of all ages
    rng = random.Random(11)
    handles = [f"m{number:02d}" for number in range(40)]
    shows = {
        handle: rng.choices(list(Visibility), weights=[70, 15, 10, 5])[0] for handle in handles
    }
    graph = Graph(store)
    for visibility in Visibility:
        await graph.members(*(h for h in handles if shows[h] is visibility), visibility=visibility)
    snapshots: dict[frozenset[str], float] = {}
    while len(snapshots) < 110:
        one, other = rng.sample(handles, 2)
        snapshots.setdefault(frozenset((one, other)), rng.choice([0.2, 0.4, 0.6, 0.8]))
    await graph.ties(*((min(pair), max(pair), strength) for pair, strength in snapshots.items()))
    # ... each tie last in contact up to 400 days ago: as strong now as 120-day halvings leave
    ties: dict[frozenset[str], float] = {}
    for pair, snapshot in snapshots.items():
        days = rng.choice([0, rng.uniform(0, 400)])
        await graph.age(min(pair), max(pair), days=days)
        ties[pair] = round(snapshot * 0.5 ** (days / 120), 4)
    blocks: set[tuple[str, str]] = set()
    while len(blocks) < 8:
        one, other = rng.sample(handles, 2)
        if frozenset((one, other)) not in ties:
            blocks.add((one, other))
    for blocker, blocked in sorted(blocks):
        await graph.block(blocker, blocked)

    for _ in range(40):
        viewer, target = rng.sample(handles, 2)
        expected = _expected_paths(ties, shows, blocks, viewer, target)
        # then the product finds the same paths, in an order of equal strength and length
        found = await graph.paths(viewer, target, first=20)
        key = [(strength, path.count("-")) for path, strength in found]
        assert key == [(strength, path.count("-")) for path, strength in expected[:20]]
        assert set(found) <= set(expected)
        if len(expected) <= 20:
            assert sorted(found) == sorted(expected)
