"""Signatures and retry hints, checked against what partners' libraries expect."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from api.webhooks import retry_after, sign, signed_headers
from domain.partners.service import new_signing_secret

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def test_a_signature_verifies_with_the_standard_webhooks_library():
    secret = new_signing_secret()
    body = b'{"type":"member.joined","timestamp":"2026-11-26T12:00:00Z","data":{}}'
    headers = signed_headers([secret], "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, headers)["type"] == "member.joined"
    # One byte changed in the body, the id or the time: refused.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"joined", b"joimed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_2"})


def test_the_library_and_we_sign_alike():
    secret = new_signing_secret()
    ours = sign(secret, "msg_x", 1_790_000_000, b"{}")
    theirs = Webhook(secret).sign("msg_x", dt.datetime.fromtimestamp(1_790_000_000, dt.UTC), "{}")
    assert ours == theirs


def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after("120", NOW) == dt.timedelta(seconds=120)
    assert retry_after("Thu, 26 Nov 2026 12:05:00 GMT", NOW) == dt.timedelta(minutes=5)
    assert retry_after("Thu, 26 Nov 2026 11:00:00 GMT", NOW) == dt.timedelta(0)
    assert retry_after("soon", NOW) is None
    assert retry_after(None, NOW) is None
