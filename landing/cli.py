"""The `landing` command: `landing run` for development, `landing demo`."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from landing.config import Settings
from landing.devserver import EmbeddedServer
from landing.reporting import rows
from landing.runtime import ROOT
from landing.store import Store, connect
from landing.utm import UTM_VALUE

INSTANCE = ROOT / "instance"


def _kept_secret(path: Path, nbytes: int = 32, prefix: str = "") -> str:
    """A random value made once and kept (0600) so it survives restarts."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = prefix + secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


@click.group()
def main() -> None:
    """landing: which campaign sold what through Stripe Payment Links."""


@main.command()
@click.option(
    "--port", type=int, default=None, help="Port to serve on (default $PORT or 8000)."
)
def run(port: int | None) -> None:
    """Serve the product through gunicorn, exactly as in production.

    Without REDIS_URL, starts a private Valkey server that keeps its data
    under instance/ (append-only file), so counts survive a restart.
    """
    port = port or int(os.environ.get("PORT", "8000"))
    env = dict(os.environ)
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = _kept_secret(INSTANCE / "secret_key")
    if not env.get("DASHBOARD_PASSWORD"):
        env["DASHBOARD_PASSWORD"] = _kept_secret(INSTANCE / "dashboard_password", 12)
    if not env.get("STRIPE_WEBHOOK_SECRET"):
        # A local secret so `landing demo` (and the Stripe CLI's `listen
        # --forward-to`, with its own secret set here) can sign webhooks.
        env["STRIPE_WEBHOOK_SECRET"] = _kept_secret(
            INSTANCE / "webhook_secret", prefix="whsec_"
        )
    # Everything comes from 127.0.0.1 in development: no per-address limit.
    env.setdefault("LANDING_RATE_LIMIT", "0")
    env.setdefault("JOURNAL_DIR", str(INSTANCE / "journal"))
    server = None
    if not env.get("REDIS_URL"):
        server = EmbeddedServer(INSTANCE / "redis", persistent=True).start()
        env["REDIS_URL"] = server.url
        # So `landing campaigns` finds this server while it runs.
        (INSTANCE / "redis_url").write_text(server.url + "\n")
        click.echo(f"embedded Valkey on {server.url}, data in {INSTANCE / 'redis'}")
    user = env.get("DASHBOARD_USER") or "admin"
    kept = "DASHBOARD_PASSWORD" not in os.environ
    signing = (
        "STRIPE_WEBHOOK_SECRET"
        if os.environ.get("STRIPE_WEBHOOK_SECRET")
        else "instance/webhook_secret"
    )
    base = f"http://127.0.0.1:{port}"
    click.echo(
        f"\n  landing is starting on {base}\n"
        f"  thank-you page: {base}/thanks?session_id=cs_test_demo&utm_campaign=try_me\n"
        f"  scoreboard:     {base}/dashboard\n"
        f"  sign in as {user!r} with password {env['DASHBOARD_PASSWORD']!r}"
        f"{' (kept in instance/dashboard_password)' if kept else ''}\n"
        f"  webhooks:       {base}/webhooks/stripe, signed with the secret in "
        f"{signing}\n"
        f"  traffic:        `make demo` in another terminal\n"
    )
    command = [
        sys.executable, "-m", "gunicorn",
        "--config", str(ROOT / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}",
        "landing.wsgi:app",
    ]  # fmt: skip
    gunicorn = subprocess.Popen(command, env=env, cwd=ROOT)  # noqa: S603

    def relay(signum: int, _frame: FrameType | None) -> None:
        gunicorn.send_signal(signum)

    signal.signal(signal.SIGINT, relay)
    signal.signal(signal.SIGTERM, relay)
    try:
        code = gunicorn.wait()
    finally:
        if server is not None:
            server.stop()
    sys.exit(code)


