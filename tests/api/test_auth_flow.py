"""A member's whole sign-in life, as a mobile client lives it."""

from __future__ import annotations

from tests.api.graphql import LOG_IN, gql, sign_up
from tests.conftest import PASSWORD

VIEWER = "query { viewer { id handle displayName email headline skills { slug label } } }"
REFRESH = """
mutation Refresh($token: String!) {
  refreshSession(input: {refreshToken: $token}) {
    accessToken refreshToken viewer { handle } userErrors { field code message }
  }
}
"""
LOG_OUT = """
mutation LogOut($token: String!) {
  logOut(input: {refreshToken: $token}) { loggedOut userErrors { field code message } }
}
"""


async def test_sign_up_log_in_viewer_update_refresh_log_out(client):
    # Given a member who signs up
    signed_up = await sign_up(client, "ada", display_name="Ada Lovelace")
    assert signed_up["viewer"]["handle"] == "ada"
    assert signed_up["accessToken"]
    assert signed_up["refreshToken"].startswith("rt_")

    # When she logs in on another device
    body = await gql(client, LOG_IN, {"input": {"email": "ADA@example.com ", "password": PASSWORD}})
    login = body["data"]["logIn"]
    assert login["userErrors"] == []
    token = login["accessToken"]

    # Then `viewer` is her, with what only she sees
    body = await gql(client, VIEWER, token=token)
    assert body["data"]["viewer"]["handle"] == "ada"
    assert body["data"]["viewer"]["email"] == "ada@example.com"

    # When she updates her profile, tags are normalised
    body = await gql(
        client,
        """mutation($input: UpdateProfileInput!) {
             updateProfile(input: $input) {
               member { headline skills { slug label } }
               userErrors { field code message }
             }
           }""",
        {"input": {"headline": "Analyst", "skills": ["Search Engine Optimization", "Python"]}},
        token=token,
    )
    updated = body["data"]["updateProfile"]
    assert updated["userErrors"] == []
    assert updated["member"]["headline"] == "Analyst"
    assert [tag["slug"] for tag in updated["member"]["skills"]] == ["seo", "python"]

    # When the session is refreshed, the old refresh token is spent
    body = await gql(client, REFRESH, {"token": login["refreshToken"]})
    refreshed = body["data"]["refreshSession"]
    assert refreshed["userErrors"] == []
    assert refreshed["refreshToken"] != login["refreshToken"]
    assert refreshed["viewer"]["handle"] == "ada"

    # Then replaying the old one is refused, and revokes the new one as well
    body = await gql(client, REFRESH, {"token": login["refreshToken"]})
    assert body["data"]["refreshSession"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    body = await gql(client, REFRESH, {"token": refreshed["refreshToken"]})
    assert body["data"]["refreshSession"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    # ... and the access tokens of that session stop working
    body = await gql(client, VIEWER, token=refreshed["accessToken"])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    # When she logs out of her first device, its refresh token is refused
    body = await gql(client, LOG_OUT, {"token": signed_up["refreshToken"]})
    assert body["data"]["logOut"] == {"loggedOut": True, "userErrors": []}
    body = await gql(client, REFRESH, {"token": signed_up["refreshToken"]})
    assert body["data"]["refreshSession"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    body = await gql(client, VIEWER, token=signed_up["accessToken"])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
