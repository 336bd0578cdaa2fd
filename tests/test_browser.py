"""The dashboard as marketers see it, in a real headless Chromium.

The app is served over HTTP from a thread (the same app object the test
client writes through, backed by the session's private Redis); the browser
is Debian's chromium driven by Playwright. Each test leaves full-page
screenshots under test-artifacts/ for a reviewer.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import ARTIFACTS, PASSWORD, REPORT_CSP, flush, post_event, session_event

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Frame,
        Locator,
        Page,
        Request,
        Response,
        ViewportSize,
        expect,
    )

    HAVE_PLAYWRIGHT = True
except ImportError:  # reported by the browser fixture, with the reason
    HAVE_PLAYWRIGHT = False

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
# A number changes on screen within this (dashboard.js polls every second).
LIVE_TIMEOUT = 5000


# -- the browser and the server ------------------------------------------------------


class Visit:
    """A signed-in browser tab plus every error its pages reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.navigations = 0
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("response", self._response)
        page.on("requestfailed", self._failed)
        page.on("framenavigated", self._navigated)

    def _console(self, message: ConsoleMessage) -> None:
        # "Failed to load resource" lines carry no URL: _response reports them.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(f"console: {message.text}")

    def _response(self, response: Response) -> None:
        # 401 is the Basic-auth challenge the browser answers with credentials.
        if response.status >= 400 and response.status != 401:
            self.errors.append(f"HTTP {response.status}: {response.url}")

    def _failed(self, request: Request) -> None:
        # A poll still in flight when the tab navigates away is aborted by
        # the browser itself; the user sees nothing of it.
        if request.failure != "net::ERR_ABORTED":
            self.errors.append(f"failed: {request.url} ({request.failure})")

    def _navigated(self, frame: Frame) -> None:
        if frame == self.page.main_frame:
            self.navigations += 1


@pytest.fixture
def visit(
    browser: Browser, server: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Visit]]:
    """Open a tab (viewport, colour scheme); screenshots every tab at the end."""
    opened: list[tuple[BrowserContext, Visit, str]] = []

    def open_tab(
        viewport: ViewportSize = DESKTOP,
        color_scheme: Literal["light", "dark"] = "light",
        name: str = "",
    ) -> Visit:
        context = browser.new_context(
            base_url=server,
            viewport=viewport,
            color_scheme=color_scheme,
            http_credentials={"username": "admin", "password": PASSWORD},
            accept_downloads=True,
        )
        context.set_default_timeout(LIVE_TIMEOUT)
        context.add_init_script(REPORT_CSP)
        tab = Visit(context.new_page())
        opened.append((context, tab, name))
        return tab

    yield open_tab
    for n, (context, tab, name) in enumerate(opened):
        suffix = name or (f"-{n}" if n else "")
        screenshot(tab.page, f"{request.node.name}{suffix}")
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


# -- what customers and Stripe do ------------------------------------------------------


def land(client: FlaskClient, session_id: str, **utm: str) -> None:
    """A customer back from Stripe's redirect, with the link's UTM codes."""
    query = urlencode(
        {"session_id": session_id, **{f"utm_{k}": v for k, v in utm.items()}}
    )
    assert client.get(f"/thanks?{query}").status_code == 200


def pay(client: FlaskClient, session_id: str, **event: Any) -> None:
    """Stripe's signed webhook about that session (paid, $40 unless told)."""
    response = post_event(client, session_event(session_id, **event))
    assert response.status_code == 200, response.data


def days_ago(n: int) -> int:
    return int(time.time()) - n * 86400