@main.command()
@click.option(
    "--url",
    default=f"http://127.0.0.1:{os.environ.get('PORT') or 8000}",
    show_default=True,
    help="The running server to send traffic to.",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="How long to keep customers coming.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1, max=500),
    default=3.0,
    show_default=True,
    help="Requests (landings and webhooks) per second.",
)
@click.option(
    "--mode",
    type=click.Choice(["live", "test"]),
    default="live",
    show_default=True,
    help="Live sessions (cs_live_) or test ones (cs_test_).",
)
@click.option("--seed", type=int, default=None, help="Repeat a run exactly.")
def demo(url: str, seconds: float, rate: float, mode: str, seed: int | None) -> None:
    """Play customers and Stripe against a running server, like real traffic.

    Landings with UTM codes over six campaigns, and webhooks signed with
    STRIPE_WEBHOOK_SECRET (else the one kept in instance/webhook_secret):
    instant and delayed payments, failures, several currencies, webhooks
    before their landing, customers who never come back, redeliveries.
    Watch /dashboard while it runs.
    """
    from landing.demo import Demo, DemoError, webhook_secret

    try:
        secret = webhook_secret(dict(os.environ), INSTANCE / "webhook_secret")
    except DemoError as exc:
        click.echo(f"landing demo: {exc}", err=True)
        sys.exit(2)
    landings_per_minute = rate * 60 * 0.45
    if landings_per_minute > 55:
        click.echo(
            f"note: about {landings_per_minute:.0f} landings a minute come from this "
            "one address; a server with the default LANDING_RATE_LIMIT=60 skips "
            "those over 60: start it with LANDING_RATE_LIMIT=0 to count them all.",
            err=True,
        )
    click.echo(
        f"sending {mode}-mode traffic to {url} for {seconds:g} s at {rate:g}/s; "
        f"watch {url.rstrip('/')}/dashboard{'?mode=test' if mode == 'test' else ''}"
    )
    try:
        summary = Demo(
            url,
            secret=secret,
            mode=mode,
            rate=rate,
            seed=seed,
            echo=lambda text: click.echo(f"  {text}", err=True),
        ).run(seconds)
    except DemoError as exc:
        click.echo(f"landing demo: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    click.echo(summary.line())


@main.group()
def campaigns() -> None:
    """List, confirm, delete or rename campaigns (REDIS_URL, or the server
    `landing run` started)."""


MODE = click.option(
    "--mode",
    type=click.Choice(["live", "test"]),
    default="live",
    show_default=True,
    help="The live or the test-mode scoreboard.",
)
YES = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")


def _store() -> Store:
    url = os.environ.get("REDIS_URL", "").strip()
    kept = INSTANCE / "redis_url"
    if not url and kept.exists():
        url = kept.read_text().strip()
    if not url:
        raise click.ClickException(
            "set REDIS_URL to the store (or start `landing run`, which keeps the "
            "embedded server's address in instance/redis_url)"
        )
    settings = Settings.from_env({**os.environ, "REDIS_URL": url, "SECRET_KEY": "-"})
    return Store(
        connect(url, tls_verify=settings.redis_tls_verify),
        retention_days=settings.session_retention_days,
        unconfirmed_days=settings.unconfirmed_days,
        zone=settings.zone,
    )


@campaigns.command("list")
@MODE
def list_campaigns(mode: str) -> None:
    """Every campaign with its numbers; unconfirmed ones say when they expire."""
    store = _store()
    pending = store.unconfirmed(mode)
    board = store.scoreboard(mode, None, pending)
    expiring, total = pending.expires, pending.total
    click.echo(f"{'campaign':<40} {'landings':>9} {'conversions':>11}  state")
    for name, counters in rows(board):
        state = "confirmed"
        if name in expiring:
            when = datetime.fromtimestamp(expiring[name] / 1000, UTC)
            state = f"unconfirmed, expires {when:%Y-%m-%d %H:%M} UTC"
        click.echo(
            f"{name:<40} {counters.landings:>9} {counters.conversions:>11}  {state}"
        )
    if total > len(expiring):
        click.echo(f"(and {total - len(expiring)} older unconfirmed campaigns)")


@campaigns.command()
@MODE
@click.argument("name")
def confirm(mode: str, name: str) -> None:
    """Keep a campaign's numbers for good, as a verified payment would."""
    done = _store().confirm_campaign(mode, name)
    click.echo(f"{name}: {'confirmed' if done else 'already confirmed'}")


@campaigns.command()
@MODE
@YES
@click.argument("name")
def delete(mode: str, yes: bool, name: str) -> None:
    """Remove a campaign that no payment counts in (junk, a test)."""
    if not yes:
        click.confirm(f"Delete every number of {name!r} ({mode})?", abort=True)
    result = _store().delete_campaign(mode, name)
    if result == "paid":
        raise click.ClickException(
            f"{name!r} has verified payments, which must stay counted in one "
            "campaign: rename it into another instead"
        )
    if result == "unknown":
        raise click.ClickException(f"no campaign {name!r} in {mode} mode")
    click.echo(f"{name}: deleted")


@campaigns.command()
@MODE
@YES
@click.argument("old")
@click.argument("new")
def rename(mode: str, yes: bool, old: str, new: str) -> None:
    """Merge OLD into NEW (a typo in a UTM code): every number, exactly."""
    if not UTM_VALUE.fullmatch(new):
        raise click.ClickException(
            f"{new!r} is not a code Stripe would keep: letters, digits, _ and -"
        )
    if not yes:
        click.confirm(f"Merge {old!r} into {new!r} ({mode})?", abort=True)
    result = _store().rename_campaign(mode, old, new)
    if result == "unknown":
        raise click.ClickException(f"no campaign {old!r} in {mode} mode")
    if result == "same":
        raise click.ClickException("the names are the same")
    click.echo(f"{old} → {new}: renamed")


if __name__ == "__main__":
    main()
