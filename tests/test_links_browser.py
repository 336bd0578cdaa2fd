"""The link builder as a marketer uses it, in a real headless Chromium.

The browser setup follows tests/test_browser.py: Debian's chromium driven by
Playwright, the app served over HTTP from a thread, screenshots under
test-artifacts/. The QR code is read back from the pixels the browser shows.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from landing import stripe_events as se
from landing.links import STRIPE_API_BASE

from conftest import ARTIFACTS, AUTH, PASSWORD, REPORT_CSP, post_event
from fake_stripe import API_KEY, FakeStripe, payment_link

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Page,
        ViewportSize,
        expect,
    )

    HAVE_PLAYWRIGHT = True
except ImportError:  # reported by the browser fixture, with the reason
    HAVE_PLAYWRIGHT = False

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1440, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
TIMEOUT = 5000
LINK = "https://buy.stripe.com/test_eVa16Q1Vd7yU1Ne8ww"


class Tab:
    """A signed-in page plus every error it reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "response",
            lambda r: (
                self.errors.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 and r.status != 401
                else None
            ),
        )

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(f"console: {message.text}")


@pytest.fixture
def tab(
    browser: Browser, server: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Tab]]:
    """Open a tab (viewport, colour scheme) allowed to use the clipboard."""
    contexts: list[BrowserContext] = []

    def open_tab(
        viewport: ViewportSize = DESKTOP,
        color_scheme: Literal["light", "dark"] = "light",
    ) -> Tab:
        context = browser.new_context(
            base_url=server,
            viewport=viewport,
            color_scheme=color_scheme,
            http_credentials={"username": "admin", "password": PASSWORD},
            accept_downloads=True,
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        context.set_default_timeout(TIMEOUT)
        context.add_init_script(REPORT_CSP)
        contexts.append(context)
        return Tab(context.new_page())

    yield open_tab
    for context in contexts:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


def build(page: Page, url: str = LINK, **codes: str) -> None:
    """Fill the builder's form as a marketer would and submit it."""
    page.get_by_role("textbox", name="Payment link").fill(url)
    for name, value in codes.items():
        page.locator(f"#utm_{name}").fill(value)
    page.get_by_role("button", name="Create link").click()


def seed(client: FlaskClient, **codes: str) -> None:
    body = {"payment_link_url": LINK, "utm_campaign": "seed", **codes}
    response = client.post(
        "/api/links",
        data=json.dumps(body),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.data


def shown_qr(page: Page) -> list[str]:
    """What a phone camera reads from the QR code as the page shows it."""
    image = page.locator("#result-qr")
    expect(image).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.getElementById('result-qr');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    png = image.screenshot()
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


# -- the tests --------------------------------------------------------------------


def test_build_a_link_copy_it_and_scan_its_qr(
    tab: Callable[..., Tab], client: FlaskClient
) -> None:
    seed(client, utm_source="newsletter", utm_medium="email")
    t = tab()
    page = t.page
    page.goto("/dashboard")
    page.get_by_role("link", name="Link builder").click()
    expect(page.locator("h1")).to_have_text("Link builder")
    # Recent values are offered for source and medium.
    assert page.locator("#recent-sources option").evaluate_all(
        "os => os.map(o => o.value)"
    ) == ["newsletter"]
    build(
        page,
        source="newsletter",
        medium="email",
        campaign="spring_sale",
        term="running_shoes",
        content="hero_banner",
    )
    url = page.locator("#result-url")
    expect(url).to_contain_text("client_reference_id=lk_")
    tagged = url.inner_text()
    token = tagged.rpartition("client_reference_id=")[2]
    assert tagged == (
        f"{LINK}?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"
        f"&utm_term=running_shoes&utm_content=hero_banner&client_reference_id={token}"
    )
    expect(page.locator("#result-campaign")).to_have_text("spring_sale")
    expect(page.locator("#result-token code")).to_have_text(token)

    page.get_by_role("button", name="Copy link").click()
    expect(page.locator("#copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == tagged

    assert shown_qr(page) == [tagged]
    # The new link is listed at once, with its campaign's numbers.
    first = page.locator("#links-table tbody tr").first
    expect(first.locator("th")).to_contain_text("spring_sale")
    expect(first.locator("td.num")).to_have_text(["0", "0", "—"])
    screenshot(page, "links-built-1440-light")
    assert t.errors == []


def test_a_code_stripe_would_drop_gets_a_fix(tab: Callable[..., Tab]) -> None:
    t = tab()
    page = t.page
    page.goto("/links")
    build(page, source="news letter", campaign="spring sale")
    error = page.locator("#error-utm_source")
    expect(error).to_contain_text("utm_source may only hold letters")
    expect(page.locator("#utm_source")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#link-result")).to_be_hidden()
    screenshot(page, "links-suggestion-1440-light")
    page.get_by_role("button", name="Use news_letter").click()
    expect(page.locator("#utm_source")).to_have_value("news_letter")
    page.get_by_role("button", name="Create link").click()
    # One field at a time: now the campaign.
    expect(page.locator("#error-utm_campaign")).to_contain_text("try spring_sale")
    page.get_by_role("button", name="Use spring_sale").click()
    page.get_by_role("button", name="Create link").click()
    expect(page.locator("#result-url")).to_contain_text(
        "utm_source=news_letter&utm_campaign=spring_sale"
    )
    expect(page.locator(".field-error:visible")).to_have_count(0)

    page.get_by_role("textbox", name="Payment link").fill(
        "http://buy.stripe.com/test_x"
    )
    page.get_by_role("button", name="Create link").click()
    expect(page.locator("#error-payment_link_url")).to_contain_text("https://")
    screenshot(page, "links-error-1440-light")
    # The refused tries answered 400: what the page is for, not an error.
    assert [e for e in t.errors if "HTTP 400" not in e] == []


def test_a_custom_domain_once_registered_is_accepted(tab: Callable[..., Tab]) -> None:
    t = tab()
    page = t.page
    page.goto("/links")
    custom = "https://pay.example.com/b/test_abc"
    build(page, url=custom, campaign="own_domain")
    expect(page.locator("#error-payment_link_url")).to_contain_text(
        "register your custom domain"
    )
    page.get_by_role("textbox", name="Domain").fill("pay.example.com")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#domain-list li")).to_have_text(["pay.example.com"])
    page.get_by_role("button", name="Create link").click()
    expect(page.locator("#result-url")).to_contain_text(
        f"{custom}?utm_campaign=own_domain"
    )
    assert [e for e in t.errors if "HTTP 400" not in e] == []


@pytest.fixture
def stripe_check(app_env: dict[str, str]) -> Iterator[FakeStripe]:
    """A local stand-in for Stripe with three payment links on two pages."""
    fake = FakeStripe([]).start()
    app_env["STRIPE_API_KEY"] = API_KEY
    yield fake
    fake.stop()


def test_payment_links_redirect_check(
    stripe_check: FakeStripe, app: Flask, server: str, tab: Callable[..., Tab]
) -> None:
    app.config[STRIPE_API_BASE] = stripe_check.url
    ours = f"{server}/thanks?session_id={{CHECKOUT_SESSION_ID}}"
    stripe_check.links = [
        payment_link("plink_1Good000000000001", redirect_url=ours),
        payment_link("plink_1Hosted0000000002", redirect_url=None),
        payment_link(
            "plink_1NoSession000003", redirect_url=f"{server}/thanks", livemode=True
        ),
    ]
    t = tab()
    page = t.page
    page.goto("/links")
    expect(page.locator("#check-summary")).to_contain_text(
        "2 of 3 active payment links need a fix"
    )
    flagged = page.locator("#link-check tr.flagged")
    expect(flagged).to_have_count(2)
    expect(flagged.nth(0)).to_contain_text("confirmation page")
    expect(flagged.nth(1)).to_contain_text("without session_id")
    expect(flagged.nth(0)).to_contain_text(ours)
    expect(page.locator("#link-check tr.ok")).to_contain_text("redirects here")
    screenshot(page, "links-check-1440-light")
    assert t.errors == []


def test_without_a_key_the_check_explains_itself(tab: Callable[..., Tab]) -> None:
    t = tab()
    page = t.page
    page.goto("/links")
    expect(page.locator("#check-off")).to_contain_text("Create restricted key")
    assert t.errors == []


@pytest.mark.parametrize(
    ("viewport", "scheme"),
    [(DESKTOP, "light"), (DESKTOP, "dark"), (PHONE, "light"), (PHONE, "dark")],
    ids=["1440-light", "1440-dark", "390-light", "390-dark"],
)
def test_the_page_fits_the_screen_in_both_schemes(
    tab: Callable[..., Tab],
    client: FlaskClient,
    viewport: ViewportSize,
    scheme: Literal["light", "dark"],
    request: pytest.FixtureRequest,
) -> None:
    seed(client, utm_source="instagram", utm_medium="social")
    t = tab(viewport=viewport, color_scheme=scheme)
    page = t.page
    page.goto("/links")
    build(page, source="newsletter", medium="email", campaign="autumn_launch")
    expect(page.locator("#result-url")).to_contain_text("autumn_launch")
    assert len(shown_qr(page)) == 1  # readable on either background
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        f"the page is wider than a {viewport['width']} px screen"
    )
    background = "rgb(17, 17, 19)" if scheme == "dark" else "rgb(247, 247, 245)"
    assert (
        page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        == background
    )
    screenshot(page, f"links-{request.node.callspec.id}")
    assert t.errors == []


def test_a_payment_through_a_tagged_link_shows_on_the_board_without_a_redirect(
    tab: Callable[..., Tab], client: FlaskClient
) -> None:
    """The customer closed the tab: no landing, yet the link's token puts
    the payment in its campaign, live, within 2 s."""
    t = tab()
    page = t.page
    page.goto("/links")
    live_link = "https://buy.stripe.com/eVa16Q1Vd7yU1Ne8ww"
    build(page, url=live_link, source="poster", medium="print", campaign="metro_ads")
    expect(page.locator("#result-url")).to_contain_text("client_reference_id=lk_")
    tagged = page.locator("#result-url").inner_text()
    token = tagged.rpartition("client_reference_id=")[2]
    page.goto("/dashboard")
    expect(page.locator('#live-status[data-state="ok"]')).to_be_visible()
    event = se.checkout_session_completed(
        "cs_live_poster1", client_reference_id=token, amount_total=2500
    )
    assert post_event(client, event).get_json()["result"] == "counted"
    row = page.locator("#board tr", has=page.locator("th", has_text="metro_ads"))
    expect(row.locator("td").first).to_have_text("0", timeout=2000)  # no landing
    expect(row.locator("td").nth(1)).to_have_text("1", timeout=2000)
    expect(row).to_contain_text("$25.00")
    page.goto("/dashboard/campaigns/metro_ads")
    expect(page.locator("#breakdown-source")).to_contain_text("poster")
    assert t.errors == []
