"""Settings from the environment (SPEC §2); no Flask import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says what to set."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Everything the product reads from its environment."""

    redis_url: str
    secret_key: str
    redis_tls_verify: bool = True
    webhook_secrets: tuple[str, ...] = ()
    dashboard_user: str = "admin"
    dashboard_password: str = ""
    report_timezone: str = "UTC"
    brand_name: str = ""
    thanks_continue_url: str = ""
    support_email: str = ""
    landing_rate_limit: int = 60
    trusted_proxy_hops: int = 0
    session_retention_days: int = 90
    journal_dir: str = "instance/journal"
    journal_max_bytes: int = 256 * 1024 * 1024
    # A credential: never in a repr or a log line.
    stripe_api_key: str = field(default="", repr=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.report_timezone)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting; raise ConfigError naming what to fix."""
        env = os.environ if env is None else env
        redis_url = env.get("REDIS_URL", "").strip()
        if not redis_url:
            raise ConfigError(
                "REDIS_URL is not set: point it at your Redis or Valkey add-on "
                "(redis://, rediss:// or unix://), or use `make run`, which "
                "starts an embedded server for development"
            )
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                "REDIS_URL must start with redis://, rediss:// or unix://"
            )
        secret_key = env.get("SECRET_KEY", "").strip()
        if not secret_key:
            raise ConfigError(
                "SECRET_KEY is not set: set it to a long random string, e.g. "
                'the output of `python3 -c "import secrets; '
                'print(secrets.token_hex(32))"`'
            )
        zone = env.get("REPORT_TIMEZONE", "").strip() or "UTC"
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"REPORT_TIMEZONE must be an IANA zone such as Europe/Paris, "
                f"got {zone!r}"
            ) from None
        secrets = tuple(
            s.strip() for s in env.get("STRIPE_WEBHOOK_SECRET", "").split(",")
        )
        return cls(
            redis_url=redis_url,
            secret_key=secret_key,
            redis_tls_verify=_bool(env, "REDIS_TLS_VERIFY", True),
            webhook_secrets=tuple(s for s in secrets if s),
            dashboard_user=env.get("DASHBOARD_USER", "").strip() or "admin",
            dashboard_password=env.get("DASHBOARD_PASSWORD", ""),
            report_timezone=zone,
            brand_name=env.get("BRAND_NAME", "").strip(),
            thanks_continue_url=_safe_url(env.get("THANKS_CONTINUE_URL", "")),
            support_email=env.get("SUPPORT_EMAIL", "").strip(),
            landing_rate_limit=_int(env, "LANDING_RATE_LIMIT", 60),
            trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", 0),
            # Shorter than a bank debit's settlement, and a pending session
            # would expire before its payment and then count again.
            session_retention_days=_int(env, "SESSION_RETENTION_DAYS", 90, 30),
            journal_dir=env.get("JOURNAL_DIR", "").strip() or "instance/journal",
            journal_max_bytes=_int(
                env, "JOURNAL_MAX_BYTES", 256 * 1024 * 1024, 1024 * 1024
            ),
            stripe_api_key=env.get("STRIPE_API_KEY", "").strip(),
        )


def _safe_url(raw: str) -> str:
    """Keep THANKS_CONTINUE_URL only when it is an http(s) URL."""
    url = raw.strip()
    if not url:
        return ""
    if not url.lower().startswith(("https://", "http://")):
        raise ConfigError(f"THANKS_CONTINUE_URL must be an http(s) URL, got {url!r}")
    return url
