"""suggestedAudience through GraphQL: the author's suggestions with coded reasons and
subjects, and the errors for a malformed id, a hidden request and someone else's."""

from __future__ import annotations

from strawberry import relay

from tests.api.graphql import gql
from tests.api.test_help_requests import circle, posted
from tests.api.test_relationships import member
from tests.integration.test_suggested_audience import GIVE, PROFILE, ok, tie

SUGGESTED = """
query($id: ID!, $first: Int) {
  suggestedAudience(helpRequestId: $id, first: $first) {
    member { handle } score reasons { code label subject }
  }
}
"""


async def _ask(client, viewer, request_id, first=None):
    return await gql(client, SUGGESTED, {"id": request_id, "first": first}, token=viewer["token"])


async def test_the_author_gets_members_with_coded_reasons_and_subjects(client, store):
    ada, bob, cleo, dan = [await member(client, h) for h in ("ada", "bob", "cleo", "dan")]
    await tie(store, ada, bob, 0.9)
    await tie(store, bob, cleo, 0.7)
    await tie(store, ada, dan, 0.1)
    await ok(client, bob, PROFILE, input={"skills": ["SEO"]})
    await ok(client, cleo, GIVE, tag="SEO")
    await ok(client, dan, PROFILE, input={"skills": ["SEO"]})
    growth = await circle(client, ada, "Growth", dan)
    request = await posted(client, ada, tags=["SEO"])

    body = await _ask(client, ada, request["id"])

    assert "errors" not in body, body
    assert body["data"]["suggestedAudience"] == [
        {
            "member": {"handle": "bob"},
            "score": 1.9,
            "reasons": [
                {"code": "SKILL_MATCH", "label": "SEO", "subject": None},
                {"code": "STRONG_TIE", "label": "0.90", "subject": None},
            ],
        },
        {
            "member": {"handle": "dan"},
            "score": 1.375,
            "reasons": [
                {"code": "SKILL_MATCH", "label": "SEO", "subject": None},
                {"code": "SHARED_CIRCLE", "label": "Growth", "subject": growth["id"]},
            ],
        },
        {
            "member": {"handle": "cleo"},
            "score": 1.275,
            "reasons": [
                {"code": "GIVES", "label": "SEO", "subject": None},
                {"code": "VIA", "label": "bob", "subject": bob["id"]},
            ],
        },
    ]
    assert relay.GlobalID.from_id(bob["id"]).type_name == "Member"
    first = await _ask(client, ada, request["id"], first=1)
    assert [s["member"]["handle"] for s in first["data"]["suggestedAudience"]] == ["bob"]


async def test_errors_for_a_malformed_id_a_hidden_request_and_someone_elses(client, store):
    ada, bob, cleo = [await member(client, h) for h in ("ada", "bob", "cleo")]
    await tie(store, ada, bob, 0.5)
    public = await posted(client, ada, tags=["SEO"])
    connections_only = await posted(client, ada, tags=["SEO"], audience={"scope": "CONNECTIONS"})

    def code(body):
        assert body["data"] is None, body
        return body["errors"][0]["extensions"]["code"]

    assert code(await _ask(client, ada, "not-an-id")) == "INVALID_INPUT"
    assert code(await _ask(client, ada, bob["id"])) == "INVALID_INPUT"  # a Member's id
    assert code(await _ask(client, ada, public["id"], first=0)) == "INVALID_INPUT"
    assert code(await _ask(client, bob, public["id"])) == "FORBIDDEN"
    assert code(await _ask(client, cleo, connections_only["id"])) == "NOT_FOUND"
    unknown = relay.to_base64("HelpRequest", 999_999)
    assert code(await _ask(client, ada, unknown)) == "NOT_FOUND"
    anonymous = await gql(client, SUGGESTED, {"id": public["id"]})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