def showcase(app: Flask, client: FlaskClient) -> None:
    """A busy day: campaigns, three currencies, pending, failed, unattributed."""
    for i in range(6):
        land(
            client,
            f"cs_live_spring{i}",
            campaign="spring_sale",
            source="newsletter" if i % 2 else "instagram",
            medium="email" if i % 2 else "social",
            content=f"hero_{i % 3}",
            term="running_shoes",
        )
    for i in range(4):
        pay(
            client, f"cs_live_spring{i}", amount_total=5900, payment_link="plink_hoodie"
        )
    pay(client, "cs_live_spring4", payment_status="unpaid", amount_total=5900)
    for i in range(3):
        land(client, f"cs_live_bf{i}", campaign="black_friday", source="google")
        pay(client, f"cs_live_bf{i}", amount_total=12900, currency="eur")
    land(client, "cs_live_jp0", campaign="tokyo_launch", source="line")
    pay(client, "cs_live_jp0", amount_total=9800, currency="jpy")
    land(client, "cs_live_fail0", campaign="tokyo_launch")
    pay(
        client,
        "cs_live_fail0",
        payment_status="unpaid",
        amount_total=9800,
        currency="jpy",
    )
    pay(
        client,
        "cs_live_fail0",
        type="checkout.session.async_payment_failed",
        payment_status="unpaid",
        amount_total=9800,
        currency="jpy",
    )
    land(client, "cs_live_plain0")  # a link without UTM codes: (none)
    pay(client, "cs_live_orphan0", amount_total=2900)  # never came back
    pay(client, "cs_live_old0", amount_total=2900, created=days_ago(5))
    land(client, "cs_live_old0", campaign="spring_sale", source="newsletter")
    flush(app)


# -- reading the screen ------------------------------------------------------------


def scoreboard_rows(page: Page) -> list[list[str]]:
    """The scoreboard's body as shown: campaign, then every number cell."""
    rows: list[list[str]] = page.evaluate(
        """() => [...document.querySelectorAll('#board table.scoreboard tbody tr')]
              .map(tr => [...tr.querySelectorAll('th a, td')]
              .map(cell => cell.textContent.trim()))"""
    )
    return rows


def header_labels(page: Page) -> list[str]:
    labels: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('#board table.scoreboard thead th')]
              .map(th => th.textContent.trim())"""
    )
    return labels


def row_cells(page: Page, campaign: str) -> Locator:
    """The number cells of one campaign's row (waits while it is absent)."""
    rows = page.locator("#board table.scoreboard tbody tr")
    link = page.locator("th a").get_by_text(campaign, exact=True)
    return rows.filter(has=link).locator("td")


def figure(page: Page, label: str) -> Locator:
    """A big number above the table, by its label (conversions, revenue USD…)."""
    figures = page.locator("#board .figure")
    named = page.locator(".label").get_by_text(label, exact=True)
    return figures.filter(has=named).locator(".value")


def wait_until_live(page: Page) -> None:
    """dashboard.js has polled at least once and said all is well."""
    expect(page.locator('#live-status[data-state="ok"]')).to_be_visible()


def amount(text: str) -> Decimal:
    """$1,234.50 / €12.50 / ¥500 / '' as a number."""
    digits = re.sub(r"[^0-9.\-]", "", text)
    return Decimal(digits or "0")


# -- the tests ---------------------------------------------------------------------


def test_first_run_shows_this_servers_urls(
    visit: Callable[..., Visit], server: str
) -> None:
    tab = visit()
    tab.page.goto("/dashboard")
    steps = tab.page.locator(".first-run")
    expect(steps).to_contain_text("Nothing counted yet")
    expect(steps).to_contain_text(f"{server}/thanks?session_id={{CHECKOUT_SESSION_ID}}")
    expect(steps).to_contain_text(f"{server}/webhooks/stripe")
    expect(tab.page.locator(".first-run a", has_text="test mode")).to_have_attribute(
        "href", "/dashboard?mode=test"
    )
    assert tab.errors == []


