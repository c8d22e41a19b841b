"""Partner apps and webhook endpoints through the API, as an admin, a partner's developer and
a member would use them: client credentials, scopes, endpoints, SSRF refusals, the log."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.context import Runtime
from api.settings import Settings
from api.webhooks import WEBHOOKS, Guard
from api.worker import Worker, dispatcher_for
from domain.partners import service
from tests.api.graphql import gql, sign_up
from tests.conftest import Clock
from tests.receiver import Receiver

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)

CREATE_APP = """
mutation ($input: CreatePartnerAppInput!) {
  createPartnerApp(input: $input) {
    partnerApp { id name clientId scopes active }
    clientSecret
    userErrors { field code message }
  }
}
"""

ENDPOINT_FIELDS = "id url description eventTypes active disabledReason"

CREATE = f"""
mutation ($input: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(input: $input) {{
    endpoint {{ {ENDPOINT_FIELDS} }}
    secret
    userErrors {{ field code message }}
  }}
}}
"""

UPDATE = f"""
mutation ($input: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(input: $input) {{
    endpoint {{ {ENDPOINT_FIELDS} }}
    userErrors {{ field code message }}
  }}
}}
"""

ENDPOINTS = """
query ($first: Int) {
  webhookEndpoints(first: $first) {
    edges { cursor node {
      id url eventTypes active
      deliveries(first: 10) { edges { node {
        id webhookId eventType status attempts lastStatusCode nextAttemptAt body
        attemptLog { number statusCode error durationMs responseBody }
      } } }
    } }
  }
}
"""


async def _fake_dns(host: str, port: int) -> list[Any]:
    """Stands in for DNS for names that exist nowhere but in this test."""
    names = {"intranet.example": "10.1.2.3", "hooks.partner.example": "93.184.215.14"}
    return [ipaddress.ip_address(names[host])] if host in names else []


@pytest.fixture
async def partner_client(
    settings: Settings, clock: Clock
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The app with the loopback receiver allowed, and names resolved by ``_fake_dns``
    except ``localhost`` (the system's resolver)."""
    changed = dataclasses.replace(settings, webhook_allowed_networks=())
    runtime = Runtime.create(changed, clock=clock)

    async def resolve(host: str, port: int) -> list[Any]:
        if host == "localhost":
            from api.webhooks import resolve as system

            return await system(host, port)
        return await _fake_dns(host, port)

    runtime = dataclasses.replace(runtime, webhook_guard=Guard(resolver=resolve))
    app = create_app(changed, runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://rapport.test"
    ) as client:
        yield client, runtime
    await runtime.store.dispose()


async def _app(runtime: Runtime, scopes: list[str] | None = None) -> tuple[str, str]:
    async with runtime.store.transaction() as tx:
        app, secret = await service.create_partner(
            tx, name="Acme CRM", scopes=scopes or ["webhooks:manage", "read:*"], created_by_id=None
        )
        await tx.commit()
    return app.client_id, secret


async def _token(client: httpx.AsyncClient, client_id: str, secret: str, **extra: str) -> str:
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            **extra,
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    return str(body["access_token"])


async def _partner_token(
    client: httpx.AsyncClient, runtime: Runtime, scopes: list[str] | None = None
) -> str:
    return await _token(client, *await _app(runtime, scopes))


async def _create(client: httpx.AsyncClient, token: str, url: str, *types: str) -> dict[str, Any]:
    body = await gql(
        client,
        CREATE,
        {"input": {"url": url, "eventTypes": list(types or ["member.joined"])}},
        token=token,
    )
    payload: dict[str, Any] = body["data"]["createWebhookEndpoint"]
    return payload


