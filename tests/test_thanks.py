"""GET /thanks: what the customer sees, and what the scoreboard counts."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import redis
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from landing import create_app, thanks
from landing.capture import keyed_digest
from landing.i18n import LANGUAGES, TRANSLATIONS, catalog
from landing.runtime import ROOT

from conftest import (
    AUTH,
    campaign_row,
    flush,
    freeze_landing_clock,
    rt,
    scoreboard,
    settings_env,
)


def land(client: FlaskClient, query: str, **headers: str) -> str:
    response = client.get(f"/thanks?{query}", headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_page_renders_with_the_headers_spec_7_asks(client: FlaskClient) -> None:
    response = client.get("/thanks?session_id=cs_live_abc&utm_campaign=spring")
    assert response.status_code == 200
    assert "Thank you for your order" in response.get_data(as_text=True)
    headers = response.headers
    assert "no-store" in headers["Cache-Control"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "<script" not in response.get_data(as_text=True)  # no inline script
    assert "Strict-Transport-Security" not in headers  # plain HTTP here


def test_hsts_over_https(client: FlaskClient) -> None:
    response = client.get("/thanks", base_url="https://landing.example")
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_brand_support_and_continue_link_are_shown_escaped(
    redis_url: str, tmp_path: Path
) -> None:
    env = settings_env(
        redis_url,
        tmp_path,
        BRAND_NAME="Ada & <Co>",
        SUPPORT_EMAIL="help@ada.example",
        THANKS_CONTINUE_URL="https://ada.example/shop?x=1&y=2",
    )
    app = create_app(env)
    try:
        html = app.test_client().get("/thanks").get_data(as_text=True)
    finally:
        rt(app).journal.close()
    assert "Ada &amp; &lt;Co&gt;" in html and "<Co>" not in html
    assert 'href="mailto:help@ada.example"' in html
    assert 'href="https://ada.example/shop?x=1&amp;y=2"' in html


def test_neutral_page_without_settings(client: FlaskClient) -> None:
    html = land(client, "")
    assert "mailto:" not in html and 'class="button"' not in html


def test_a_landing_counts_once_per_session_however_often_loaded(
    app: Flask, client: FlaskClient
) -> None:
    for agent in ("phone", "laptop", "phone"):
        land(
            client,
            "session_id=cs_live_once&utm_campaign=spring",
            **{"User-Agent": agent},
        )
    land(client, "utm_campaign=spring&session_id=cs_live_once&utm_source=other")
    flush(app)
    row = campaign_row(scoreboard(client), "spring")
    assert row is not None and row["landings"] == 1


def test_breakdowns_get_the_codes(app: Flask, client: FlaskClient) -> None:
    land(
        client,
        "session_id=cs_live_b1&utm_campaign=spring&utm_source=newsletter"
        "&utm_medium=email&utm_content=hero&utm_term=shoes",
    )
    land(client, "session_id=cs_live_b2&utm_campaign=spring&utm_source=bad%20value")
    flush(app)
    body = client.get("/api/campaigns/spring", headers=AUTH).get_json()
    landings = {
        dim: {r["value"]: r["landings"] for r in body["breakdown"][dim]}
        for dim in ("source", "medium", "content", "term")
    }
    assert landings == {
        "source": {"newsletter": 1, "(none)": 1},
        "medium": {"email": 1, "(none)": 1},
        "content": {"hero": 1, "(none)": 1},
        "term": {"shoes": 1, "(none)": 1},
    }


def test_without_session_id_reloads_by_one_visitor_count_once(
    app: Flask, client: FlaskClient
) -> None:
    for _ in range(3):
        land(client, "utm_campaign=nosession", **{"User-Agent": "A"})
    land(client, "utm_campaign=nosession", **{"User-Agent": "B"})  # another browser
    land(client, "utm_campaign=nosession&utm_source=x", **{"User-Agent": "A"})
    flush(app)
    row = campaign_row(scoreboard(client), "nosession")
    assert row is not None and row["landings"] == 3


def test_a_landing_counts_on_its_day_in_the_report_timezone(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2026-03-01 11:30 UTC is already 2026-03-02 in Auckland (UTC+13).
    freeze_landing_clock(monkeypatch, 1772364600.0)
    app = create_app(
        settings_env(redis_url, tmp_path, REPORT_TIMEZONE="Pacific/Auckland")
    )
    try:
        client = app.test_client()
        land(client, "session_id=cs_live_nz&utm_campaign=kiwi")
        flush(app)
        on_day = scoreboard(client, "?from=2026-03-02&to=2026-03-02")
        row = campaign_row(on_day, "kiwi")
        assert row is not None and row["landings"] == 1
        utc_day = scoreboard(client, "?from=2026-03-01&to=2026-03-01")
        assert campaign_row(utc_day, "kiwi") is None
    finally:
        rt(app).journal.close()


def test_test_mode_landings_stay_out_of_live(app: Flask, client: FlaskClient) -> None:
    land(client, "session_id=cs_test_qa&utm_campaign=qa")
    flush(app)
    assert campaign_row(scoreboard(client), "qa") is None
    row = campaign_row(scoreboard(client, "?mode=test"), "qa")
    assert row is not None and row["landings"] == 1


def test_a_landing_shows_within_two_seconds_without_help(
    app: Flask, client: FlaskClient
) -> None:
    land(client, "session_id=cs_live_quick&utm_campaign=quick")
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if campaign_row(scoreboard(client), "quick"):
            return
        time.sleep(0.05)
    pytest.fail("the landing did not show within 2 s")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "session_id=",
        "session_id=%ZZ",
        "utm_campaign=" + "x" * 3000,
        "&" * 500,
        "utm_campaign=a&utm_campaign=b&" * 100,
        "%00%01%02=%ff",
        "session_id=cs_live_" + "a" * 5000,
        "utm_campaign=%F0%9F%92%A9",
        "a=b=c=d",
    ],
)
def test_any_query_string_gets_the_page(
    app: Flask, client: FlaskClient, query: str
) -> None:
    land(client, query)
    flush(app)
    for row in scoreboard(client)["campaigns"]:
        assert row["campaign"] in ("(none)", "a")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=300))
def test_fuzzed_query_strings_always_get_200(client: FlaskClient, raw: bytes) -> None:
    # WSGI carries the raw bytes as a latin-1 string: any byte can arrive.
    response = client.get(
        "/thanks", environ_overrides={"QUERY_STRING": raw.decode("latin-1")}
    )
    assert response.status_code == 200


def test_the_page_renders_when_the_store_is_down(tmp_path: Path) -> None:
    # Nothing listens on port 1: every store call would fail at once.
    app = create_app(settings_env("redis://127.0.0.1:1/0", tmp_path))
    try:
        started = time.monotonic()
        response = app.test_client().get(
            "/thanks?session_id=cs_live_down&utm_campaign=x"
        )
        assert response.status_code == 200
        assert time.monotonic() - started < 2.0
        assert app.test_client().get("/healthz").status_code == 503
    finally:
        rt(app).journal.close(timeout=0.5)
    kept = b"".join(p.read_bytes() for p in (tmp_path / "journal").glob("*.jsonl"))
    assert b"cs_live_down" in kept  # waiting in the journal for the store


# -- the customer's language (SPEC §4) ------------------------------------------

HEADINGS = {
    "en": "Thank you for your order",
    "pt-BR": "Obrigado pelo seu pedido",
    "es": "Gracias por tu pedido",
    "fr": "Merci pour votre commande",
    "de": "Vielen Dank für Ihre Bestellung",
    "it": "Grazie per il tuo ordine",
    "nl": "Bedankt voor je bestelling",
    "ja": "ご注文ありがとうございます",
}


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', html)
    assert match, html[:200]
    return match.group(1)


def shown_in(client: FlaskClient, accept_language: str) -> tuple[str, str]:
    """The page's <html lang> and its heading, for one Accept-Language."""
    html = land(
        client, "session_id=cs_live_lang", **{"Accept-Language": accept_language}
    )
    heading = re.search(r'<h1 id="thanks-title">([^<]*)</h1>', html)
    assert heading
    return html_lang(html), heading.group(1)


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        ("en-US,en;q=0.9", "en"),
        ("pt-BR,pt;q=0.9,en-US;q=0.8", "pt-BR"),
        ("es-ES,es;q=0.9", "es"),
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("it-IT,it;q=0.9", "it"),
        ("nl-NL,nl;q=0.9", "nl"),
        ("ja-JP,ja;q=0.9,en-US;q=0.8", "ja"),
    ],
)
def test_the_page_speaks_the_browsers_language(
    client: FlaskClient, accept_language: str, language: str
) -> None:
    assert shown_in(client, accept_language) == (language, HEADINGS[language])
    response = client.get("/thanks", headers={"Accept-Language": accept_language})
    assert response.headers["Content-Language"] == language
    assert "Accept-Language" in response.headers["Vary"]


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        ("fr;q=0.1, de;q=0.9", "de"),  # quality, not order
        ("nl-BE,fr;q=0.5", "nl"),  # a region we have no catalog for
        ("es-MX", "es"),
        ("pt-PT,pt;q=0.9,en;q=0.8", "pt-BR"),  # the Portuguese we have
        ("PT-br", "pt-BR"),  # tags are case-insensitive
        ("zh-CN,zh;q=0.9,ja;q=0.3", "ja"),
        ("de;q=0, it", "it"),  # q=0: not acceptable
    ],
)
def test_negotiation_follows_quality_and_primary_language(
    client: FlaskClient, accept_language: str, language: str
) -> None:
    assert shown_in(client, accept_language)[0] == language