def test_scoreboard_updates_without_reload(
    visit: Callable[..., Visit], client: FlaskClient
) -> None:
    tab = visit()
    page = tab.page
    page.goto("/dashboard")
    expect(page.locator(".first-run")).to_be_visible()
    page.evaluate("window.__loaded = 'the same page'")
    navigations = tab.navigations

    land(client, "cs_live_spring1", campaign="spring_sale", source="newsletter")
    pay(client, "cs_live_spring1", amount_total=4000)
    expect(row_cells(page, "spring_sale")).to_have_text(
        ["1", "1", "100.0%", "0", "0", "$40.00"], timeout=LIVE_TIMEOUT
    )
    expect(figure(page, "revenue USD")).to_have_text("$40.00")
    expect(page.locator("#live-status")).to_contain_text("updated")

    # Paid before the customer is back: (unattributed), then it moves.
    pay(client, "cs_live_late1", amount_total=2500)
    expect(row_cells(page, "(unattributed)")).to_have_text(
        ["0", "1", "—", "0", "0", "$25.00"]
    )
    land(client, "cs_live_late1", campaign="autumn_promo", source="instagram")
    expect(row_cells(page, "autumn_promo")).to_have_text(
        ["1", "1", "100.0%", "0", "0", "$25.00"]
    )
    expect(row_cells(page, "(unattributed)")).to_have_count(0)
    expect(figure(page, "revenue USD")).to_have_text("$65.00")

    assert page.evaluate("window.__loaded") == "the same page"
    assert tab.navigations == navigations
    assert tab.errors == []


def test_no_console_errors_or_csp_violations(
    visit: Callable[..., Visit], app: Flask, client: FlaskClient
) -> None:
    showcase(app, client)
    tab = visit()
    page = tab.page
    page.goto("/dashboard")
    wait_until_live(page)
    screenshot(page, "no_console_errors-dashboard")
    page.locator("#board th a").get_by_text("spring_sale", exact=True).click()
    expect(page.locator("h1")).to_have_text("spring_sale")
    wait_until_live(page)
    screenshot(page, "no_console_errors-campaign")
    page.goto("/dashboard/campaigns/(unattributed)")
    expect(page.locator("h1")).to_have_text("(unattributed)")
    page.goto("/thanks?session_id=cs_live_spring5&utm_campaign=spring_sale")
    expect(page.locator("h1")).to_have_text("Thank you for your order")
    page.wait_for_load_state("load")
    assert tab.errors == []


def test_date_presets_and_mode_switch_change_the_numbers(
    visit: Callable[..., Visit], app: Flask, client: FlaskClient
) -> None:
    land(client, "cs_live_today1", campaign="today_deal")
    pay(client, "cs_live_today1", amount_total=1000)
    pay(client, "cs_live_d3", amount_total=2000, created=days_ago(3))
    pay(client, "cs_live_d20", amount_total=4000, created=days_ago(20))
    pay(client, "cs_live_d45", amount_total=8000, created=days_ago(45))
    land(client, "cs_test_qa1", campaign="qa_check")
    pay(client, "cs_test_qa1", amount_total=500, currency="jpy")
    flush(app)

    tab = visit()
    page = tab.page
    page.goto("/dashboard")
    expected = {
        "All time": ("4", "$150.00"),
        "Today": ("1", "$10.00"),
        "7 days": ("2", "$30.00"),
        "30 days": ("3", "$70.00"),
    }
    for preset in ["Today", "7 days", "30 days", "All time"]:
        page.locator(".presets a", has_text=preset).click()
        expect(page.locator(".presets a[aria-current=true]")).to_have_text(preset)
        conversions, revenue = expected[preset]
        expect(figure(page, "conversions")).to_have_text(conversions)
        expect(figure(page, "revenue USD")).to_have_text(revenue)
    expect(figure(page, "landings")).to_have_text("1")

    page.get_by_role("link", name="switch to test").click()
    expect(page.locator(".badge")).to_have_text("test mode")
    expect(figure(page, "conversions")).to_have_text("1")
    expect(figure(page, "revenue JPY")).to_have_text("¥500")
    expect(figure(page, "revenue USD")).to_have_count(0)
    assert [row[0] for row in scoreboard_rows(page)] == ["qa_check"]
    screenshot(page, "presets-test-mode")

    page.get_by_role("link", name="switch to live").click()
    expect(page.locator(".badge")).to_have_text("live mode")
    expect(figure(page, "revenue USD")).to_have_text("$150.00")
    assert "qa_check" not in [row[0] for row in scoreboard_rows(page)]
    assert tab.errors == []


