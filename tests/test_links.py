"""The link builder (SPEC §9): its rules, its API, its QR codes and the
redirect check against a local stand-in for Stripe's API."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from landing import keys
from landing.linkrules import (
    CLIENT_REFERENCE,
    TOKEN,
    LinkError,
    check_code,
    check_domain,
    check_payment_link_url,
    expected_redirect,
    is_token,
    link_mode,
    new_token,
    parse_request,
    redirect_problem,
    suggest_code,
    tagged_url,
)
from landing.links import STRIPE_API_BASE
from landing.utm import parse_query

from conftest import AUTH, flush, post_event, rt, scoreboard, session_event
from fake_stripe import API_KEY, FakeStripe, payment_link

LINK = "https://buy.stripe.com/test_eVa16Q1Vd7yU1Ne8ww"
CODES = {
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "spring_sale",
    "utm_term": "running_shoes",
    "utm_content": "hero_banner",
}
JSON = {**AUTH, "Content-Type": "application/json"}


def create(client: FlaskClient, **body: Any) -> Any:
    payload = {"payment_link_url": LINK, **CODES, **body}
    return client.post("/api/links", data=json.dumps(payload), headers=JSON)


def stored_keys(app: Flask) -> list[str]:
    return sorted(str(key) for key in rt(app).store.redis.keys("*"))


# -- the pasted URL ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        LINK,
        "https://buy.stripe.com/14k5lA2bCdEf3gh6oo",
        "https://BUY.Stripe.com/14k5lA2bCdEf3gh6oo",
        "https://buy.stripe.com/test_abc?prefilled_email=a%40b.com&locale=fr",
        "  https://buy.stripe.com/test_abc  ",
        "https://pay.example.com/b/test_abc",
    ],
)
def test_payment_links_that_are_accepted(url: str) -> None:
    assert check_payment_link_url(url, {"pay.example.com"}) == url.strip()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "paste a payment link"),
        ("http://buy.stripe.com/test_abc", "https://, not http://"),
        ("javascript:alert(1)//buy.stripe.com/x", "only https://"),
        ("JavaScript:alert(document.cookie)", "only https://"),
        ("data:text/html,<script>alert(1)</script>", "only https://"),
        ("ftp://buy.stripe.com/test_abc", "only https://"),
        ("buy.stripe.com/test_abc", "only https://"),
        ("//buy.stripe.com/test_abc", "only https://"),
        ("https://user:pass@buy.stripe.com/test_abc", "user name or password"),
        ("https://user@buy.stripe.com/test_abc", "user name or password"),
        ("https://evil.example/buy.stripe.com/x", "evil.example is not a Stripe"),
        ("https://buy.stripe.com.evil.example/x", "is not a Stripe"),
        ("https://stripe.com/test_abc", "stripe.com is not a Stripe"),
        ("https://pay.example.com/b/test_abc", "register your custom domain"),
        ("https://buy.stripe.com:8443/test_abc", "must not name a port"),
        ("https://buy.stripe.com/", "no payment link path"),
        ("https://buy.stripe.com", "no payment link path"),
        ("https://buy.stripe.com/test_abc#x", "remove the # part"),
        ("https://buy.stripe.com/test abc", "spaces"),
        ("https://buy.stripe.com/te\x00st", "control characters"),
        ("https://buy.stripe.com/" + "a" * 2100, "longer than 2048"),
        ("https://[::1/x", "not a valid URL"),
        ("https://buy.stripe.com/test_abc?utm_source=x", "already has utm_source"),
        ("https://buy.stripe.com/test_abc?UTM_Campaign=x", "already has UTM_Campaign"),
        ("https://buy.stripe.com/test_abc?utm%5Fmedium=x", "already has utm_medium"),
        (
            "https://buy.stripe.com/test_abc?client_reference_id=mine&utm_term=",
            "already has client_reference_id, utm_term",
        ),
    ],
)
def test_payment_links_that_are_refused(url: str, says: str) -> None:
    with pytest.raises(LinkError) as refused:
        check_payment_link_url(url, {"pay.other.com"})
    assert refused.value.field == "payment_link_url"
    assert says in str(refused.value)


@pytest.mark.parametrize(
    ("url", "mode"),
    [
        (LINK, "test"),
        ("https://buy.stripe.com/14k5lA2bCdEf3gh6oo", "live"),
        ("https://pay.example.com/b/test_abc", "test"),
        ("https://pay.example.com/b/abc?x=test_1", "live"),
    ],
)
def test_mode_of_a_payment_link(url: str, mode: str) -> None:
    assert link_mode(url) == mode


# -- the codes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["spring_sale", "a", "A-Z_09", "x" * 150, "-leading-dash"]
)
def test_codes_stripe_keeps(value: str) -> None:
    assert check_code("utm_campaign", value) == value


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [
        ("spring sale", "spring_sale"),
        ("  spring   sale  ", "spring_sale"),
        ("spring\tsale", "spring_sale"),
        ("x" * 151, "x" * 150),
        ("big sale " + "y" * 200, ("big_sale_" + "y" * 200)[:150]),
        ("café", "caf"),
        ("50% off!", "50_off"),
        ("a.b/c", "abc"),
        ("!!!", None),
        ("日本", None),
    ],
)
def test_codes_stripe_drops_get_a_suggestion(
    value: str, suggestion: str | None
) -> None:
    assert suggest_code(value) == suggestion
    with pytest.raises(LinkError) as refused:
        check_code("utm_source", value)
    assert refused.value.field == "utm_source"
    assert refused.value.suggestion == suggestion
    assert "utm_source" in str(refused.value)
    if suggestion is not None:
        assert check_code("utm_source", suggestion) == suggestion


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"utm_campaign": ""}, "utm_campaign"),
        ({"utm_campaign": None}, "utm_campaign"),
        ({"utm_medium": 5}, "utm_medium"),
        ({"utm_term": "a b"}, "utm_term"),
        ({"utm_content": "x" * 151}, "utm_content"),
        ({"payment_link_url": None}, "payment_link_url"),
        ({"client_reference": "yes"}, "client_reference"),
    ],
)
def test_request_names_the_field_to_fix(body: dict[str, Any], field: str) -> None:
    with pytest.raises(LinkError) as refused:
        parse_request({"payment_link_url": LINK, **CODES, **body}, ())
    assert refused.value.field == field


def test_request_with_only_a_campaign() -> None:
    wanted = parse_request(
        {"payment_link_url": LINK, "utm_campaign": "x", "utm_term": ""}, ()
    )
    assert wanted.codes == {"utm_campaign": "x"}
    assert wanted.client_reference is True
    assert wanted.dims() == {
        "source": "(none)",
        "medium": "(none)",
        "campaign": "x",
        "term": "(none)",
        "content": "(none)",
    }


def test_tagged_url_keeps_the_links_own_parameters() -> None:
    url = tagged_url(
        "https://buy.stripe.com/test_abc?prefilled_email=a%40b.com",
        {"utm_campaign": "spring_sale", "utm_source": "news"},
        "lk_AbCdEfGhIjK",
    )
    assert url == (
        "https://buy.stripe.com/test_abc?prefilled_email=a%40b.com"
        "&utm_source=news&utm_campaign=spring_sale&client_reference_id=lk_AbCdEfGhIjK"
    )
    # What Stripe forwards to the redirect is what /thanks reads.
    landing = parse_query(urlsplit(url).query)
    assert (landing.source, landing.campaign, landing.medium) == (
        "news",
        "spring_sale",
        None,
    )


# -- tokens ----------------------------------------------------------------------


def test_tokens_fit_stripes_client_reference_and_are_short_and_random() -> None:
    tokens = {new_token() for _ in range(5000)}
    assert len(tokens) == 5000
    for token in tokens:
        assert CLIENT_REFERENCE.fullmatch(token)
        assert TOKEN.fullmatch(token) and is_token(token)
        assert len(token) == 14
    assert not is_token("order-1234")
    assert not is_token("lk_short")


# -- custom domains ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "domain"),
    [
        ("pay.example.com", "pay.example.com"),
        (" Pay.Example.COM ", "pay.example.com"),
        ("https://pay.example.com/", "pay.example.com"),
        ("https://pay.example.com/b/test_abc", "pay.example.com"),
        ("checkout.example.co.uk.", "checkout.example.co.uk"),
    ],
)
def test_custom_domains_accepted(raw: str, domain: str) -> None:
    assert check_domain(raw) == domain


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "localhost",
        "http://pay.example.com",
        "javascript:alert(1)",
        "https://u:p@pay.example.com",
        "https://pay.example.com:8443",
        "pay example.com",
        "-pay.example.com",
        "pay_x.example.com",
        "10.0.0.1",
        "buy.stripe.com",
        "evil.stripe.com",
        "a" * 64 + ".com",
    ],
)
def test_custom_domains_refused(raw: str) -> None:
    with pytest.raises(LinkError) as refused:
        check_domain(raw)
    assert refused.value.field == "domain"


# -- the redirect rule -------------------------------------------------------------

BASE = "https://landing.example.com/"
GOOD = "https://landing.example.com/thanks?session_id={CHECKOUT_SESSION_ID}"


@pytest.mark.parametrize(
    ("after", "says"),
    [
        ({"type": "redirect", "redirect": {"url": GOOD}}, ""),
        (
            {
                "type": "redirect",
                "redirect": {"url": GOOD.replace("landing.", "LANDING.")},
            },
            "",
        ),
        ({"type": "redirect", "redirect": {"url": GOOD + "&from=stripe"}}, ""),
        (
            {
                "type": "hosted_confirmation",
                "hosted_confirmation": {"custom_message": None},
            },
            "confirmation page",
        ),
        (None, "confirmation page"),
        ({"type": "redirect", "redirect": None}, "to no URL"),
        (
            {
                "type": "redirect",
                "redirect": {"url": "https://shop.example.com/thanks"},
            },
            "another site",
        ),
        (
            {
                "type": "redirect",
                "redirect": {"url": "https://landing.example.com/thank-you"},
            },
            "not to /thanks",
        ),
        (
            {
                "type": "redirect",
                "redirect": {"url": "https://landing.example.com/thanks"},
            },
            "without session_id",
        ),
        (
            {
                "type": "redirect",
                "redirect": {"url": "https://landing.example.com/thanks?session_id=x"},
            },
            "without session_id",
        ),
        (
            {"type": "redirect", "redirect": {"url": GOOD.replace("https", "http")}},
            "over http",
        ),
        (
            {
                "type": "redirect",
                "redirect": {"url": GOOD.replace(".com/", ".com:8443/")},
            },
            "another site",
        ),
    ],
)
def test_redirect_problem(after: dict[str, Any] | None, says: str) -> None:
    problem = redirect_problem(after, BASE)
    assert (problem == "") if not says else (says in problem)


def test_expected_redirect() -> None:
    assert expected_redirect(BASE) == GOOD


# -- POST /api/links ----------------------------------------------------------------


def test_create_a_link_with_its_token(app: Flask, client: FlaskClient) -> None:
    response = create(client)
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert list(body) == ["id", "url", "qr_svg_url", "qr_png_url", "campaign", "token"]
    token = body["token"]
    assert is_token(token)
    assert body["campaign"] == "spring_sale"
    assert body["qr_svg_url"] == f"/links/{body['id']}/qr.svg"
    assert body["qr_png_url"] == f"/links/{body['id']}/qr.png"
    assert body["url"] == (
        f"{LINK}?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"
        f"&utm_term=running_shoes&utm_content=hero_banner&client_reference_id={token}"
    )
    store = rt(app).store
    # The token's hash, read by name by the attribution scripts.
    assert store.redis.hgetall(keys.token(token)) == {
        "campaign": "spring_sale",
        "source": "newsletter",
        "medium": "email",
        "content": "hero_banner",
        "term": "running_shoes",
        "link": body["id"],
    }
    assert store.token(token)["campaign"] == "spring_sale"
    record = store.link(body["id"])
    assert record["url"] == body["url"]
    assert record["mode"] == "test"
    # A registered link confirms its campaign, in its payment link's mode.
    assert store.redis.smembers(keys.confirmed("test")) == {"spring_sale"}
    assert store.redis.smembers(keys.confirmed("live")) == set()


def test_without_client_reference_no_token_is_kept(
    app: Flask, client: FlaskClient
) -> None:
    response = create(
        client,
        payment_link_url="https://buy.stripe.com/14k5lA2bCdEf3gh6oo",
        utm_term="",
        utm_content="",
        client_reference=False,
    )
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert body["token"] is None
    assert "client_reference_id" not in body["url"]
    assert dict(parse_qsl(urlsplit(body["url"]).query)) == {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "spring_sale",
    }
    assert rt(app).store.redis.keys(keys.token("*")) == []
    assert rt(app).store.redis.smembers(keys.confirmed("live")) == {"spring_sale"}


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"utm_campaign": "spring sale"}, "utm_campaign", "try spring_sale"),
        ({"utm_source": "news letter"}, "utm_source", "try news_letter"),
        ({"utm_medium": "e-mail!"}, "utm_medium", "try e-mail"),
        ({"utm_campaign": ""}, "utm_campaign", "utm_campaign is required"),
        ({"payment_link_url": "http://buy.stripe.com/x"}, "payment_link_url", "https"),
        ({"payment_link_url": "javascript:alert(1)"}, "payment_link_url", "https"),
        (
            {"payment_link_url": "https://buy.stripe.com/x?utm_campaign=old"},
            "payment_link_url",
            "utm_campaign",
        ),
        (
            {"payment_link_url": "https://a:b@buy.stripe.com/x"},
            "payment_link_url",
            "password",
        ),
        ({"payment_link_url": "https://example.com/x"}, "payment_link_url", "Stripe"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(
    app: Flask, client: FlaskClient, change: dict[str, str], field: str, says: str
) -> None:
    before = stored_keys(app)
    response = create(client, **change)
    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == field
    assert says in body["error"]
    if says.startswith("try "):
        assert body["suggestion"] == says[4:]
    assert stored_keys(app) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("payment_link_url=x", "application/x-www-form-urlencoded", 415),
        ("{}", "text/plain", 415),
    ],
)
def test_only_a_json_object_is_read(
    app: Flask, client: FlaskClient, data: str, content_type: str, status: int
) -> None:
    response = client.post(
        "/api/links", data=data, headers={**AUTH, "Content-Type": content_type}
    )
    assert response.status_code == status
    assert "error" in response.get_json()
    assert stored_keys(app) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/links"),
        ("get", "/links/check"),
        ("get", "/api/links"),
        ("post", "/api/links"),
        ("get", "/api/links/domains"),
        ("post", "/api/links/domains"),
        ("delete", "/api/links/domains/pay.example.com"),
        ("get", "/links/abcdefgh/qr.svg"),
        ("get", "/links/abcdefgh/qr.png"),
    ],
)
def test_every_route_asks_for_the_password(
    client: FlaskClient, method: str, path: str
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


# -- custom domains ----------------------------------------------------------------


def test_register_a_custom_domain(client: FlaskClient) -> None:
    custom = "https://pay.example.com/b/test_abc"
    refused = create(client, payment_link_url=custom)
    assert refused.status_code == 400
    assert "register your custom domain" in refused.get_json()["error"]

    added = client.post(
        "/api/links/domains",
        data=json.dumps({"domain": "https://Pay.Example.com/"}),
        headers=JSON,
    )
    assert added.status_code == 201
    assert added.get_json() == {
        "domain": "pay.example.com",
        "domains": ["pay.example.com"],
    }
    assert client.get("/api/links/domains", headers=AUTH).get_json() == {
        "domains": ["pay.example.com"]
    }
    assert create(client, payment_link_url=custom).status_code == 201

    bad = client.post(
        "/api/links/domains",
        data=json.dumps({"domain": "evil.stripe.com"}),
        headers=JSON,
    )
    assert bad.status_code == 400 and bad.get_json()["field"] == "domain"

    assert (
        client.delete("/api/links/domains/pay.example.com", headers=AUTH).status_code
        == 204
    )
    assert (
        client.delete("/api/links/domains/pay.example.com", headers=AUTH).status_code
        == 404
    )
    assert create(client, payment_link_url=custom).status_code == 400


# -- GET /api/links and the page ------------------------------------------------------


def test_links_list_with_their_campaigns_numbers(
    app: Flask, client: FlaskClient
) -> None:
    live = create(client, payment_link_url="https://buy.stripe.com/14k5lA2bCdEf3gh6oo")
    test = create(client, utm_campaign="qa_run", utm_source="", utm_medium="")
    assert live.status_code == test.status_code == 201
    query = "session_id=cs_live_a1&utm_campaign=spring_sale&utm_source=newsletter"
    assert client.get(f"/thanks?{query}").status_code == 200
    assert (
        client.get("/thanks?session_id=cs_live_a2&utm_campaign=spring_sale").status_code
        == 200
    )
    flush(app)
    assert (
        post_event(client, session_event("cs_live_a1", amount_total=5900)).status_code
        == 200
    )

    response = client.get("/api/links", headers=AUTH)
    assert response.status_code == 200
    links = response.get_json()["links"]
    assert [link["campaign"] for link in links] == [
        "qa_run",
        "spring_sale",
    ]  # newest first
    qa, spring = links
    assert spring["id"] == live.get_json()["id"]
    assert spring["mode"] == "live"
    assert spring["url"] == live.get_json()["url"]
    assert spring["token"] == live.get_json()["token"]
    assert (spring["source"], spring["medium"], spring["term"]) == (
        "newsletter",
        "email",
        "running_shoes",
    )
    assert spring["campaign_totals"] == {
        "landings": 2,
        "conversions": 1,
        "revenue": {"usd": 5900},
    }
    assert qa["mode"] == "test"
    assert qa["source"] is None
    assert qa["campaign_totals"] == {"landings": 0, "conversions": 0, "revenue": {}}
    assert qa["qr_png_url"] == f"/links/{qa['id']}/qr.png"
    # The same numbers as the scoreboard's row.
    row = next(
        r for r in scoreboard(client)["campaigns"] if r["campaign"] == "spring_sale"
    )
    assert row["landings"] == 2 and row["conversions"] == 1


def test_page_offers_recent_sources_and_mediums(client: FlaskClient) -> None:
    assert create(client).status_code == 201
    assert (
        create(client, utm_source="instagram", utm_medium="social").status_code == 201
    )
    assert create(client, utm_source="", utm_medium="").status_code == 201
    page = client.get("/links", headers=AUTH)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    sources = html.split('id="recent-sources"')[1].split("</datalist>")[0]
    assert sources == '><option value="instagram"><option value="newsletter">'
    mediums = html.split('id="recent-mediums"')[1].split("</datalist>")[0]
    assert mediums == '><option value="social"><option value="email">'
    assert 'id="link-form"' in html
    assert "<script>" not in html and "style=" not in html  # the CSP forbids both


def test_page_escapes_what_it_shows(client: FlaskClient) -> None:
    domain = client.post(
        "/api/links/domains",
        data=json.dumps({"domain": "pay.example.com"}),
        headers=JSON,
    )
    assert domain.status_code == 201
    created = create(
        client, payment_link_url="https://pay.example.com/b/x?a=%3Cscript%3E&b=<i>"
    )
    assert created.status_code == 201
    html = client.get("/links", headers=AUTH).get_data(as_text=True)
    assert "<i>" not in html
    assert "&lt;i&gt;" in html


# -- QR codes ------------------------------------------------------------------------


def decode(png: bytes) -> list[str]:
    return [
        result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    ]


def test_qr_codes_read_back_as_the_tagged_url(client: FlaskClient) -> None:
    body = create(client).get_json()
    png = client.get(body["qr_png_url"], headers=AUTH)
    assert png.status_code == 200
    assert png.mimetype == "image/png"
    assert decode(png.data) == [body["url"]]

    svg = client.get(body["qr_svg_url"], headers=AUTH)
    assert svg.status_code == 200
    assert svg.mimetype == "image/svg+xml"
    text = svg.get_data(as_text=True)
    assert text.startswith("<svg") and "<script" not in text
    assert 'fill="#fff"' in text or "#fff" in text  # white behind, in dark mode too

    download = client.get(body["qr_png_url"] + "?download=1", headers=AUTH)
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="qr-spring_sale-{body["id"]}.png"'
    )


def test_qr_svg_has_the_same_modules_as_segno(client: FlaskClient) -> None:
    import segno

    body = create(client).get_json()
    svg = client.get(body["qr_svg_url"], headers=AUTH).get_data(as_text=True)
    qr = segno.make_qr(body["url"])
    expected = io.BytesIO()
    qr.save(
        expected,
        kind="svg",
        scale=8,
        border=4,
        dark="#000",
        light="#fff",
        xmldecl=False,
    )
    path = svg.split(' d="')[-1].split('"')[0]
    assert path == expected.getvalue().decode().split(' d="')[-1].split('"')[0]


@pytest.mark.parametrize(
    "path", ["/links/nothere1/qr.svg", "/links/x/qr.png", "/links/../qr.png"]
)
def test_unknown_qr_is_404(client: FlaskClient, path: str) -> None:
    assert client.get(path, headers=AUTH).status_code == 404


# -- the redirect check, against a stand-in for Stripe ---------------------------------


@pytest.fixture
def fake_stripe(app_env: dict[str, str]) -> Iterator[FakeStripe]:
    """Three payment links over two pages; the app's key set to reach them."""
    ours = "http://localhost/thanks?session_id={CHECKOUT_SESSION_ID}"
    fake = FakeStripe(
        [
            payment_link("plink_1Good000000000001", redirect_url=ours),
            payment_link("plink_1Hosted0000000002", redirect_url=None),
            payment_link(
                "plink_1Elsewhere000003",
                redirect_url="https://shop.example.com/thanks",
                livemode=True,
            ),
            payment_link("plink_1Inactive00000004", redirect_url=None, active=False),
        ]
    ).start()
    app_env["STRIPE_API_KEY"] = API_KEY
    yield fake
    fake.stop()