@pytest.mark.parametrize(
    "accept_language", ["", "zh-CN,zh;q=0.9", "*", "x-klingon", "de;q=0", "pt_BR"]
)
def test_unknown_languages_get_english(
    client: FlaskClient, accept_language: str
) -> None:
    assert shown_in(client, accept_language) == ("en", HEADINGS["en"])


@pytest.mark.parametrize("language", LANGUAGES)
def test_brand_and_support_email_stay_in_every_language(
    redis_url: str, tmp_path: Path, language: str
) -> None:
    app = create_app(
        settings_env(
            redis_url,
            tmp_path,
            BRAND_NAME="Ada & <Co>",
            SUPPORT_EMAIL="help@ada.example",
            THANKS_CONTINUE_URL="https://ada.example/shop",
        )
    )
    try:
        html = land(app.test_client(), "", **{"Accept-Language": language})
    finally:
        rt(app).journal.close()
    assert html_lang(html) == language and HEADINGS[language] in html
    assert html.count("Ada &amp; &lt;Co&gt;") == 2  # title and card
    assert '<a href="mailto:help@ada.example">help@ada.example</a>' in html
    assert 'href="https://ada.example/shop"' in html


LANGUAGE_TAG = st.from_regex(
    r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8}){0,3}|\*", fullmatch=True
)
QUALITY = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=6),
)
ACCEPT_ITEM = st.tuples(st.one_of(LANGUAGE_TAG, st.text(max_size=12)), QUALITY).map(
    lambda item: item[0] if item[1] is None else f"{item[0]};q={item[1]}"
)
ACCEPT_LANGUAGE = st.one_of(
    st.lists(ACCEPT_ITEM, max_size=12).map(",".join),
    st.binary(max_size=300).map(lambda raw: raw.decode("latin-1")),
    st.integers(1, 8000).map(lambda n: ("de-DE,de;q=0.9," * n)[:8000]),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ACCEPT_LANGUAGE)