def test_csv_download_matches_the_table(
    visit: Callable[..., Visit], app: Flask, client: FlaskClient
) -> None:
    showcase(app, client)
    land(client, "cs_live_minus1", campaign="-minus_start")  # a formula look-alike
    pay(client, "cs_live_minus1", amount_total=1250, currency="eur")
    flush(app)
    tab = visit()
    page = tab.page
    page.goto("/dashboard")
    expect(row_cells(page, "-minus_start")).to_have_count(7 + 1)

    with page.expect_download() as info:
        page.get_by_role("link", name="Download this table (CSV)").click()
    download = info.value
    assert download.suggested_filename == "campaigns-live-all-time.csv"
    with open(download.path(), newline="", encoding="utf-8") as f:
        header, *lines = list(csv.reader(f))

    on_screen = scoreboard_rows(page)
    labels = header_labels(page)
    assert len(lines) == len(on_screen) > 4
    screen_revenue = {
        label.removeprefix("Revenue ").lower(): i
        for i, label in enumerate(labels)
        if label.startswith("Revenue ")
    }
    assert sorted(screen_revenue) == sorted(
        h.removeprefix("revenue_") for h in header if h.startswith("revenue_")
    )
    for line, shown in zip(lines, on_screen, strict=True):
        record = dict(zip(header, line, strict=True))
        # A spreadsheet must not run "-minus_start" as a formula.
        name = record["campaign"]
        if name.startswith("'"):
            assert name[1] in "=+-@"
            name = name[1:]
        assert name == shown[0]
        assert [record[k] for k in ("landings", "conversions")] == shown[1:3]
        assert [record[k] for k in ("pending", "failed")] == shown[4:6]
        for currency, column in screen_revenue.items():
            assert Decimal(record[f"revenue_{currency}"]) == amount(shown[column])
    assert tab.errors == []


def test_sorting_by_a_column_and_searching(
    visit: Callable[..., Visit], app: Flask, client: FlaskClient
) -> None:
    for i in range(3):
        land(client, f"cs_live_a{i}", campaign="alpha")
    land(client, "cs_live_b0", campaign="beta")
    pay(client, "cs_live_b0")
    for i in range(2):
        land(client, f"cs_live_g{i}", campaign="gamma_spring")
        pay(client, f"cs_live_g{i}")
    flush(app)
    tab = visit()
    page = tab.page
    page.goto("/dashboard")

    def campaigns() -> list[str]:
        return [row[0] for row in scoreboard_rows(page)]

    assert campaigns() == ["gamma_spring", "beta", "alpha"]  # by conversions
    landings = page.locator("#board thead th").filter(has_text="Landings")
    landings.locator("a").click()
    expect(landings).to_have_attribute("aria-sort", "descending")
    assert campaigns() == ["alpha", "gamma_spring", "beta"]
    landings.locator("a").click()
    expect(landings).to_have_attribute("aria-sort", "ascending")
    assert campaigns() == ["beta", "gamma_spring", "alpha"]

    page.get_by_label("Find a campaign").fill("SPRING")
    page.get_by_label("Find a campaign").press("Enter")
    expect(page.locator("#board caption")).to_contain_text("matching “SPRING”")
    assert campaigns() == ["gamma_spring"]
    expect(page.locator("#board tfoot th")).to_have_text("Total (matching)")

    page.get_by_label("Find a campaign").fill("nothing_like_it")
    page.get_by_label("Find a campaign").press("Enter")
    expect(page.locator("#board tbody")).to_contain_text(
        "No campaign matches “nothing_like_it”"
    )
    assert tab.errors == []


