#!/usr/bin/env python3
"""Rapport's journey as a client sees it, against a running server: HTTP, WebSocket, webhooks.

    make run                                  # in one terminal: a demo network, seeded
    .venv/bin/python examples/journey.py      # in another (needs httpx and websockets only)

Carol asks her network for SEO help with a karma bounty. Alice, whose skill is SEO and who
knows Carol through Bob, is subscribed to her opportunities and is pushed the ask with its
reasons; she finds her warm path to Carol, offers, and Carol accepts and pays the bounty.
A second help is settled with an IOU, which Alice later calls in; Carol helps back and the
IOU is settled. Meanwhile a partner app's endpoint (a small HTTP server this script runs on
127.0.0.1) receives the events and verifies every signature.

Each step is printed; anything unexpected stops the journey with exit status 1. Nothing of
Rapport is imported: this is what any client does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

DEMO_PASSWORD = "rapport-demo-network"
FIRST_ASK = "An SEO review of our launch page"
SECOND_ASK = "Which keywords should our pricing page target?"
ALICES_ASK = "An intro to a product-marketing podcast host"
OPEN_ASKS = """{ viewer { helpRequests(status: [OPEN, IN_PROGRESS], first: 50) {
  nodes { id title status } } } }"""
CANCEL = """mutation($id: ID!) { cancelHelpRequest(input: {helpRequestId: $id}) {
  helpRequest { status } userErrors { code message } } }"""
EVENT_TYPES = [
    "help_request.posted",
    "help.completed",
    "karma.transferred",
    "iou.issued",
    "iou.settled",
]


class Surprise(Exception):
    """Something a client would not expect: the journey stops here."""


def expect(condition: object, message: str) -> None:
    if not condition:
        raise Surprise(message)


def step(text: str) -> None:
    print(f"\n== {text}")


def say(text: str) -> None:
    print(f"   {text}")


class Api:
    """GraphQL over HTTP, as one caller (a member or a partner app)."""

    def __init__(self, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.http = http
        self.token = token

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        headers = {"Accept": "application/graphql-response+json, application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        answer = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = answer.json()
        expect("errors" not in body, f"GraphQL errors: {json.dumps(body.get('errors'))}")
        data: dict[str, Any] = body["data"]
        return data

    async def mutate(self, name: str, query: str, **variables: Any) -> dict[str, Any]:
        """Run a mutation; its userErrors are a surprise."""
        payload: dict[str, Any] = (await self(query, **variables))[name]
        expect(payload["userErrors"] == [], f"{name} refused: {payload['userErrors']}")
        return payload


class Receiver:
    """The partner's endpoint: records each POST and answers 204."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rapport-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def verify(secret: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """Verify a Standard Webhooks signature the way any receiver does (the `standardwebhooks`
    library does the same)."""
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    expect(abs(time.time() - int(timestamp)) < 300, "a webhook timestamp more than 5 min off")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    signatures = [part.split(",", 1)[1] for part in headers["webhook-signature"].split()]
    expect(
        any(hmac.compare_digest(base64.b64decode(sig), expected) for sig in signatures),
        f"a webhook ({message_id}) whose signature does not verify",
    )
    event: dict[str, Any] = json.loads(body)
    return event


async def wait_for(what: str, probe: Callable[[], Any], seconds: float) -> Any:
    """Poll ``probe`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        await asyncio.sleep(0.25)
    raise Surprise(f"waited {seconds:g} s for {what}")


LOG_IN = """mutation($email: String!, $password: String!) {
  logIn(input: {email: $email, password: $password}) {
    accessToken viewer { id handle } userErrors { code message } } }"""
ME = """{ viewer { karma { balance available held }
  reciprocity { band helpGiven helpReceived karmaEarned karmaSpent } } }"""
ASK = """mutation($input: PostHelpRequestInput!) {
  postHelpRequest(input: $input) { helpRequest { id title } userErrors { field code message } } }"""
OFFER = """mutation($id: ID!) { offerHelp(input: {helpRequestId: $id, message: "Happy to help"}) {
  offer { id } userErrors { code message } } }"""
ACCEPT = """mutation($id: ID!) { acceptOffer(input: {offerId: $id}) {
  offer { status } userErrors { code message } } }"""
COMPLETE = """mutation($input: CompleteHelpInput!) { completeHelp(input: $input) {
  offer { status } userErrors { code message } } }"""
OPPORTUNITY = """id cursor kind score reasons { code label }
  subject { ... on HelpRequest { id title } }"""
ADDED = "subscription { opportunityAdded { " + OPPORTUNITY + " } }"
MISSED = (
    "query($after: String) { opportunities(after: $after, first: 100) { nodes { "
    + OPPORTUNITY
    + " } } }"
)


async def subscribe(ws_url: str, token: str) -> ClientConnection:
    socket = await connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")])
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await socket.send(json.dumps(init))
    ack = json.loads(await socket.recv())
    expect(ack["type"] == "connection_ack", f"no connection_ack: {ack}")
    await socket.send(json.dumps({"id": "opps", "type": "subscribe", "payload": {"query": ADDED}}))
    return socket


async def next_opportunity(
    socket: ClientConnection, member: Api, after: str | None, request_id: str, seconds: float
) -> Any:
    """Return the opportunity whose subject is this help request: pushed on the socket, or,
    if it was held back, found the way a reconnecting client finds what it missed."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = json.loads(await socket.recv())
                if message["type"] == "ping":
                    await socket.send(json.dumps({"type": "pong"}))
                    continue
                expect(message["type"] == "next", f"unexpected message {message}")
                opportunity = message["payload"]["data"]["opportunityAdded"]
                if (opportunity["subject"] or {}).get("id") == request_id:
                    say("pushed live over the WebSocket")
                    return opportunity
    except TimeoutError:
        pass
    missed = (await member(MISSED, after=after))["opportunities"]["nodes"]
    found = next((o for o in missed if (o["subject"] or {}).get("id") == request_id), None)
    if found is None:
        raise Surprise(f"no opportunity for {request_id} within {seconds:g} s")
    say(
        "not pushed (the member's pushes for today, MAX_PUSHES_PER_DAY, are spent, or it is "
        "their quiet hours): found with opportunities(after:), as after a reconnect"
    )
    return found


async def newest_cursor(member: Api) -> str | None:
    edges = (await member("{ opportunities(last: 1) { edges { cursor } } }"))["opportunities"][
        "edges"
    ]
    return str(edges[-1]["cursor"]) if edges else None


async def journey(url: str, password: str, seconds: float) -> None:
    ws_url = url.replace("http", "ws", 1) + "/graphql"
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        step("1. Alice, Bob and Carol sign in")
        members: dict[str, Api] = {}
        ids: dict[str, str] = {}
        for handle in ("alice", "bob", "carol"):
            answer = (await Api(http)(LOG_IN, email=f"{handle}@example.com", password=password))[
                "logIn"
            ]
            expect(
                answer["userErrors"] == [],
                f"{handle} cannot sign in ({answer['userErrors']}): is this the demo network? "
                "`python -m api seed` makes it (`make run` does on a fresh database)",
            )
            members[handle] = Api(http, answer["accessToken"])
            ids[handle] = answer["viewer"]["id"]
            say(f"@{handle} is {ids[handle]}")
        alice, carol = members["alice"], members["carol"]
        # An earlier run that stopped half-way may have left its asks open: close them.
        left = 0
        for member in (alice, carol):
            for ask in (await member(OPEN_ASKS))["viewer"]["helpRequests"]["nodes"]:
                if ask["title"] in (FIRST_ASK, SECOND_ASK, ALICES_ASK):
                    await member.mutate("cancelHelpRequest", CANCEL, id=ask["id"])
                    left += 1
        if left:
            say(f"closed {left} ask(s) an earlier, unfinished run left open")
        # Matching respects each member's help budget and quiet hours: Alice opens hers, so
        # the journey may be run again and again, at any hour.
        await alice.mutate(
            "updateProfile",
            """mutation($input: UpdateProfileInput!) { updateProfile(input: $input) {
              member { helpBudget { requestsPerWeek } } userErrors { field code message } } }""",
            input={"helpBudget": {"requestsPerWeek": 50}},
        )
        say("Alice takes up to 50 requests a week, with no quiet hours")

        step("2. A partner app subscribes an endpoint to the marketplace's events")
        app = await alice.mutate(
            "createPartnerApp",
            """mutation($input: CreatePartnerAppInput!) { createPartnerApp(input: $input) {
              partnerApp { clientId scopes } clientSecret userErrors { code message } } }""",
            input={"name": "Journey CRM", "scopes": ["webhooks:manage", "read:*"]},
        )
        grant = {
            "grant_type": "client_credentials",
            "client_id": app["partnerApp"]["clientId"],
            "client_secret": app["clientSecret"],
        }
        answer = await http.post("/oauth/token", data=grant)
        expect(
            answer.status_code == 200, f"/oauth/token answered {answer.status_code}: {answer.text}"
        )
        partner = Api(http, answer.json()["access_token"])
        receiver = Receiver()
        endpoint = await partner.mutate(
            "createWebhookEndpoint",
            """mutation($input: CreateWebhookEndpointInput!) {
              createWebhookEndpoint(input: $input) { endpoint { id url } secret
                userErrors { field code message } } }""",
            input={"url": receiver.url, "eventTypes": EVENT_TYPES, "description": "journey"},
        )
        secret = endpoint["secret"]
        say(f"app {grant['client_id']} delivers {', '.join(EVENT_TYPES)} to {receiver.url}")

        step("3. Alice subscribes to her opportunities (WebSocket, graphql-transport-ws)")
        socket = await subscribe(ws_url, alice.token or "")
        say("connection_ack; subscribed to opportunityAdded")
        before = {name: (await members[name](ME))["viewer"] for name in ("alice", "carol")}

        step("4. Carol asks her network for SEO help, with a bounty of 10 karma")
        since = await newest_cursor(alice)
        ask = (
            await carol.mutate(
                "postHelpRequest",
                ASK,
                input={
                    "title": FIRST_ASK,
                    "details": "We launch in two weeks and rank for nothing.",
                    "kind": "ADVICE",
                    "tags": ["SEO"],
                    "audience": {"scope": "NETWORK"},
                    "bounty": 10,
                    "idempotencyKey": str(uuid.uuid4()),
                },
            )
        )["helpRequest"]
        say(f"posted {ask['id']}: {ask['title']!r}")

        step("5. Alice is offered the opportunity live, with its reasons")
        pushed = await next_opportunity(socket, alice, since, ask["id"], seconds)
        reasons = {(r["code"], r["label"].lower()) for r in pushed["reasons"]}
        say(
            f"{pushed['kind']} (score {pushed['score']:.2f}): "
            + ", ".join(f"{code} {label}" for code, label in sorted(reasons))
        )
        expect(("SKILL_MATCH", "seo") in reasons, "no SKILL_MATCH seo among the reasons")
        expect(("VIA", "bob") in reasons, "no VIA bob among the reasons")
        say(f"cursor {pushed['cursor']} (to catch up with opportunities(after:) after a drop)")

        step("6. Alice finds her warm path to Carol")
        paths = (
            await alice(
                "query($to: ID!) { introPaths(to: $to) { strength hops { handle } } }",
                to=ids["carol"],
            )
        )["introPaths"]
        expect(paths, "no intro path from Alice to Carol")
        hops = [hop["handle"] for hop in paths[0]["hops"]]
        say(" → ".join(hops) + f" (strength {paths[0]['strength']:.2f})")
        expect(hops == ["alice", "bob", "carol"], f"the warmest path is {hops}, not via Bob")

        step("7. Alice offers; Carol accepts and pays the bounty")
        offer = (await alice.mutate("offerHelp", OFFER, id=ask["id"]))["offer"]
        await carol.mutate("acceptOffer", ACCEPT, id=offer["id"])
        completion = {
            "offerId": offer["id"],
            "settlement": "BOUNTY",
            "note": "Clear, fast, and it worked.",
            "idempotencyKey": str(uuid.uuid4()),
        }
        done = await carol.mutate("completeHelp", COMPLETE, input=completion)
        again = await carol.mutate("completeHelp", COMPLETE, input=completion)
        expect(done == again, "a retried completeHelp (same key) did not replay the first outcome")
        say(
            f"offer {done['offer']['status']}; "
            "the retry with the same idempotency key changed nothing"
        )

        step("8. Balances and reciprocity changed")
        after = {name: (await members[name](ME))["viewer"] for name in ("alice", "carol")}
        for name in ("alice", "carol"):
            was, now = before[name], after[name]
            say(
                f"@{name}: karma {was['karma']['balance']} → {now['karma']['balance']}, "
                f"band {now['reciprocity']['band']}, helped {now['reciprocity']['helpGiven']}, "
                f"was helped {now['reciprocity']['helpReceived']}"
            )
        expect(
            after["alice"]["karma"]["balance"] == before["alice"]["karma"]["balance"] + 10,
            "Alice did not receive the 10-karma bounty",
        )
        expect(
            after["carol"]["karma"]["balance"] == before["carol"]["karma"]["balance"] - 10,
            "Carol's balance did not fall by the bounty",
        )
        expect(
            after["alice"]["reciprocity"]["helpGiven"]
            == before["alice"]["reciprocity"]["helpGiven"] + 1,
            "Alice's help given did not count this help",
        )

        step("9. A second help, settled with an IOU")
        since = await newest_cursor(alice)
        second = (
            await carol.mutate(
                "postHelpRequest",
                ASK,
                input={
                    "title": SECOND_ASK,
                    "kind": "ADVICE",
                    "tags": ["SEO"],
                    "audience": {"scope": "NETWORK"},
                    "offersIou": True,
                },
            )
        )["helpRequest"]
        await next_opportunity(socket, alice, since, second["id"], seconds)
        say(f"Alice is offered {second['title']!r} too")
        offer = (await alice.mutate("offerHelp", OFFER, id=second["id"]))["offer"]
        await carol.mutate("acceptOffer", ACCEPT, id=offer["id"])
        await carol.mutate(
            "completeHelp", COMPLETE, input={"offerId": offer["id"], "settlement": "IOU"}
        )
        ious = (
            await alice(
                """{ viewer { ious(role: HELD, status: [OUTSTANDING], first: 50) {
                  nodes { id status debtor { handle } helpRequest { id } } } } }"""
            )
        )["viewer"]["ious"]["nodes"]
        iou = next((i for i in ious if (i["helpRequest"] or {}).get("id") == second["id"]), None)
        if iou is None:
            raise Surprise("Alice holds no IOU from Carol for the second help")
        say(f"Carol owes Alice one: IOU {iou['id']}")

        step("10. Alice calls the IOU in on an ask of her own")
        mine = (
            await alice.mutate(
                "postHelpRequest",
                ASK,
                input={
                    "title": ALICES_ASK,
                    "kind": "INTRO",
                    "tags": ["podcasting"],
                    "audience": {"scope": "NETWORK"},
                },
            )
        )["helpRequest"]
        await alice.mutate(
            "callInIou",
            """mutation($input: CallInIouInput!) { callInIou(input: $input) {
              iou { calledInAt } userErrors { code message } } }""",
            input={"iouId": iou["id"], "helpRequestId": mine["id"]},
        )

        async def carols_call() -> Any:
            found = (
                await carol(
                    """{ opportunities(status: [NEW, SEEN], last: 50) { nodes {
                      kind reasons { code label } subject { ... on Iou { id } } } } }"""
                )
            )["opportunities"]["nodes"]
            return next(
                (
                    o
                    for o in found
                    if o["kind"] == "IOU_CALLED_IN" and (o["subject"] or {}).get("id") == iou["id"]
                ),
                None,
            )

        called = await wait_for("Carol's IOU_CALLED_IN opportunity", carols_call, seconds)
        say(
            "Carol's opportunities: "
            + ", ".join(f"{r['code']} {r['label']}" for r in called["reasons"])
        )

        step("11. Carol helps back: the IOU is settled")
        offer = (await carol.mutate("offerHelp", OFFER, id=mine["id"]))["offer"]
        await alice.mutate("acceptOffer", ACCEPT, id=offer["id"])
        await alice.mutate(
            "completeHelp", COMPLETE, input={"offerId": offer["id"], "settlement": "THANKS"}
        )
        status = (
            await alice("query($id: ID!) { node(id: $id) { ... on Iou { status } } }", id=iou["id"])
        )["node"]["status"]
        expect(status == "SETTLED", f"the IOU is {status}, not SETTLED")
        say("IOU SETTLED by helping back")

        step("12. The partner's endpoint received the events, each signature verified")
        ours = {ask["id"], second["id"], mine["id"]}

        iou_id = iou["id"]

        def arrived() -> list[dict[str, Any]] | None:
            events = [verify(secret, headers, body) for headers, body in list(receiver.received)]
            journeys = [
                event
                for event in events
                if event["data"].get("helpRequestId") in ours
                or event["data"].get("iouId") == iou_id
            ]
            kinds = [event["type"] for event in journeys]
            enough = (
                kinds.count("help_request.posted") >= 3
                and kinds.count("help.completed") >= 3
                and {"iou.issued", "iou.settled", "karma.transferred"} <= set(kinds)
            )
            return journeys if enough else None

        events = await wait_for("the partner's deliveries", arrived, seconds)
        for event in events:
            say(f"{event['type']:22} {json.dumps(event['data'])[:90]}")
        say(f"{len(receiver.received)} deliveries, every signature verified")
        await socket.close()
        receiver.close()
    print("\nThe journey went as expected.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server's base URL")
    parser.add_argument("--password", default=DEMO_PASSWORD, help="the demo accounts' password")
    parser.add_argument("--timeout", type=float, default=20, help="seconds to wait for a push")
    args = parser.parse_args()
    try:
        asyncio.run(journey(args.url.rstrip("/"), args.password, args.timeout))
    except Surprise as surprise:
        print(f"\n!! {surprise}", file=sys.stderr)
        return 1
    except httpx.ConnectError:
        print(f"\n!! no server at {args.url}: start one with `make run`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