@example("," * 8000)
@example(";q=" * 2000)
@example("fr;q=1e999, de;q=nan, ja;q=-1, it;q=")
@example("\x00\xff\r\n\t")
def test_any_accept_language_gets_the_page(client: FlaskClient, header: str) -> None:
    # WSGI carries header bytes as a latin-1 string: any byte can arrive.
    response = client.get("/thanks", environ_overrides={"HTTP_ACCEPT_LANGUAGE": header})
    assert response.status_code == 200
    assert html_lang(response.get_data(as_text=True)) in LANGUAGES


def test_every_landing_gets_the_same_bytes(client: FlaskClient) -> None:
    german = {"Accept-Language": "de"}
    first = client.get("/thanks?session_id=cs_live_s1&utm_campaign=a", headers=german)
    second = client.get("/thanks?utm_source=b", headers=german)
    assert first.data == second.data
    assert sorted(first.headers.items()) == sorted(second.headers.items())


def test_the_page_served_in_front_of_flask_is_the_views_page(
    app: Flask, client: FlaskClient
) -> None:
    # The first request of a variant renders it through Flask's view; the
    # next ones are served in front of Flask (thanks.front): the same page.
    german = {"Accept-Language": "de"}
    view = client.get(
        "/thanks?session_id=cs_live_f1&utm_campaign=front", headers=german
    )
    served = client.get(
        "/thanks?session_id=cs_live_f2&utm_campaign=front", headers=german
    )
    head = client.head(
        "/thanks?session_id=cs_live_f3&utm_campaign=front", headers=german
    )
    assert view.status_code == served.status_code == head.status_code == 200
    assert served.data == view.data and head.data == b""
    for response in (served, head):
        assert response.headers.to_wsgi_list() == view.headers.to_wsgi_list()
    flush(app)
    row = campaign_row(scoreboard(client), "front")
    assert row is not None and row["landings"] == 3


