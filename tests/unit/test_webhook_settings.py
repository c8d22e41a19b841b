"""Webhook settings from the environment: safe defaults, compressible schedules, clear errors."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest

from api.settings import Settings, SettingsError


def test_loopback_is_reachable_in_development_only():
    development = Settings.from_env({})
    assert ipaddress.ip_address("127.0.0.1") in development.webhook_allowed_networks[0]
    production = Settings.from_env({"RAPPORT_ENV": "production", "JWT_SECRET": "s" * 40})
    assert production.webhook_allowed_networks == ()
    chosen = Settings.from_env({"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, 192.168.1.7"})
    assert [str(n) for n in chosen.webhook_allowed_networks] == ["10.0.0.0/8", "192.168.1.7/32"]


def test_a_schedule_may_be_compressed_for_tests():
    settings = Settings.from_env({"WEBHOOK_RETRY_SCHEDULE": "0, 0.5, 2"})
    assert settings.webhook_retry_schedule == (
        dt.timedelta(0),
        dt.timedelta(seconds=0.5),
        dt.timedelta(seconds=2),
    )
    assert len(Settings.from_env({}).webhook_retry_schedule) == 8


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WEBHOOK_ALLOWED_NETWORKS", "intranet", "'intranet' is not an address or network"),
        ("WEBHOOK_RETRY_SCHEDULE", "0,-5", "expected 0 to 604800 seconds"),
        ("WEBHOOK_TIMEOUT_SECONDS", "soon", "expected a number of seconds"),
    ],
)
def test_bad_values_are_named(name: str, value: str, says: str):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({name: value})
    assert name in str(refused.value)
    assert says in str(refused.value)
