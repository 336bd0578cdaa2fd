"""The `landing` command: `landing run` for development, `landing demo`."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import click

from landing import ROOT
from landing.devserver import EmbeddedServer

INSTANCE = ROOT / "instance"


def _kept_secret(path: Path, nbytes: int = 32) -> str:
    """A random value made once and kept (0600) so it survives restarts."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
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
    env.setdefault("SECRET_KEY", _kept_secret(INSTANCE / "secret_key"))
    if not env.get("DASHBOARD_PASSWORD"):
        env["DASHBOARD_PASSWORD"] = _kept_secret(INSTANCE / "dashboard_password", 12)
    env.setdefault("JOURNAL_DIR", str(INSTANCE / "journal"))
    server = None
    if not env.get("REDIS_URL"):
        server = EmbeddedServer(INSTANCE / "redis", persistent=True).start()
        env["REDIS_URL"] = server.url
        click.echo(f"embedded Valkey on {server.url}, data in {INSTANCE / 'redis'}")
    user = env.get("DASHBOARD_USER") or "admin"
    kept = "DASHBOARD_PASSWORD" not in os.environ
    base = f"http://127.0.0.1:{port}"
    click.echo(
        f"\n  landing is starting on {base}\n"
        f"  thank-you page: {base}/thanks?session_id=cs_test_demo&utm_campaign=try_me\n"
        f"  scoreboard:     {base}/dashboard\n"
        f"  sign in as {user!r} with password {env['DASHBOARD_PASSWORD']!r}"
        f"{' (kept in instance/dashboard_password)' if kept else ''}\n"
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


if __name__ == "__main__":
    main()
