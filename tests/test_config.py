"""Settings: fail fast with a message that says what to set."""

from __future__ import annotations

import pytest

from landing import create_app
from landing.config import ConfigError, Settings
from landing.store import node_client

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
        (BASE | {"UNCONFIRMED_DAYS": "0"}, "UNCONFIRMED_DAYS must be at least 1"),
        (BASE | {"UNCONFIRMED_DAYS": "two weeks"}, "UNCONFIRMED_DAYS"),
        (BASE | {"STRIPE_API_KEY": "pk_live_publishable"}, "STRIPE_API_KEY"),
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
    assert (s.unconfirmed_days, s.stripe_api_key) == (14, "")


PLATFORMS = {
    "heroku": {"DYNO": "web.1"},
    "render": {"RENDER": "true"},
    "fly.io": {"FLY_APP_NAME": "landing"},
    "railway": {"RAILWAY_ENVIRONMENT": "production"},
    "cloud run": {"K_SERVICE": "landing"},
}


@pytest.mark.parametrize("platform", PLATFORMS.values(), ids=PLATFORMS.keys())
def test_a_known_paas_router_is_trusted_for_one_hop(platform: dict[str, str]) -> None:
    assert Settings.from_env(BASE | platform).trusted_proxy_hops == 1


@pytest.mark.parametrize("platform", PLATFORMS.values(), ids=PLATFORMS.keys())
@pytest.mark.parametrize("hops", [0, 2])
def test_an_explicit_trusted_proxy_hops_wins_over_the_platform(
    platform: dict[str, str], hops: int
) -> None:
    env = BASE | platform | {"TRUSTED_PROXY_HOPS": str(hops)}
    assert Settings.from_env(env).trusted_proxy_hops == hops


def test_no_known_router_trusts_no_forwarding_header() -> None:
    # An empty variable is not a platform: some shells export NAME= .
    assert Settings.from_env(BASE | {"DYNO": "", "RENDER": " "}).trusted_proxy_hops == 0


def test_unconfirmed_days_and_stripe_api_key_are_read() -> None:
    s = Settings.from_env(
        BASE | {"UNCONFIRMED_DAYS": "3", "STRIPE_API_KEY": " rk_live_abc123 "}
    )
    assert (s.unconfirmed_days, s.stripe_api_key) == (3, "rk_live_abc123")


def test_secrets_are_never_shown() -> None:
    secrets = {
        "SECRET_KEY": "secret-key-value",
        "DASHBOARD_PASSWORD": "dashboard-password-value",
        "STRIPE_WEBHOOK_SECRET": "whsec_webhook_value",
        "STRIPE_API_KEY": "rk_live_api_key_value",
    }
    shown = repr(Settings.from_env(BASE | secrets))
    assert "redis://127.0.0.1:6399/0" in shown  # repr still says something
    for value in secrets.values():
        assert value not in shown


def test_a_wrong_stripe_api_key_is_refused_without_repeating_it() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(BASE | {"STRIPE_API_KEY": "whsec_pasted_in_the_wrong_box"})
    assert "whsec_pasted_in_the_wrong_box" not in str(refused.value)


def test_several_webhook_secrets() -> None:
    s = Settings.from_env(BASE | {"STRIPE_WEBHOOK_SECRET": " whsec_a ,whsec_b,, "})
    assert s.webhook_secrets == ("whsec_a", "whsec_b")


def test_tls_verification_can_be_switched_off_for_managed_add_ons() -> None:
    verified = node_client("rediss://h:6380/0").connection_pool.connection_kwargs
    assert verified.get("ssl_cert_reqs", "required") == "required"
    relaxed = node_client("rediss://h:6380/0", tls_verify=False)
    kwargs = relaxed.connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == "none" and kwargs["ssl_check_hostname"] is False
    # A plain URL ignores the switch instead of failing.
    assert (
        "ssl_cert_reqs"
        not in node_client(
            "redis://h/0", tls_verify=False
        ).connection_pool.connection_kwargs
    )