def test_campaign_page_breaks_down_by_every_code(
    visit: Callable[..., Visit], app: Flask, client: FlaskClient
) -> None:
    land(
        client,
        "cs_live_s1",
        campaign="spring_sale",
        source="newsletter",
        medium="email",
        content="hero_banner",
        term="running_shoes",
    )
    pay(client, "cs_live_s1", amount_total=5900, payment_link="plink_hoodie")
    land(
        client,
        "cs_live_s2",
        campaign="spring_sale",
        source="instagram",
        medium="social",
        content="story",
    )
    pay(
        client,
        "cs_live_s2",
        amount_total=1500,
        currency="eur",
        payment_link="plink_mug",
    )
    land(
        client,
        "cs_live_s3",
        campaign="spring_sale",
        source="newsletter",
        medium="email",
    )
    flush(app)

    tab = visit()
    page = tab.page
    page.goto("/dashboard")
    page.locator("#board th a").get_by_text("spring_sale", exact=True).click()
    expect(page.locator("h1")).to_have_text("spring_sale")
    expect(figure(page, "landings")).to_have_text("3")
    expect(figure(page, "conversions")).to_have_text("2")

    def breakdown(dim: str) -> dict[str, list[str]]:
        table = page.locator(f"#breakdown-{dim}")
        expect(table).to_be_visible()
        cells: list[list[str]] = table.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.children].map(c => c.textContent.trim()))"
        )
        return {row[0]: row[1:] for row in cells}

    captions = page.locator("table.breakdown caption")
    expect(captions).to_have_text(
        ["By source", "By medium", "By content", "By term", "By payment link"]
    )
    # value: landings, conversions, rate, pending, failed, revenue, refunded
    assert breakdown("source") == {
        "newsletter": ["2", "1", "50.0%", "0", "0", "$59.00", ""],
        "instagram": ["1", "1", "100.0%", "0", "0", "€15.00", ""],
    }
    assert breakdown("medium")["email"][:2] == ["2", "1"]
    assert breakdown("medium")["social"][:2] == ["1", "1"]
    content = breakdown("content")
    assert content["hero_banner"][:2] == ["1", "1"]
    assert content["story"][:2] == ["1", "1"]
    assert content["(none)"][:2] == ["1", "0"]
    term = breakdown("term")
    assert term["running_shoes"][:2] == ["1", "1"]
    assert term["(none)"][:2] == ["2", "1"]
    links = breakdown("payment_link")
    # Landings never know their payment link: conversions, pending, failed,
    # revenue, refunded.
    assert links["plink_hoodie"] == ["1", "0", "0", "$59.00", ""]
    assert links["plink_mug"] == ["1", "0", "0", "€15.00", ""]
    assert tab.errors == []


@pytest.mark.parametrize(
    ("viewport", "scheme"),
    [(DESKTOP, "light"), (DESKTOP, "dark"), (PHONE, "light"), (PHONE, "dark")],
    ids=["desktop-light", "desktop-dark", "phone-light", "phone-dark"],
)
def test_pages_fit_the_screen_in_both_schemes(
    visit: Callable[..., Visit],
    app: Flask,
    client: FlaskClient,
    viewport: ViewportSize,
    scheme: Literal["light", "dark"],
    request: pytest.FixtureRequest,
) -> None:
    showcase(app, client)
    tab = visit(viewport=viewport, color_scheme=scheme)
    page = tab.page
    background = "rgb(17, 17, 19)" if scheme == "dark" else "rgb(247, 247, 245)"
    for path, name in [
        ("/dashboard", "dashboard"),
        ("/dashboard/campaigns/spring_sale", "campaign"),
        ("/thanks?session_id=cs_live_spring0&utm_campaign=spring_sale", "thanks"),
    ]:
        page.goto(path)
        page.wait_for_load_state("load")
        # The page never scrolls sideways; wide tables scroll in their box.
        assert page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"
        ), f"{name} is wider than a {viewport['width']} px screen"
        assert (
            page.evaluate("getComputedStyle(document.body).backgroundColor")
            == background
            or page.evaluate(
                "getComputedStyle(document.documentElement).backgroundColor"
            )
            == background
        )
        screenshot(page, f"look-{request.node.callspec.id}-{name}")
    assert tab.errors == []


@pytest.mark.parametrize("width", [1280, 1024])
def test_big_numbers_fit_their_cards(
    visit: Callable[..., Visit], app: Flask, client: FlaskClient, width: int
) -> None:
    showcase(app, client)
    tab = visit(viewport={"width": width, "height": 900})
    tab.page.goto("/dashboard")
    clipped: list[str] = tab.page.locator("#board .figure .value").evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth).map(e => e.textContent)"
    )
    assert clipped == [], f"cut off at {width} px: {clipped}"


