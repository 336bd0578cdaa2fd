"""What a PaaS runs: the deploy descriptors, and gunicorn with gunicorn.conf.py.

app.json is Heroku's Deploy button, render.yaml Render's Blueprint; both must
start what the Procfile starts, set only settings the product reads, check
/healthz where the platform can, and generate secrets rather than ship them.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from landing.config import PAAS_ROUTERS, Settings
from landing.devserver import GunicornServer

from conftest import gunicorn_env

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "SECRET_KEY",
    "DASHBOARD_PASSWORD",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_KEY",
}
GENERATED = {"SECRET_KEY", "DASHBOARD_PASSWORD"}
BASE = {"REDIS_URL": "redis://127.0.0.1:6399/0", "SECRET_KEY": "k"}


class Recording(dict[str, str]):
    """An environment that remembers every name it was asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)


def setting_names() -> set[str]:
    """Every variable Settings reads, found by asking it, not by a copied list."""
    env = Recording(BASE)
    Settings.from_env(env)
    return env.asked - set(PAAS_ROUTERS)  # platforms set those, never a descriptor


def procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        kind, _, command = line.partition(":")
        if kind.strip() == "web":
            return command.strip()
    raise AssertionError("the Procfile has no web process")


def app_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "app.json").read_text())
    return data


def render_services() -> dict[str, dict[str, Any]]:
    blueprint = yaml.safe_load((ROOT / "render.yaml").read_text())
    return {service["type"]: service for service in blueprint["services"]}


def render_env() -> dict[str, dict[str, Any]]:
    return {var["key"]: var for var in render_services()["web"]["envVars"]}


def test_the_settings_are_found_by_asking_settings() -> None:
    names = setting_names()
    assert {"REDIS_URL", "SECRET_KEY", "DASHBOARD_PASSWORD"} <= names
    assert {"TRUSTED_PROXY_HOPS", "UNCONFIRMED_DAYS", "STRIPE_API_KEY"} <= names
    assert "DYNO" not in names


# -- Heroku: app.json -------------------------------------------------------------


def test_heroku_builds_with_python_and_runs_the_procfile() -> None:
    manifest = app_json()
    assert manifest["buildpacks"] == [{"url": "heroku/python"}]
    # Heroku starts what the Procfile says; app.json only scales it.
    assert set(manifest["formation"]) == {"web"}
    assert manifest["formation"]["web"]["quantity"] >= 1
    assert procfile_web() == "gunicorn --config gunicorn.conf.py landing.wsgi:app"


def test_heroku_gets_a_redis_add_on() -> None:
    plans = [a if isinstance(a, str) else a["plan"] for a in app_json()["addons"]]
    assert [p.split(":")[0] for p in plans] == ["heroku-redis"]


def test_heroku_sets_only_settings_the_product_reads() -> None:
    assert set(app_json()["env"]) <= setting_names()


def test_heroku_generates_secrets_and_ships_none() -> None:
    env = app_json()["env"]
    for name in GENERATED:
        assert env[name]["generator"] == "secret", name
    for name in SECRETS & set(env):
        assert "value" not in env[name], f"{name} must not be written in app.json"
    webhook = env["STRIPE_WEBHOOK_SECRET"]
    assert webhook["required"] is False
    assert "/webhooks/stripe" in webhook["description"]


def test_heroku_settings_start_the_app() -> None:
    env = {
        name: spec.get("value", "generated-secret") if isinstance(spec, dict) else spec
        for name, spec in app_json()["env"].items()
    }
    env.pop("STRIPE_WEBHOOK_SECRET")  # not known before the endpoint exists
    settings = Settings.from_env(
        env | {"REDIS_URL": "rediss://h:6380", "DYNO": "web.1"}
    )
    assert settings.redis_tls_verify is False  # Heroku's certificate is self-signed
    assert settings.trusted_proxy_hops == 1  # its router


# -- Render: render.yaml ----------------------------------------------------------


def test_render_builds_and_starts_what_the_procfile_starts() -> None:
    web = render_services()["web"]
    assert web["runtime"] == "python"
    assert web["buildCommand"] == "pip install -r requirements.txt"
    assert web["startCommand"] == procfile_web()


def test_render_checks_healthz(app: Flask) -> None:
    assert render_services()["web"]["healthCheckPath"] == "/healthz"
    response = app.test_client().get("/healthz")
    assert response.status_code == 200  # the path the platform polls exists


def test_render_sets_only_settings_the_product_reads() -> None:
    assert set(render_env()) <= setting_names()


def test_render_generates_secrets_and_ships_none() -> None:
    env = render_env()
    for name in GENERATED:
        assert env[name].get("generateValue") is True, name
    for name in SECRETS & set(env):
        assert "value" not in env[name], f"{name} must not be written in render.yaml"
    assert env["STRIPE_WEBHOOK_SECRET"].get("sync") is False  # asked for, not stored


def test_render_wires_redis_url_to_its_own_key_value_store() -> None:
    services = render_services()
    store = services["keyvalue"]
    assert render_env()["REDIS_URL"]["fromService"] == {
        "type": "keyvalue",
        "name": store["name"],
        "property": "connectionString",
    }
    assert store["ipAllowList"] == []  # private network only
    assert store["maxmemoryPolicy"] == "noeviction"  # never drop a count to make room


# -- gunicorn with gunicorn.conf.py ---------------------------------------------


@pytest.fixture
def gunicorn(redis_url: str, tmp_path: Path) -> Iterator[GunicornServer]:
    """The product as the Procfile runs it, one small worker."""
    env = gunicorn_env(
        redis_url,
        tmp_path,
        tmp_path / "journal",
        SECRET_KEY="deploy-secret-key",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
    )
    server = GunicornServer(env, tmp_path / "gunicorn.log").start()
    try:
        yield server
    finally:
        server.stop(timeout=10)


def status(server: GunicornServer, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def cookies(size: int) -> str:
    """A Cookie header of `size` bytes: many analytics-sized cookies."""
    jar = "; ".join(f"_ga_{i:03d}={'x' * 400}" for i in range(size // 400 + 1))
    return jar[:size]


def test_large_cookies_and_long_urls_still_get_the_thank_you_page(
    gunicorn: GunicornServer,
) -> None:
    thanks = "/thanks?session_id=cs_test_cookies&utm_campaign=deploy"
    assert status(gunicorn, thanks, {"Cookie": cookies(16 * 1024)}) == 200
    # An ad platform's click id makes the URL long; the page still renders.
    assert status(gunicorn, f"{thanks}&fbclid={'x' * 7000}", {}) == 200


def test_absurd_headers_get_431_not_a_crash(gunicorn: GunicornServer) -> None:
    assert status(gunicorn, "/thanks", {"Cookie": cookies(64 * 1024)}) == 431
    assert status(gunicorn, "/healthz", {}) == 200  # and the server is fine