async def test_only_an_admin_registers_a_partner_app(
    partner_client: tuple[httpx.AsyncClient, Runtime],
):
    client, runtime = partner_client
    member = await sign_up(client, "ada")
    variables = {"input": {"name": "Acme CRM", "scopes": ["webhooks:manage", "read:ledger"]}}
    refused = (await gql(client, CREATE_APP, variables, token=member["accessToken"]))["data"]
    assert refused["createPartnerApp"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert refused["createPartnerApp"]["partnerApp"] is None

    async with runtime.store.transaction() as tx:
        await service.set_admin(tx, handle="ada", admin=True)
        await tx.commit()
    made = (await gql(client, CREATE_APP, variables, token=member["accessToken"]))["data"][
        "createPartnerApp"
    ]
    assert made["userErrors"] == []
    assert made["partnerApp"]["scopes"] == ["webhooks:manage", "read:ledger"]
    assert made["clientSecret"].startswith("rps_")
    # The secret works once exchanged, and is not kept in a form that could be shown again.
    token = await _token(client, made["partnerApp"]["clientId"], made["clientSecret"])
    assert token
    async with runtime.store.reader() as session:
        [app] = await service.partners(session)
    assert made["clientSecret"] not in (app.secret_hash, app.client_id)

    bad = {"input": {"name": "X", "scopes": ["admin"]}}
    refused = (await gql(client, CREATE_APP, bad, token=member["accessToken"]))["data"]
    assert refused["createPartnerApp"]["userErrors"][0]["code"] == "INVALID_INPUT"


async def test_the_token_endpoint_speaks_oauth_client_credentials(
    partner_client: tuple[httpx.AsyncClient, Runtime],
):
    client, runtime = partner_client
    client_id, secret = await _app(runtime)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "webhooks:manage read:*"

    async def refused(data: dict[str, str], **kwargs: Any) -> tuple[int, str]:
        answer = await client.post("/oauth/token", data=data, **kwargs)
        return answer.status_code, answer.json()["error"]

    grant = {"grant_type": "client_credentials", "client_id": client_id}
    assert await refused({**grant, "client_secret": secret + "x"}) == (401, "invalid_client")
    assert await refused({**grant, "client_secret": secret, "grant_type": "password"}) == (
        400,
        "unsupported_grant_type",
    )
    assert await refused({**grant}) == (401, "invalid_client")
    assert await refused({**grant, "client_secret": secret, "scope": "read:ledger"}) == (
        400,
        "invalid_scope",
    )
    json_body = await client.post("/oauth/token", json={**grant, "client_secret": secret})
    assert (json_body.status_code, json_body.json()["error"]) == (400, "invalid_request")

    # A token narrowed to read:* cannot manage webhooks.
    narrow = await _token(client, client_id, secret, scope="read:*")
    body = await gql(client, ENDPOINTS, token=narrow)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_tokens_keep_to_their_kind(partner_client: tuple[httpx.AsyncClient, Runtime]):
    client, runtime = partner_client
    member = await sign_up(client, "ada")
    partner = await _partner_token(client, runtime)
    # A partner's token does not act for a member...
    body = await gql(
        client,
        'mutation { sendKarma(input: {toMemberId: "x", amount: 1}) { userErrors { code } } }',
        token=partner,
    )
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "partner app's token cannot act for a member" in body["errors"][0]["message"]
    assert (await gql(client, "{ viewer { id } }", token=partner))["data"]["viewer"] is None
    # ...and a member's token does not manage webhooks.
    body = await gql(client, ENDPOINTS, token=member["accessToken"])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # A disabled app's tokens stop at once.
    async with runtime.store.transaction() as tx:
        [app] = await service.partners(tx.session)
        await service.set_partner_active(tx, client_id=app.client_id, active=False)
        await tx.commit()
    body = await gql(client, ENDPOINTS, token=partner)
    assert body["errors"][0]["message"] == "this partner app has been turned off"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::1]:8080/hook", "::1 is a loopback address"),
        ("https://localhost/hook", "is a loopback address"),
        ("https://intranet.example/hook", "10.1.2.3 is a private address"),
        ("https://[::ffff:10.0.0.1]/hook", "10.0.0.1 is a private address"),
        ("https://0.0.0.0/hook", "is an unspecified address"),
        ("https://nowhere.example/hook", "nowhere.example does not resolve"),
        ("http://hooks.partner.example/hook", "use an https:// URL"),
        ("ftp://hooks.partner.example/hook", "use an https:// URL"),
        ("https://user:pw@hooks.partner.example/", "carries no user name or password"),
    ],
)
async def test_urls_that_reach_inside_are_refused(
    partner_client: tuple[httpx.AsyncClient, Runtime], url: str, reason: str
):
    client, runtime = partner_client
    token = await _partner_token(client, runtime)
    payload = await _create(client, token, url)
    assert payload["endpoint"] is None
    assert payload["secret"] is None
    [error] = payload["userErrors"]
    assert (error["field"], error["code"]) == (["input", "url"], "INVALID_INPUT")
    assert reason in error["message"]