# -- launch day: comparison, wall screen, share links, figures that fit -------------

DESKTOP_WIDE: ViewportSize = {"width": 1440, "height": 900}
WALL: ViewportSize = {"width": 1920, "height": 1080}


def five_currencies(app: Flask, client: FlaskClient) -> None:
    """The showcase plus GBP and KWD: five revenue columns, long figures."""
    showcase(app, client)
    land(client, "cs_live_kw0", campaign="gulf_launch_weekend_special", source="x")
    pay(client, "cs_live_kw0", amount_total=18300, currency="kwd")
    land(client, "cs_live_gb0", campaign="london_pop_up", source="instagram")
    pay(client, "cs_live_gb0", amount_total=123456789, currency="gbp")
    pay(client, "cs_live_y_eur", amount_total=4500, currency="eur", created=days_ago(1))
    flush(app)


def no_broken_figures(page: Page) -> None:
    """Every big number sits on one line, whole, inside its card."""
    figures: list[dict[str, Any]] = page.locator(
        "#board .figure .value, #board .tv-figure .value"
    ).evaluate_all(
        """els => els.map(e => {
            const style = getComputedStyle(e);
            const range = document.createRange();
            range.selectNodeContents(e);
            return {text: e.textContent, lines: range.getClientRects().length,
                    height: e.getBoundingClientRect().height,
                    lineHeight: parseFloat(style.lineHeight),
                    overflow: e.scrollWidth - e.clientWidth};
        })"""
    )
    assert figures
    for f in figures:
        assert f["lines"] == 1, f"{f['text']} breaks across {f['lines']} lines"
        assert f["height"] <= f["lineHeight"] * 1.05, f
        assert f["overflow"] <= 0, f"{f['text']} does not fit its card"


def test_the_comparison_shows_beside_each_big_number(
    visit: Callable[..., Visit], app: Flask, client: FlaskClient
) -> None:
    for i in range(2):
        land(client, f"cs_live_cmp{i}", campaign="spring_sale")
        pay(client, f"cs_live_cmp{i}", amount_total=2000)
    pay(client, "cs_live_cmp_y", amount_total=2000, created=days_ago(1))
    pay(client, "cs_live_cmp_eur", amount_total=900, currency="eur")
    flush(app)
    tab = visit(viewport=DESKTOP_WIDE)
    page = tab.page
    page.goto("/dashboard")
    expect(page.locator("#board .change")).to_have_count(0)  # all time: none
    page.locator(".presets a", has_text="Today").click()
    expect(page).to_have_url(re.compile(r"range=today"))

    def change(label: str) -> Locator:
        named = page.locator(".label").get_by_text(label, exact=True)
        return page.locator("#board .figure").filter(has=named).locator(".change")

    expect(change("conversions")).to_contain_text("▲ 200%")  # 3 against 1
    expect(change("conversions")).to_have_class(re.compile(r"\bup\b"))
    expect(change("landings")).to_contain_text("no data")  # none yesterday
    expect(change("revenue EUR")).to_contain_text("no data")
    expect(change("revenue USD")).to_contain_text("▲ 100%")
    expect(page.locator(".against")).to_contain_text("the day before")
    # Live: a payment today moves the arrow without a reload.
    pay(client, "cs_live_cmp_more", amount_total=2000)
    expect(change("conversions")).to_contain_text("▲ 300%")
    expect(page).to_have_title(re.compile(r"^4 conversions today"))
    no_broken_figures(page)
    assert tab.errors == []


