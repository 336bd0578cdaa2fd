"""Read-only share links (SPEC §3): made, listed, revoked, expired, opened."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from landing import keys
from landing.shares import token_digest

from conftest import AUTH, flush, post_event, rt, session_event


def seed(app: Flask, client: FlaskClient) -> None:
    """spring_sale: 2 landings, 1 paid; black_friday: 1 landing, paid in EUR."""
    for sid in ("cs_live_s0", "cs_live_s1"):
        client.get(f"/thanks?session_id={sid}&utm_campaign=spring_sale&utm_source=mail")
    client.get("/thanks?session_id=cs_live_b0&utm_campaign=black_friday")
    flush(app)
    post_event(client, session_event("cs_live_s0", amount_total=4000))
    post_event(client, session_event("cs_live_b0", amount_total=1250, currency="eur"))


def share(client: FlaskClient, body: Any, query: str = "") -> TestResponse:
    return client.post(f"/api/shares{query}", json=body, headers=AUTH)


def made(client: FlaskClient, campaign: str | None, days: int = 7) -> dict[str, Any]:
    response = share(client, {"campaign": campaign, "days": days})
    assert response.status_code == 201, response.data
    body: dict[str, Any] = response.get_json()
    return body


def assert_only_share_urls(html: str, token: str) -> None:
    """Every URL on the page is the share's own or a static file."""
    urls = re.findall(r'(?:href|src|action|data-live-url)="([^"]*)"', html)
    assert urls
    for url in urls:
        assert url.startswith(("/static/", f"/s/{token}")), url
    assert "csv" not in html.lower() and "/api/" not in html