def test_redirect_check_flags_links_with_the_fix(
    fake_stripe: FakeStripe, app: Flask, client: FlaskClient
) -> None:
    app.config[STRIPE_API_BASE] = fake_stripe.url
    response = client.get("/links/check", headers=AUTH)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2 of 3 active payment links need a fix" in html
    good, hosted, elsewhere = html.split("data-payment-link=")[1:]
    assert "✓ redirects here" in good
    assert "Stripe&#39;s confirmation page" in hosted
    assert (
        "https://dashboard.stripe.com/test/payment-links/plink_1Hosted0000000002"
        in hosted
    )
    assert "another site: https://shop.example.com/thanks" in elsewhere
    assert (
        "https://dashboard.stripe.com/payment-links/plink_1Elsewhere000003" in elsewhere
    )
    assert "Don't show confirmation page" in html
    assert "http://localhost/thanks?session_id={CHECKOUT_SESSION_ID}" in html
    assert "plink_1Inactive" not in html
    # Two pages, the second after the first's last link; our key, nothing else.
    assert [r["query"].get("starting_after") for r in fake_stripe.requests] == [
        None,
        "plink_1Hosted0000000002",
    ]
    assert all(r["query"]["active"] == "true" for r in fake_stripe.requests)
    assert all(r["authorization"] == f"Bearer {API_KEY}" for r in fake_stripe.requests)


def test_redirect_check_says_when_stripe_refuses_the_key(
    fake_stripe: FakeStripe, app: Flask, client: FlaskClient
) -> None:
    app.config[STRIPE_API_BASE] = fake_stripe.url
    fake_stripe.status = 401
    html = client.get("/links/check", headers=AUTH).get_data(as_text=True)
    assert "Stripe refused STRIPE_API_KEY" in html
    assert API_KEY not in html


def test_without_a_key_the_page_explains_how_to_make_one(client: FlaskClient) -> None:
    for path in ("/links", "/links/check"):
        html = client.get(path, headers=AUTH).get_data(as_text=True)
        assert "Create restricted key" in html
        assert "Payment Links" in html and "Read" in html
        assert "STRIPE_API_KEY" in html


def test_the_key_never_shows_in_settings_repr(
    fake_stripe: FakeStripe, app: Flask
) -> None:
    settings = rt(app).settings
    assert settings.stripe_api_key == API_KEY
    assert API_KEY not in repr(settings)
