"""Keeping a profile: what updateProfile, addGive and addGoal accept, refuse and record."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from domain.events import OutboxEvent
from tests.api.graphql import gql, sign_up

PROFILE = """
  handle displayName headline bio location timezone
  skills { slug label } interests { slug } seeks { slug }
  helpBudget { requestsPerWeek quietHoursStart quietHoursEnd }
  gives { tag { slug label } description monthlyCapacity }
  goals { title kind until tags { slug } }
"""
UPDATE_PROFILE = f"""
mutation Update($input: UpdateProfileInput!) {{
  updateProfile(input: $input) {{
    member {{ {PROFILE} }}
    userErrors {{ field code message }}
  }}
}}
"""
ADD_GIVE = f"""
mutation AddGive($input: AddGiveInput!) {{
  addGive(input: $input) {{
    give {{ tag {{ slug label }} description monthlyCapacity }}
    member {{ {PROFILE} }}
    userErrors {{ field code message }}
  }}
}}
"""
ADD_GOAL = f"""
mutation AddGoal($input: AddGoalInput!) {{
  addGoal(input: $input) {{
    goal {{ title kind until tags {{ slug label }} }}
    member {{ {PROFILE} }}
    userErrors {{ field code message }}
  }}
}}
"""


@pytest.fixture
async def ada(client) -> str:
    """A signed-up member's access token."""
    signed_up = await sign_up(client, "ada", display_name="Ada Lovelace")
    token: str = signed_up["accessToken"]
    return token


async def run(client, token: str, document: str, **input: Any) -> dict[str, Any]:
    """Send a mutation as the member; return its payload."""
    body = await gql(client, document, {"input": input}, token=token)
    assert "errors" not in body, body
    payload: dict[str, Any] = next(iter(body["data"].values()))
    return payload


async def update_profile(client, token: str, **changes: Any) -> dict[str, Any]:
    return await run(client, token, UPDATE_PROFILE, **changes)


async def updated(client, token: str, **changes: Any) -> dict[str, Any]:
    """Update the profile, expecting success; return the member as it now reads."""
    payload = await update_profile(client, token, **changes)
    assert payload["userErrors"] == [], payload["userErrors"]
    member: dict[str, Any] = payload["member"]
    return member