def test_a_share_link_is_made_once_and_stored_only_as_a_digest(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    before = time.time()
    body = made(client, "spring_sale", days=3)
    token = body["token"]
    assert len(token) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # >= 128 bits
    assert body["url"] == f"http://localhost/s/{token}"
    assert body["campaign"] == "spring_sale" and body["mode"] == "live"
    assert body["expires_at"].endswith("+00:00")
    server = rt(app).store.redis
    # Nothing in the store holds the token; the link's key expires with it.
    for key in server.keys("*"):
        dump = repr(server.dump(key))
        assert token not in key and token not in dump
    digest = token_digest("test-secret-key", token)
    ttl = server.ttl(keys.share(digest))
    assert 3 * 86400 - 5 <= ttl <= 3 * 86400
    assert digest != hashlib.sha256(token.encode()).hexdigest()  # keyed: HMAC
    listed = client.get("/api/shares", headers=AUTH).get_json()["shares"]
    assert listed == [
        {
            "id": body["id"],
            "campaign": "spring_sale",
            "mode": "live",
            "created_at": body["created_at"],
            "expires_at": body["expires_at"],
        }
    ]
    assert token not in client.get("/api/shares", headers=AUTH).get_data(as_text=True)
    assert abs(int(time.time()) - before) < 5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "JSON"),
        ([1, 2], "JSON object"),
        ({"campaign": None}, "days"),
        ({"campaign": None, "days": 0}, "from 1 to 365"),
        ({"campaign": None, "days": 366}, "from 1 to 365"),
        ({"campaign": None, "days": 7.5}, "whole number"),
        ({"campaign": None, "days": "7"}, "whole number"),
        ({"campaign": None, "days": True}, "whole number"),
        ({"campaign": "no_such_campaign", "days": 7}, "unknown campaign"),
        ({"campaign": "<script>", "days": 7}, "campaign"),
        ({"campaign": 5, "days": 7}, "campaign"),
    ],
)
def test_bad_requests_get_400_saying_why(
    app: Flask, client: FlaskClient, body: Any, message: str
) -> None:
    seed(app, client)
    if isinstance(body, str):
        response = client.post(
            "/api/shares", data=body, headers=AUTH | {"Content-Type": "text/plain"}
        )
    else:
        response = share(client, body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert client.get("/api/shares", headers=AUTH).get_json() == {"shares": []}


def test_a_form_post_from_another_site_cannot_make_a_share(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    form = client.post("/api/shares", data={"campaign": "", "days": "7"}, headers=AUTH)
    assert form.status_code == 400


@pytest.mark.parametrize("route", ["/api/shares"])
def test_the_share_api_needs_the_dashboard_password(
    client: FlaskClient, route: str
) -> None:
    assert client.get(route).status_code == 401
    assert client.post(route, json={"campaign": None, "days": 7}).status_code == 401
    assert client.delete(f"{route}/abcdefabcdef").status_code == 401


def test_a_one_campaign_share_shows_that_campaign_only(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    link = made(client, "spring_sale")
    page = client.get(f"/s/{link['token']}")  # no credentials
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "spring_sale" in html and "black_friday" not in html
    assert "€" not in html  # the other campaign's revenue
    assert "$40.00" in html
    assert page.headers["X-Robots-Tag"].startswith("noindex")
    # Nothing to download, no session data, no way into the signed-in pages.
    assert_only_share_urls(html, link["token"])
    assert "cs_live" not in html
    # Its live part polls through the share, and is just as narrow.
    fragment = client.get(f"/s/{link['token']}?fragment=board")
    assert fragment.status_code == 200
    assert "black_friday" not in fragment.get_data(as_text=True)


def test_a_share_of_every_campaign_lists_them_without_links(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    link = made(client, None)
    html = client.get(f"/s/{link['token']}").get_data(as_text=True)
    assert "spring_sale" in html and "black_friday" in html
    assert_only_share_urls(html, link["token"])


def test_unknown_revoked_and_expired_links_get_the_same_404(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    by_token, by_id, expiring = (made(client, None) for _ in range(3))
    unknown = client.get("/s/" + "A" * 43)
    assert unknown.status_code == 404
    assert client.get("/s/short").data == unknown.data

    assert (
        client.delete(f"/api/shares/{by_token['token']}", headers=AUTH).status_code
        == 204
    )
    assert client.delete(f"/api/shares/{by_id['id']}", headers=AUTH).status_code == 204
    for gone in (by_token, by_id):
        response = client.get(f"/s/{gone['token']}")
        assert (response.status_code, response.data) == (404, unknown.data)
        fragment = client.get(f"/s/{gone['token']}?fragment=board")
        assert fragment.status_code == 404
    # Revoking twice: nothing left to revoke.
    assert client.delete(f"/api/shares/{by_id['id']}", headers=AUTH).status_code == 404
    assert client.delete("/api/shares/nonsense!", headers=AUTH).status_code == 404

    # Expiry is the store's TTL: once it passes, the link is gone too.
    server = rt(app).store.redis
    digest = token_digest("test-secret-key", expiring["token"])
    server.pexpire(keys.share(digest), 1)
    time.sleep(0.05)
    response = client.get(f"/s/{expiring['token']}")
    assert (response.status_code, response.data) == (404, unknown.data)
    # ... and the list forgets it.
    assert client.get("/api/shares", headers=AUTH).get_json() == {"shares": []}
    assert server.hlen(keys.shares()) == 0


def test_a_test_mode_share_shows_test_numbers(app: Flask, client: FlaskClient) -> None:
    seed(app, client)
    client.get("/thanks?session_id=cs_test_q0&utm_campaign=qa_check")
    flush(app)
    assert share(client, {"campaign": "qa_check", "days": 1}).status_code == 400
    link = share(client, {"campaign": "qa_check", "days": 1}, "?mode=test").get_json()
    assert link["mode"] == "test"
    html = client.get(f"/s/{link['token']}").get_data(as_text=True)
    assert "qa_check" in html and "test mode" in html
    # The share fixes the mode: the URL cannot switch it.
    html = client.get(f"/s/{link['token']}?mode=live").get_data(as_text=True)
    assert "qa_check" in html and "spring_sale" not in html


def test_a_shared_board_is_live(app: Flask, client: FlaskClient) -> None:
    seed(app, client)
    link = made(client, "spring_sale")
    live = f"/s/{link['token']}?fragment=board"
    first = client.get(live)
    etag = first.headers["ETag"]
    assert client.get(live, headers={"If-None-Match": etag}).status_code == 304
    post_event(client, session_event("cs_live_s1", amount_total=4000))
    changed = client.get(live, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert "$80.00" in changed.get_data(as_text=True)