def test_the_wall_screen_updates_itself_and_never_scrolls(
    visit: Callable[..., Visit], app: Flask, client: FlaskClient
) -> None:
    five_currencies(app, client)
    tab = visit(viewport=WALL, name="-wall")
    page = tab.page
    page.goto("/dashboard/tv?rotate=3")
    wait_until_live(page)
    navigations = tab.navigations

    def fits() -> bool:
        return bool(
            page.evaluate(
                """() => {
                  const d = document.documentElement;
                  return d.scrollHeight <= innerHeight && d.scrollWidth <= innerWidth
                    && d.clientWidth === innerWidth && d.clientHeight === innerHeight;
                }"""
            )
        )

    assert fits(), "the wall screen scrolls at 1920x1080"
    no_broken_figures(page)
    conversions = page.locator(".tv-figure").filter(
        has=page.locator(".label").get_by_text("conversions", exact=True)
    )
    before = int(conversions.locator(".value").inner_text().replace(",", ""))
    screenshot(page, "tv-wall")

    # A payment shows without a reload; the campaigns take turns, no mouse.
    spot = page.locator(".spot.current")
    first = spot.get_attribute("data-campaign")
    land(client, "cs_live_tv1", campaign="spring_sale")
    pay(client, "cs_live_tv1", amount_total=4000)
    expect(conversions.locator(".value")).to_have_text(str(before + 1))
    expect(spot).not_to_have_attribute("data-campaign", first or "", timeout=8000)
    expect(page.locator(".tv-leaders li.current")).to_have_count(1)
    assert page.locator(".tv-leaders li.current").get_attribute(
        "data-campaign"
    ) == spot.get_attribute("data-campaign")
    assert tab.navigations == navigations
    assert fits()

    # The server goes away: a small "reconnecting…", then live again.
    def polls(url: str) -> bool:
        return "fragment=board" in url

    page.route(polls, lambda route: route.abort())
    expect(page.locator("#live-status")).to_have_text("reconnecting…")
    screenshot(page, "tv-wall-reconnecting")
    page.unroute(polls)
    wait_until_live(page)
    assert fits()
    assert [e for e in tab.errors if "fragment=board" not in e] == []


def test_a_share_link_shows_only_its_campaign_until_revoked(
    visit: Callable[..., Visit], app: Flask, client: FlaskClient, browser: Browser
) -> None:
    five_currencies(app, client)
    tab = visit(viewport=DESKTOP_WIDE)
    page = tab.page
    page.goto("/dashboard/campaigns/spring_sale")
    wait_until_live(page)
    # By keyboard: the button, the form, the new link.
    page.get_by_role("button", name="Share…").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Share a live, read-only board")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Show", exact=True)).to_have_value("spring_sale")
    dialog.get_by_label("for", exact=True).fill("2")
    dialog.get_by_role("button", name="Create link").click()
    url_field = dialog.locator("#share-url")
    expect(url_field).to_have_value(
        re.compile(r"^http://127\.0\.0\.1:\d+/s/[\w-]{43}$")
    )
    shared_url = url_field.input_value()
    expect(dialog.locator(".share-list li")).to_have_count(1)
    expect(dialog.locator(".share-list li")).to_contain_text("spring_sale")
    screenshot(page, "share-dialog")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "share-dialog-dark")

    # Someone without the password opens it: that campaign, live, and no more.
    stranger = browser.new_context(viewport=DESKTOP_WIDE)
    stranger.add_init_script(REPORT_CSP)
    try:
        outside = Visit(stranger.new_page())
        shared = outside.page
        shared.goto(shared_url)
        expect(shared.locator("h1")).to_have_text("spring_sale")
        wait_until_live(shared)
        text = shared.locator("body").inner_text()
        for other in ("black_friday", "tokyo_launch", "london_pop_up", "gulf_launch"):
            assert other not in text
        urls: list[str] = shared.evaluate(
            """() => [...document.querySelectorAll('[href], [src], [action]')]
                  .map(e => e.getAttribute('href') || e.getAttribute('src')
                            || e.getAttribute('action'))"""
        )
        path = shared_url.split("/", 3)[3]
        assert all(u.startswith(("/static/", "/" + path)) for u in urls), urls
        assert shared.locator("a[download], .downloads").count() == 0
        land(client, "cs_live_shared1", campaign="spring_sale")
        expect(figure(shared, "landings")).to_have_text("8")
        screenshot(shared, "share-board")
        shared.set_viewport_size(PHONE)
        shared.emulate_media(color_scheme="dark")
        no_broken_figures(shared)
        assert shared.evaluate("document.documentElement.scrollWidth <= innerWidth")
        screenshot(shared, "share-board-phone-dark")

        # Revoked from the dialog: the open board says so, a reload is a 404.
        dialog.get_by_role("button", name=re.compile("^Revoke")).click()
        expect(dialog.locator(".share-list li")).to_have_count(0)
        expect(shared.locator("#live-status")).to_have_text("no longer available")
        response = shared.goto(shared_url)
        assert response is not None and response.status == 404
        assert "spring_sale" not in shared.content()
        assert [e for e in outside.errors if "HTTP 404" not in e] == []
    finally:
        stranger.close()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert tab.errors == []