def refused(payload: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Assert nothing was returned but errors; return their codes and fields."""
    changed = {name: value for name, value in payload.items() if name != "userErrors"}
    assert all(value is None for value in changed.values()), payload
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


def slugs(tags: list[dict[str, str]]) -> list[str]:
    return [tag["slug"] for tag in tags]


async def outbox(store, type: str) -> list[dict[str, Any]]:
    """Return the payloads of the outbox events of one type, oldest first."""
    async with store.reader() as session:
        events = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == type).order_by(OutboxEvent.id)
        )
        return [event.payload for event in events]


async def event_count(store) -> int:
    async with store.reader() as session:
        return len((await session.scalars(select(OutboxEvent))).all())


# updateProfile: refusals


@pytest.mark.parametrize(
    ("changes", "code", "field", "gist"),
    [
        ({"displayName": ""}, "INVALID_INPUT", ["displayName"], "empty"),
        ({"displayName": "   "}, "INVALID_INPUT", ["displayName"], "empty"),
        ({"displayName": None}, "INVALID_INPUT", ["displayName"], "empty"),
        ({"displayName": "x" * 81}, "INVALID_INPUT", ["displayName"], "80"),
        ({"headline": "x" * 141}, "INVALID_INPUT", ["headline"], "140"),
        ({"bio": "x" * 2001}, "INVALID_INPUT", ["bio"], "2000"),
        ({"location": "x" * 101}, "INVALID_INPUT", ["location"], "100"),
        ({"headline": "Null\u0000byte"}, "INVALID_INPUT", ["headline"], "control"),
        ({"timezone": "Mars/Base"}, "INVALID_INPUT", ["timezone"], "IANA"),
        ({"timezone": "Europe"}, "INVALID_INPUT", ["timezone"], "IANA"),
        ({"timezone": "Europe/Paris/"}, "INVALID_INPUT", ["timezone"], "IANA"),
        ({"timezone": "../../etc/passwd"}, "INVALID_INPUT", ["timezone"], "IANA"),
        ({"timezone": "x" * 300}, "INVALID_INPUT", ["timezone"], "IANA"),
        (
            {"helpBudget": {"requestsPerWeek": 99}},
            "INVALID_INPUT",
            ["helpBudget", "requestsPerWeek"],
            "between 0 and 50",
        ),
        (
            {"helpBudget": {"requestsPerWeek": -1}},
            "INVALID_INPUT",
            ["helpBudget", "requestsPerWeek"],
            "between 0 and 50",
        ),
        (
            {"helpBudget": {"requestsPerWeek": 3, "quietHoursStart": "22:00:00"}},
            "INVALID_INPUT",
            ["helpBudget", "quietHoursEnd"],
            "both ends",
        ),
        (
            {"skills": [f"skill {number}" for number in range(31)]},
            "LIMIT_EXCEEDED",
            ["skills"],
            "at most 30",
        ),
        (
            {"seeks": [f"seek {number}" for number in range(21)]},
            "LIMIT_EXCEEDED",
            ["seeks"],
            "at most 20",
        ),
        ({"skills": ["Python", "!!!"]}, "INVALID_INPUT", ["skills"], "'!!!' is not a tag"),
        ({"interests": ["   "]}, "INVALID_INPUT", ["interests"], "not a tag"),
    ],
)
async def test_a_bad_profile_change_is_refused_and_changes_nothing(
    client, store, ada, changes, code, field, gist
):
    # Given a member with a headline
    before = await updated(client, ada, headline="Analyst")
    events = await event_count(store)

    # When she sends a change that breaks a rule (with a good one, unless it is the bio)
    payload = await update_profile(client, ada, **{"bio": "A new bio", **changes})

    # Then she is told which field and why
    assert refused(payload) == [(code, ["input", *field])]
    assert gist in payload["userErrors"][0]["message"]
    # ... and nothing changed, not even the good part, and no event was written
    after = await updated(client, ada)
    assert after == before
    assert await event_count(store) == events


async def test_several_bad_changes_are_reported_together(client, ada):
    payload = await update_profile(
        client, ada, displayName="", headline="x" * 141, timezone="Mars/Base"
    )

    assert sorted(refused(payload)) == [
        ("INVALID_INPUT", ["input", "displayName"]),
        ("INVALID_INPUT", ["input", "headline"]),
        ("INVALID_INPUT", ["input", "timezone"]),
    ]


# updateProfile: changes


async def test_a_partial_update_leaves_the_rest_as_it_was(client, ada):
    # Given a member with a full profile
    await updated(
        client,
        ada,
        headline="Analyst",
        bio="Wrote the first program.",
        location="London",
        timezone="Europe/London",
        skills=["Mathematics"],
        interests=["Poetry"],
        seeks=["Engines"],
        helpBudget={"requestsPerWeek": 5, "quietHoursStart": "22:00", "quietHoursEnd": "07:00"},
    )

    # When she changes her bio alone
    member = await updated(client, ada, bio="Translated Menabrea.")

    # Then everything else is as it was
    assert member["bio"] == "Translated Menabrea."
    assert member["displayName"] == "Ada Lovelace"
    assert member["headline"] == "Analyst"
    assert member["location"] == "London"
    assert member["timezone"] == "Europe/London"
    assert slugs(member["skills"]) == ["mathematics"]
    assert slugs(member["interests"]) == ["poetry"]
    assert slugs(member["seeks"]) == ["engines"]
    assert member["helpBudget"] == {
        "requestsPerWeek": 5,
        "quietHoursStart": "22:00:00",
        "quietHoursEnd": "07:00:00",
    }


async def test_null_clears_an_optional_field(client, ada):
    await updated(client, ada, headline="Analyst", timezone="Europe/London")

    member = await updated(client, ada, headline=None, timezone=None)

    assert member["headline"] is None
    assert member["timezone"] is None
    assert member["displayName"] == "Ada Lovelace"


async def test_text_is_trimmed_and_blank_text_clears(client, ada):
    member = await updated(client, ada, displayName="  Ada   King ", headline="   ", bio=" Hi ")

    assert member["displayName"] == "Ada King"
    assert member["headline"] is None
    assert member["bio"] == "Hi"


async def test_tags_are_normalised_and_de_duplicated(client, ada):
    member = await updated(
        client,
        ada,
        skills=["SEO", "search engine optimisation", "Search Engine Optimization", "C++", "k8s"],
        interests=["Node.js", "nodejs"],
    )

    assert member["skills"] == [
        {"slug": "seo", "label": "SEO"},
        {"slug": "cpp", "label": "C++"},
        {"slug": "kubernetes", "label": "k8s"},
    ]
    assert slugs(member["interests"]) == ["nodejs"]


async def test_duplicates_do_not_count_against_the_tag_limit(client, ada):
    member = await updated(client, ada, skills=["Python"] * 30 + ["python", "PYTHON"])

    assert slugs(member["skills"]) == ["python"]


async def test_a_list_replaces_the_tags_and_an_empty_one_clears_them(client, ada):
    await updated(client, ada, skills=["Python", "SQL"])

    assert slugs((await updated(client, ada, skills=["Go"]))["skills"]) == ["go"]
    assert (await updated(client, ada, skills=[]))["skills"] == []


async def test_a_successful_update_writes_one_event_naming_what_changed(client, store, ada):
    # When she updates her profile
    await updated(client, ada, headline="Analyst", skills=["Python"], privacy={"seeks": "ONLY_ME"})

    # Then one event says so, with the fields that changed
    (event,) = await outbox(store, "member.profile_updated")
    assert sorted(event["fields"]) == ["headline", "privacy", "skills"]
    assert event["member_id"] == (await outbox(store, "member.joined"))[0]["member_id"]


async def test_an_update_that_changes_nothing_writes_no_event(client, store, ada):
    events = await event_count(store)

    await updated(client, ada)

    assert await event_count(store) == events


# addGive


async def test_a_give_is_added_with_its_tag_normalised(client, store, ada):
    # When a member offers help with fundraising
    payload = await run(
        client,
        ada,
        ADD_GIVE,
        tag="Fund raising",
        description="  Seed rounds, mostly. ",
        monthlyCapacity=2,
    )

    # Then the give is on her profile
    assert payload["userErrors"] == []
    assert payload["give"] == {
        "tag": {"slug": "fundraising", "label": "Fund raising"},
        "description": "Seed rounds, mostly.",
        "monthlyCapacity": 2,
    }
    assert payload["member"]["gives"] == [payload["give"]]
    # ... and recorded in the outbox
    (event,) = await outbox(store, "member.give_added")
    assert event["tag"] == "fundraising"


@pytest.mark.parametrize(
    ("input", "code", "field"),
    [
        ({"tag": "fundraise"}, "ALREADY_EXISTS", ["tag"]),
        ({"tag": "Python", "monthlyCapacity": 0}, "INVALID_INPUT", ["monthlyCapacity"]),
        ({"tag": "Python", "monthlyCapacity": 101}, "INVALID_INPUT", ["monthlyCapacity"]),
        ({"tag": "Python", "description": "x" * 281}, "INVALID_INPUT", ["description"]),
        ({"tag": "Python", "description": "a\u0000b"}, "INVALID_INPUT", ["description"]),
        ({"tag": "???"}, "INVALID_INPUT", ["tag"]),
        ({"tag": ""}, "INVALID_INPUT", ["tag"]),
    ],
)
async def test_a_bad_give_is_refused_and_writes_no_event(client, store, ada, input, code, field):
    # Given a member who already gives fundraising help
    first = await run(client, ada, ADD_GIVE, tag="Fundraising")
    assert first["userErrors"] == []
    events = await event_count(store)

    # When she adds a give that breaks a rule
    payload = await run(client, ada, ADD_GIVE, **input)

    # Then it is refused with the field, and nothing was recorded
    assert refused(payload) == [(code, ["input", *field])]
    assert await event_count(store) == events
    member = await updated(client, ada)
    assert [give["tag"]["slug"] for give in member["gives"]] == ["fundraising"]


# addGoal


async def test_a_goal_is_added_with_its_tags_normalised(client, store, ada):
    until = (dt.date.today() + dt.timedelta(days=30)).isoformat()

    payload = await run(
        client,
        ada,
        ADD_GOAL,
        title="  Raise a   seed round ",
        kind="FUNDRAISING",
        tags=["Fund raising", "VC", "vc"],
        until=until,
    )

    assert payload["userErrors"] == []
    goal = {
        "title": "Raise a seed round",
        "kind": "FUNDRAISING",
        "until": until,
        "tags": [{"slug": "fundraising"}, {"slug": "venture-capital"}],
    }
    assert {
        **payload["goal"],
        "tags": [{"slug": t["slug"]} for t in payload["goal"]["tags"]],
    } == goal
    assert payload["member"]["goals"] == [goal]
    (event,) = await outbox(store, "member.goal_added")
    assert event["tags"] == ["fundraising", "venture-capital"]


async def test_a_goal_due_today_is_accepted(client, ada):
    today = dt.datetime.now(dt.UTC).date().isoformat()

    payload = await run(client, ada, ADD_GOAL, title="Ship it", until=today)

    assert payload["userErrors"] == []


@pytest.mark.parametrize(
    ("input", "code", "field"),
    [
        ({"title": "Ship it", "until": "2020-01-01"}, "INVALID_INPUT", ["until"]),
        ({"title": "Go"}, "INVALID_INPUT", ["title"]),
        ({"title": "x" * 141}, "INVALID_INPUT", ["title"]),
        ({"title": "Ship\u0000it"}, "INVALID_INPUT", ["title"]),
        ({"title": "Ship it", "tags": ["..."]}, "INVALID_INPUT", ["tags"]),
        (
            {"title": "Ship it", "tags": [f"topic {n}" for n in range(11)]},
            "LIMIT_EXCEEDED",
            ["tags"],
        ),
    ],
)
async def test_a_bad_goal_is_refused_and_writes_no_event(client, store, ada, input, code, field):
    events = await event_count(store)

    payload = await run(client, ada, ADD_GOAL, **input)

    assert refused(payload) == [(code, ["input", *field])]
    assert await event_count(store) == events
    assert (await updated(client, ada))["goals"] == []


async def test_profile_mutations_need_a_signed_in_member(client):
    for document, input in (
        (UPDATE_PROFILE, {"headline": "Analyst"}),
        (ADD_GIVE, {"tag": "Python"}),
        (ADD_GOAL, {"title": "Ship it"}),
    ):
        body = await gql(client, document, {"input": input})

        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