def test_only_get_and_head_of_thanks_are_served_in_front(client: FlaskClient) -> None:
    assert client.get("/thanks").status_code == 200  # the page is made
    refused = client.post("/thanks")
    assert refused.status_code == 405
    assert refused.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in refused.headers["Content-Security-Policy"]
    assert client.get("/thanks/").status_code == 404


def test_behind_a_router_the_front_sees_the_client_and_https(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app(TRUSTED_PROXY_HOPS="1")
    client = app.test_client()
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    for i in range(2):  # the view, then the front
        response = client.get(
            f"/thanks?utm_campaign=routed&session_id=cs_live_r{i}", headers=forwarded
        )
        assert "max-age" in response.headers["Strict-Transport-Security"]
    lines = b"".join(p.read_bytes() for p in (tmp_path / "journal").glob("*.jsonl"))
    clients = {json.loads(line)["client"] for line in lines.splitlines()}
    assert clients == {keyed_digest("test-secret-key", "client", "203.0.113.9")}


def test_the_front_sends_the_page_when_recording_fails(
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert client.get("/thanks").status_code == 200  # the page is made

    def broken(query: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(thanks, "parse_query", broken)
    with caplog.at_level(logging.ERROR, logger="landing.thanks"):
        response = client.get("/thanks?session_id=cs_live_bug")
    assert response.status_code == 200
    assert "Thank you for your order" in response.get_data(as_text=True)
    assert [r.getMessage() for r in caplog.records] == ["landing not recorded"]


def test_no_app_hook_is_skipped_by_the_front(app: Flask) -> None:
    # thanks.front answers a made page without Flask: a hook added for every
    # route would not run for it. Make such a hook run there too, then
    # change this list.
    hooks: dict[str, Mapping[Any, Iterable[Callable[..., Any]]]] = {
        "before_request": app.before_request_funcs,
        "after_request": app.after_request_funcs,
        "teardown_request": app.teardown_request_funcs,
        "teardown_appcontext": {None: app.teardown_appcontext_funcs},
        "url_value_preprocessor": app.url_value_preprocessors,
    }
    found = {
        kind: sorted(f.__qualname__ for fs in by_blueprint.values() for f in fs)
        for kind, by_blueprint in hooks.items()
    }
    assert found == {
        "before_request": [],
        # It leaves the prepared page alone: the page has its headers.
        "after_request": ["_security_headers"],
        "teardown_request": [],
        "teardown_appcontext": [],
        "url_value_preprocessor": [],
    }


def test_other_routes_still_get_the_security_headers(client: FlaskClient) -> None:
    headers = client.get("/healthz").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert "Content-Language" not in headers


def test_catalogs_translate_every_message_of_the_page() -> None:
    source = {
        message
        for _, message, _, _ in extract_from_file(
            "jinja2.ext:babel_extract", ROOT / "templates" / "thanks.html"
        )
    }
    assert "Thank you for your order" in source
    for language in LANGUAGES[1:]:
        path = TRANSLATIONS / language.replace("-", "_") / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as file:
            messages = read_po(file)
        translated = {m.id: m for m in messages if m.id}
        assert set(translated) == source, f"{path}: run `make messages`"
        for message in translated.values():
            assert message.string and not message.fuzzy, (language, message.id)
        assert [errors for _, errors in messages.check()] == [], language


def test_a_missing_or_stale_mo_is_compiled_from_the_po(tmp_path: Path) -> None:
    # A PaaS build runs pip only: no .mo, or one older than its .po.
    directory = tmp_path / "fr" / "LC_MESSAGES"
    directory.mkdir(parents=True)
    po = directory / "messages.po"
    shutil.copy(TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po", po)
    assert catalog("fr", tmp_path).gettext("Continue") == "Continuer"

    with po.open("rb") as file:
        messages = read_po(file, locale="fr")
    messages["Continue"].string = "Suite (compiled)"
    compiled = BytesIO()
    write_mo(compiled, messages)
    mo = po.with_suffix(".mo")
    mo.write_bytes(compiled.getvalue())
    os.utime(mo, (po.stat().st_mtime + 10,) * 2)
    assert catalog("fr", tmp_path).gettext("Continue") == "Suite (compiled)"
    os.utime(mo, (po.stat().st_mtime - 10,) * 2)  # the .po was edited since
    assert catalog("fr", tmp_path).gettext("Continue") == "Continuer"


def test_no_raw_address_or_agent_reaches_the_journal_or_the_store(
    app: Flask, client: FlaskClient, redis_url: str, tmp_path: Path
) -> None:
    agent = "Secret-Agent/7.0 (fingerprint)"
    address = "203.0.113.77"
    for query in ("utm_campaign=private", "session_id=cs_live_priv&utm_campaign=p"):
        response = client.get(
            f"/thanks?{query}",
            headers={"User-Agent": agent},
            environ_overrides={"REMOTE_ADDR": address},
        )
        assert response.status_code == 200
    flush(app)
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "journal").iterdir())
    assert b"private" in on_disk  # the landing is there, its visitor is not
    held = everything_in(redis_url)
    assert b"private" in held
    for raw in (agent.encode(), address.encode()):
        assert raw not in on_disk and raw not in held


def everything_in(redis_url: str) -> bytes:
    """Every key and every value the store holds, as one blob to search."""
    store = redis.Redis.from_url(redis_url)
    parts: list[bytes] = []
    try:
        for key in store.scan_iter():
            kind = store.type(key)
            values: Any
            if kind == b"string":
                values = [store.get(key)]
            elif kind == b"hash":
                values = [x for kv in store.hgetall(key).items() for x in kv]
            elif kind == b"set":
                values = store.smembers(key)
            elif kind in (b"zset", b"list"):
                values = (store.zrange if kind == b"zset" else store.lrange)(key, 0, -1)
            else:
                raise AssertionError(f"a {kind!r} key the test cannot read")
            parts += [key, *(v or b"" for v in values)]
    finally:
        store.close()
    return b"\n".join(parts)
