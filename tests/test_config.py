"""Settings: fail fast with a message that says what to set."""

from __future__ import annotations

import pytest

from landing import create_app
from landing.config import ConfigError, Settings
from landing.store import connect

BASE = {"REDIS_URL": "redis://127.0.0.1:6399/0", "SECRET_KEY": "k"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "REDIS_URL is not set"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with"),
        ({"REDIS_URL": "redis://x"}, "SECRET_KEY is not set"),
        (BASE | {"REPORT_TIMEZONE": "Mars/Olympus"}, "REPORT_TIMEZONE"),
        (BASE | {"LANDING_RATE_LIMIT": "lots"}, "LANDING_RATE_LIMIT"),
        (BASE | {"TRUSTED_PROXY_HOPS": "-1"}, "TRUSTED_PROXY_HOPS"),
        (BASE | {"REDIS_TLS_VERIFY": "maybe"}, "REDIS_TLS_VERIFY"),
        (BASE | {"SESSION_RETENTION_DAYS": "7"}, "SESSION_RETENTION_DAYS"),
        (BASE | {"THANKS_CONTINUE_URL": "javascript:alert(1)"}, "THANKS_CONTINUE_URL"),
    ],
)
def test_missing_or_malformed_settings_stop_the_app_with_a_clear_message(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app(env)


def test_defaults() -> None:
    s = Settings.from_env(BASE)
    assert (s.dashboard_user, s.dashboard_password) == ("admin", "")
    assert (s.report_timezone, s.landing_rate_limit, s.trusted_proxy_hops) == (
        "UTC",
        60,
        0,
    )
    assert s.webhook_secrets == () and s.session_retention_days == 90


def test_several_webhook_secrets() -> None:
    s = Settings.from_env(BASE | {"STRIPE_WEBHOOK_SECRET": " whsec_a ,whsec_b,, "})
    assert s.webhook_secrets == ("whsec_a", "whsec_b")


def test_tls_verification_can_be_switched_off_for_managed_add_ons() -> None:
    verified = connect("rediss://h:6380/0").connection_pool.connection_kwargs
    assert verified.get("ssl_cert_reqs", "required") == "required"
    relaxed = connect("rediss://h:6380/0", tls_verify=False)
    kwargs = relaxed.connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == "none" and kwargs["ssl_check_hostname"] is False
    # A plain URL ignores the switch instead of failing.
    assert (
        "ssl_cert_reqs"
        not in connect(
            "redis://h/0", tls_verify=False
        ).connection_pool.connection_kwargs
    )
