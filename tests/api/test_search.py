"""Finding members by words and tags, page by page, in a constant number of statements."""

from __future__ import annotations

from tests.api.graphql import gql, sign_up

UPDATE = """
mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { userErrors { code message } }
}
"""
ADD_GIVE = """
mutation($input: AddGiveInput!) { addGive(input: $input) { userErrors { code message } } }
"""
SEARCH = """
query($query: String, $tags: [String!], $first: Int, $after: String) {
  searchMembers(query: $query, tags: $tags, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { handle displayName headline skills { slug } gives { tag { slug } } } }
  }
}
"""


async def make_member(client, handle, *, headline=None, skills=(), gives=()):
    token = (await sign_up(client, handle))["accessToken"]
    body = await gql(
        client, UPDATE, {"input": {"headline": headline, "skills": list(skills)}}, token=token
    )
    assert body["data"]["updateProfile"]["userErrors"] == []
    for give in gives:
        body = await gql(client, ADD_GIVE, {"input": {"tag": give}}, token=token)
        assert body["data"]["addGive"]["userErrors"] == []
    return token


async def search(client, **variables):
    body = await gql(client, SEARCH, variables)
    assert "errors" not in body, body
    return body["data"]["searchMembers"]


async def test_words_match_names_headlines_and_tags_as_prefixes(client):
    await make_member(client, "ada", headline="Growth marketer", skills=["SEO"])
    await make_member(client, "grace", headline="Compiler engineer", skills=["COBOL"])

    found = await search(client, query="market")
    assert [edge["node"]["handle"] for edge in found["edges"]] == ["ada"]

    found = await search(client, query="seo")  # a skill
    assert [edge["node"]["handle"] for edge in found["edges"]] == ["ada"]

    found = await search(client, query="Grace")
    assert [edge["node"]["handle"] for edge in found["edges"]] == ["grace"]


async def test_tags_rank_members_matching_more_of_them_first(client):
    await make_member(client, "ada", skills=["python"])
    await make_member(client, "bob", skills=["python"], gives=["Search Engine Optimisation"])
    await make_member(client, "cyd", skills=["cooking"])

    found = await search(client, tags=["Python", "SEO"])
    assert [edge["node"]["handle"] for edge in found["edges"]] == ["bob", "ada"]
    assert found["totalCount"] == 2


async def test_pages_follow_each_other_without_gaps_or_repeats(client):
    for n in range(7):
        await make_member(client, f"dev_{n}", skills=["python"])

    seen, after, pages = [], None, 0
    while True:
        page = await search(client, tags=["python"], first=3, after=after)
        seen += [edge["node"]["handle"] for edge in page["edges"]]
        pages += 1
        assert page["totalCount"] == 7
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert sorted(seen) == [f"dev_{n}" for n in range(7)]


async def test_page_size_is_capped_and_cursors_are_checked(client):
    body = await gql(client, SEARCH, {"first": 101})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    body = await gql(client, SEARCH, {"after": "not-a-cursor"})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_a_page_costs_the_same_statements_whatever_its_size(client, statements):
    for n in range(50):
        await make_member(
            client, f"member_{n:02}", skills=["python", "seo"], gives=["python", "writing"]
        )

    async def count(first: int) -> int:
        statements.count, statements.seen = 0, []
        statements.counting = True
        page = await search(client, tags=["python"], first=first)
        statements.counting = False
        assert len(page["edges"]) == first
        assert all(edge["node"]["gives"] for edge in page["edges"])
        return statements.count

    small, large = await count(5), await count(50)
    assert small == large, statements.seen
    # the tags' ids, the ranked ids, the page's rows, then the skills and the gives of all
    # its members at once
    assert large == 5, statements.seen


async def test_pages_can_be_read_backward_from_a_cursor(client):
    for n in range(7):
        await make_member(client, f"dev_{n}", skills=["python"])
    backward = """
    query($before: String, $last: Int) {
      searchMembers(tags: ["python"], last: $last, before: $before) {
        pageInfo { hasNextPage hasPreviousPage startCursor } edges { node { handle } }
      }
    }
    """
    first = await search(client, tags=["python"], first=3)
    second = await search(client, tags=["python"], first=3, after=first["pageInfo"]["endCursor"])
    start_of_second = second["edges"][0]["cursor"]

    body = await gql(client, backward, {"before": start_of_second, "last": 3})
    page = body["data"]["searchMembers"]
    assert [e["node"]["handle"] for e in page["edges"]] == [
        e["node"]["handle"] for e in first["edges"]
    ]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False

    body = await gql(client, backward, {"last": 3})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