@pytest.mark.parametrize(
    ("viewport", "scheme"),
    [
        (PHONE, "light"),
        (PHONE, "dark"),
        (DESKTOP_WIDE, "light"),
        (DESKTOP_WIDE, "dark"),
    ],
    ids=["phone-light", "phone-dark", "desktop1440-light", "desktop1440-dark"],
)
def test_no_figure_breaks_and_only_the_table_scrolls(
    visit: Callable[..., Visit],
    app: Flask,
    client: FlaskClient,
    viewport: ViewportSize,
    scheme: Literal["light", "dark"],
    request: pytest.FixtureRequest,
) -> None:
    five_currencies(app, client)
    tab = visit(viewport=viewport, color_scheme=scheme)
    page = tab.page
    for path, name in [
        ("/dashboard", "dashboard"),
        ("/dashboard?range=today", "today"),
        ("/dashboard/campaigns/spring_sale?range=7d", "campaign"),
    ]:
        page.goto(path)
        wait_until_live(page)
        no_broken_figures(page)
        assert page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"
        ), f"{name} scrolls sideways at {viewport['width']} px"
        if name == "dashboard":
            wrap = page.locator("#board .table-wrap").first
            wide = wrap.evaluate("e => e.scrollWidth > e.clientWidth")
            # Five currencies fit 1440 px; on a phone the table alone scrolls.
            assert wide == (viewport["width"] < 600)
        # No chart's label covers a bar.
        overlaps: list[str] = page.locator(".chart svg").evaluate_all(
            """svgs => svgs.flatMap(svg => {
                const peak = svg.querySelector('.tick.peak').getBBox();
                return [...svg.querySelectorAll('.bar')].filter(b => {
                  const r = b.getBBox();
                  return r.height > 0 && r.y < peak.y + peak.height
                    && r.x < peak.x + peak.width && peak.x < r.x + r.width;
                }).map(b => b.textContent);
            })"""
        )
        assert overlaps == []
        screenshot(page, f"fit-{request.node.callspec.id}-{name}")
    assert tab.errors == []


def test_todays_hourly_chart_and_the_last_minutes_gain_a_bar_within_2_s(
    visit: Callable[..., Visit], client: FlaskClient
) -> None:
    tab = visit()
    page = tab.page
    land(client, "cs_live_hour0", campaign="launch")
    page.goto("/dashboard?range=today")
    wait_until_live(page)
    hourly = page.locator("figure.chart", has_text="Conversions per hour")
    strip = page.locator("figure.chart", has_text="Landings per minute")
    expect(hourly).to_contain_text("Nothing in this range yet")
    before = strip.locator("rect.bar").evaluate_all(
        "bars => bars.filter(b => Number(b.getAttribute('height')) > 0).length"
    )
    assert before >= 1  # the landing before the page opened
    paid_at = time.time()
    pay(client, "cs_live_hour0", amount_total=4000, created=int(paid_at))
    # The payment's hour now has a bar (conversions per hour), live.
    expect(hourly.locator("rect.bar")).to_have_count(24, timeout=2000)
    tall = hourly.locator("rect.bar:not([height='0.0']):not([height='0'])")
    expect(tall).to_have_count(1, timeout=2000)
    hour = time.strftime("%H:00", time.gmtime(paid_at))  # the event's `created`
    expect(tall.locator("title")).to_contain_text(f"{hour}: 1")
    assert tab.errors == []