async def test_an_endpoint_is_made_managed_and_deleted(
    partner_client: tuple[httpx.AsyncClient, Runtime],
):
    client, runtime = partner_client
    token = await _partner_token(client, runtime, ["webhooks:manage", "read:members"])
    other = await _partner_token(client, runtime)
    made = await _create(client, token, "https://hooks.partner.example/rapport")
    assert made["userErrors"] == []
    endpoint = made["endpoint"]
    assert (endpoint["active"], endpoint["eventTypes"]) == (True, ["member.joined"])
    assert made["secret"].startswith("whsec_")
    assert len(base64.b64decode(made["secret"].removeprefix("whsec_"))) == 32

    refused = await _create(client, token, "https://hooks.partner.example/x", "karma.transferred")
    assert refused["userErrors"][0]["code"] == "INVALID_INPUT"
    assert "read:ledger" in refused["userErrors"][0]["message"]
    unknown = await _create(client, token, "https://hooks.partner.example/x", "member.left")
    assert "unknown event type member.left" in unknown["userErrors"][0]["message"]

    # Another app neither sees nor changes it.
    assert (await gql(client, ENDPOINTS, token=other))["data"]["webhookEndpoints"]["edges"] == []
    node = await gql(
        client, "query ($id: ID!) { node(id: $id) { id } }", {"id": endpoint["id"]}, token=other
    )
    assert node["data"]["node"] is None
    hijack = {"input": {"endpointId": endpoint["id"], "url": "https://hooks.partner.example/mine"}}
    answer = (await gql(client, UPDATE, hijack, token=other))["data"]["updateWebhookEndpoint"]
    assert answer["userErrors"][0]["code"] == "NOT_FOUND"

    off = {"input": {"endpointId": endpoint["id"], "active": False, "description": "CRM sync"}}
    changed = (await gql(client, UPDATE, off, token=token))["data"]["updateWebhookEndpoint"]
    assert changed["endpoint"]["active"] is False
    assert changed["endpoint"]["disabledReason"] == "turned off by the partner"
    assert changed["endpoint"]["description"] == "CRM sync"
    test = await gql(
        client,
        "mutation ($input: SendTestWebhookInput!) { sendTestWebhook(input: $input) "
        "{ userErrors { code message } } }",
        {"input": {"endpointId": endpoint["id"]}},
        token=token,
    )
    assert test["data"]["sendTestWebhook"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    inside = {"input": {"endpointId": endpoint["id"], "url": "https://intranet.example/"}}
    moved = (await gql(client, UPDATE, inside, token=token))["data"]["updateWebhookEndpoint"]
    assert moved["userErrors"][0]["field"] == ["input", "url"]

    deleted = await gql(
        client,
        "mutation ($input: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $input) "
        "{ deletedEndpointId userErrors { code } } }",
        {"input": {"endpointId": endpoint["id"]}},
        token=token,
    )
    assert deleted["data"]["deleteWebhookEndpoint"]["deletedEndpointId"] == endpoint["id"]
    assert (await gql(client, ENDPOINTS, token=token))["data"]["webhookEndpoints"]["edges"] == []


async def test_a_test_event_its_log_and_a_redelivery(settings: Settings, clock: Clock):
    runtime = Runtime.create(
        dataclasses.replace(
            settings,
            webhook_allowed_networks=LOOPBACK,
            webhook_retry_schedule=(dt.timedelta(0),),
        ),
        clock=clock,
    )
    app = create_app(runtime.settings, runtime)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        Receiver(lambda _r: (200, {}, b"got it")) as receiver,
    ):
        token = await _partner_token(client, runtime)
        made = await _create(client, token, receiver.url())
        endpoint_id = made["endpoint"]["id"]
        rotated = (
            await gql(
                client,
                "mutation ($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input)"
                " { secret previousSecretExpiresAt userErrors { code } } }",
                {"input": {"endpointId": endpoint_id}},
                token=token,
            )
        )["data"]["rotateWebhookSecret"]
        assert rotated["secret"] != made["secret"]
        ends = dt.datetime.fromisoformat(rotated["previousSecretExpiresAt"])
        assert ends == (clock.now + dt.timedelta(hours=24)).replace(microsecond=ends.microsecond)
        await gql(
            client,
            "mutation ($input: SendTestWebhookInput!) { sendTestWebhook(input: $input) "
            "{ userErrors { code } } }",
            {"input": {"endpointId": endpoint_id}},
            token=token,
        )
        dispatcher = dispatcher_for(runtime)
        await Worker(runtime.store, _ignore, [WEBHOOKS], dispatcher=dispatcher).round()
        await dispatcher.drain()
        [received] = receiver.received
        edges = (await gql(client, ENDPOINTS, token=token))["data"]["webhookEndpoints"]["edges"]
        [delivery] = [edge["node"] for edge in edges[0]["node"]["deliveries"]["edges"]]
        assert delivery["eventType"] == "webhook.test"
        assert (delivery["status"], delivery["attempts"]) == ("SUCCEEDED", 1)
        assert delivery["webhookId"] == received.webhook_id
        assert delivery["body"].encode() == received.body
        assert delivery["attemptLog"][0]["statusCode"] == 200
        assert delivery["attemptLog"][0]["responseBody"] == "got it"

        redeliver = """
        mutation ($input: RedeliverWebhookInput!) {
          redeliverWebhook(input: $input) { delivery { status } userErrors { code message } }
        }"""
        again = await gql(client, redeliver, {"input": {"deliveryId": delivery["id"]}}, token=token)
        assert again["data"]["redeliverWebhook"]["delivery"]["status"] == "PENDING"
        twice = await gql(client, redeliver, {"input": {"deliveryId": delivery["id"]}}, token=token)
        assert twice["data"]["redeliverWebhook"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
        await dispatcher.drain()
        assert [r.webhook_id for r in receiver.received] == [received.webhook_id] * 2
    await runtime.store.dispose()


async def _ignore(_channel: str, _message: dict[str, Any]) -> None:
    return None


async def test_event_types_are_listed_with_their_scopes(client: httpx.AsyncClient):
    body = await gql(client, "{ webhookEventTypes { name scope } }")
    types = {item["name"]: item["scope"] for item in body["data"]["webhookEventTypes"]}
    assert types["karma.transferred"] == "read:ledger"
    assert types["help_request.posted"] == "read:marketplace"
    assert set(types) >= {
        "member.joined",
        "help_request.posted",
        "help_request.fulfilled",
        "help_request.cancelled",
        "offer.accepted",
        "help.completed",
        "karma.transferred",
        "iou.issued",
        "iou.settled",
        "intro.accepted",
        "connection.accepted",
    }
