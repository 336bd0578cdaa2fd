"""`landing demo`: realistic traffic into a running server, through its routes.

Customers come back through Stripe's redirect (GET /thanks with the link's
UTM codes) and Stripe sends signed webhooks (POST /webhooks/stripe), in the
messy order real life has: most payments settle at once, some are bank debits
that settle or fail seconds later, some webhooks beat their customer back,
some customers never come back, Stripe redelivers some events and customers
reload the page; some payments are refunded or lost to a dispute later, and
subscriptions renew (every few seconds, for the demo). Nothing here touches
the store: what the scoreboard shows is what the server made of the traffic.
Standard library HTTP only; events from landing.stripe_events, signed by the
stripe library as Stripe signs them.
"""

from __future__ import annotations

import heapq
import random
import string
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from landing import stripe_events as se
from landing.events import ASYNC_FAILED, ASYNC_SUCCEEDED, COMPLETED

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT = 10.0


class DemoError(RuntimeError):
    """The demo cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Campaign:
    """A tagged link marketers shared, and the codes its visitors carry."""

    name: str | None  # None: a link shared without any UTM code
    weight: int
    sources: tuple[str, ...] = ()
    mediums: tuple[str, ...] = ()
    contents: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()


CAMPAIGNS = (
    Campaign(
        "spring_sale",
        30,
        ("newsletter", "instagram"),
        ("email", "social"),
        ("hero_banner", "footer_link"),
    ),
    Campaign(
        "black_friday",
        22,
        ("google", "bing"),
        ("cpc",),
        ("ad_a", "ad_b"),
        ("running_shoes", "trail_shoes", "shoe_sale"),
    ),
    Campaign(
        "influencer_mia",
        14,
        ("youtube", "tiktok"),
        ("video",),
        ("review", "unboxing"),
    ),
    Campaign(
        "retargeting_q3", 12, ("facebook",), ("paid_social",), ("carousel", "still")
    ),
    Campaign("podcast_ad", 8, ("spotify", "apple_podcasts"), ("audio",), ("midroll",)),
    Campaign(
        "launch_week",
        8,
        ("producthunt", "hackernews", "reddit"),
        ("referral",),
        (),
        ("launch",),
    ),
    Campaign(None, 6),
)

# (payment link, price in US cents): what the shop sells.
PRODUCTS = (
    ("plink_1TeeShirt", 2900),
    ("plink_1Hoodie", 5900),
    ("plink_1Mug", 1500),
    ("plink_1Course", 14900),
)
# currency: (weight, minor units per US cent, rounding step in minor units)
CURRENCIES = {
    "usd": (45, 1.0, 100),
    "eur": (25, 0.92, 100),
    "gbp": (10, 0.79, 100),
    "jpy": (15, 1.5, 10),
    "kwd": (5, 3.1, 50),
}
# What happens after a customer pays, and how often.
STORIES = {
    "paid": 52,  # landing, then the webhook within a second or two
    "webhook_first": 14,  # the webhook beats the customer back
    "async_paid": 11,  # bank debit: pending, paid seconds later
    "async_failed": 5,  # bank debit that bounces
    "never_lands": 9,  # closed the tab before the redirect: (unattributed)
    "no_session": 4,  # a link redirecting without {CHECKOUT_SESSION_ID}
    "pending": 5,  # a voucher still unpaid when the demo ends
    "refunded": 6,  # paid, then refunded in part or in full
    "disputed": 2,  # paid, then a chargeback the merchant loses
    "subscription": 8,  # a monthly plan: paid, then renewals
}
RENEWALS = 3  # renewals a demo subscription gets, a few seconds apart
REDELIVERY = 0.10  # Stripe sends an event again
RELOAD = 0.08  # the customer reloads the thank-you page
AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
)


@dataclass
class Summary:
    """What the demo sent, and what the scoreboard should now say about it."""

    url: str
    mode: str
    seconds: float = 0.0
    requests: int = 0
    landings: int = 0  # distinct landings (sessions, or session-less visits)
    reloads: int = 0
    webhooks: int = 0
    redeliveries: int = 0
    early: int = 0  # webhooks that arrived before their landing
    never_landed: int = 0
    errors: int = 0
    conversions: int = 0
    pending: int = 0
    failed: int = 0
    revenue: Counter[str] = field(default_factory=Counter)
    renewals: int = 0
    refunded: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        """The one-line report printed at the end."""
        currencies = ", ".join(sorted(c.upper() for c in self.revenue)) or "none"
        return (
            f"demo: {self.requests} requests to {self.url} in {self.seconds:.1f} s "
            f"({self.mode} mode): {self.landings} landings (+{self.reloads} reloads), "
            f"{self.webhooks} webhooks (+{self.redeliveries} redelivered), "
            f"{self.conversions} conversions, {self.pending} pending, "
            f"{self.failed} failed, {self.renewals} renewals, refunds in "
            f"{', '.join(sorted(c.upper() for c in self.refunded)) or 'none'}; "
            f"{self.early} paid before landing, "
            f"{self.never_landed} never landed; revenue in {currencies}; "
            f"{self.errors} errors"
        )


@dataclass(order=True)
class _Step:
    due: float
    seq: int
    send: Callable[[], None] = field(compare=False)


def webhook_secret(environ: dict[str, str], kept: Path | None) -> str:
    """STRIPE_WEBHOOK_SECRET's first secret, else the one `landing run` kept."""
    raw = environ.get("STRIPE_WEBHOOK_SECRET", "").split(",")[0].strip()
    if raw:
        return raw
    if kept is not None and kept.is_file():
        text = kept.read_text().strip()
        if text:
            return text
    raise DemoError(
        "STRIPE_WEBHOOK_SECRET is not set: the demo signs its webhooks with the "
        "secret the server checks them with. Start the server with one, e.g.\n"
        "  export STRIPE_WEBHOOK_SECRET=whsec_local_demo   # in both terminals\n"
        "  make run                                        # terminal 1\n"
        "  make demo                                       # terminal 2"
        + (f"\n(or put it in {kept})" if kept is not None else "")
    )


class Demo:
    """Customers and Stripe, at a steady number of requests per second."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        secret: str,
        mode: str = "live",
        rate: float = 3.0,
        seed: int | None = None,
        echo: Callable[[str], None] = lambda _: None,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise DemoError(f"--url must be an http(s) URL, got {url!r}")
        if rate <= 0:
            raise DemoError("--rate must be above 0")
        self.url = url.rstrip("/")
        self.secret = secret
        self.mode = mode
        self.rate = rate
        self.echo = echo
        self.random = random.Random(seed)
        self.summary = Summary(self.url, mode)
        self._queue: list[_Step] = []
        self._seq = 0

    # -- the run ---------------------------------------------------------------

    def run(self, seconds: float) -> Summary:
        """Send traffic for `seconds`, then the follow-ups already under way."""
        self._check_server()
        start = time.monotonic()
        interval = 1.0 / self.rate
        tick = 0
        while True:
            slot = start + tick * interval
            if slot - start >= seconds:
                break
            wait = slot - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            tick += 1
            now = time.monotonic()
            if self._queue and self._queue[0].due <= now:
                heapq.heappop(self._queue).send()
            else:
                self._new_customer()
        # Settle what began: late webhooks and landings, in their order.
        while self._queue:
            heapq.heappop(self._queue).send()
        self.summary.seconds = time.monotonic() - start
        return self.summary

    def _check_server(self) -> None:
        try:
            with urllib.request.urlopen(  # noqa: S310 - http(s) checked above
                f"{self.url}/healthz", timeout=TIMEOUT
            ) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise DemoError(
                f"{self.url}/healthz answered {exc.code}: is the store up?"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DemoError(
                f"no landing server answers at {self.url} ({exc}): start one with "
                "`make run`, or pass --url"
            ) from None

    def _later(self, delay: float, send: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, _Step(time.monotonic() + delay, self._seq, send))

    # -- one customer's story ---------------------------------------------------

    def _new_customer(self) -> None:
        rnd = self.random
        story = rnd.choices(list(STORIES), weights=list(STORIES.values()))[0]
        campaign = rnd.choices(CAMPAIGNS, weights=[c.weight for c in CAMPAIGNS])[0]
        utm = self._codes(campaign)
        session_id = self._session_id()
        link, cents = rnd.choice(PRODUCTS)
        currency = rnd.choices(
            list(CURRENCIES), weights=[w for w, _, _ in CURRENCIES.values()]
        )[0]
        _, per_cent, step = CURRENCIES[currency]
        amount = max(step, round(cents * per_cent / step) * step)
        visitor = {
            "agent": rnd.choice(AGENTS),
            # Documentation addresses: real only behind TRUSTED_PROXY_HOPS.
            "address": f"203.0.113.{rnd.randrange(1, 255)}",
        }
        query = {"session_id": session_id, **utm}
        if story == "no_session":
            # Ad clicks carry a click id, which tells such visitors apart.
            query = {**utm, "gclid": self._token(24)}
            self._land(query, visitor)
            return
        session = {
            "id": session_id,
            "amount": amount,
            "currency": currency,
            "link": link,
            "payment_intent": "pi_3" + self._token(21),
            "subscription": None,
        }
        if story == "subscription":
            session["subscription"] = "sub_1" + self._token(23)
            session["payment_intent"] = None
        landed_after: float | None = 0.0  # None: the customer never comes back
        if story in ("refunded", "disputed", "subscription"):
            completed = self._event(COMPLETED, session, "paid")
            self._land(query, visitor)
            self._later(rnd.uniform(0.2, 1.5), lambda: self._webhook(completed))
            self._aftermath(story, session)
        elif story in ("paid", "webhook_first", "never_lands"):
            completed = self._event(COMPLETED, session, "paid")
            if story == "paid":
                self._land(query, visitor)
                self._later(rnd.uniform(0.2, 1.5), lambda: self._webhook(completed))
            else:
                self._webhook(completed)
                if story == "webhook_first":
                    self.summary.early += 1
                    landed_after = rnd.uniform(1.5, 6)
                    self._later(landed_after, lambda: self._land(query, visitor))
                else:
                    self.summary.never_landed += 1
                    landed_after = None
            self._maybe_redeliver(completed)
        else:
            unpaid = self._event(COMPLETED, session, "unpaid")
            self._land(query, visitor)
            self._later(rnd.uniform(0.2, 1.0), lambda: self._webhook(unpaid))
            if story != "pending":
                kind = ASYNC_SUCCEEDED if story == "async_paid" else ASYNC_FAILED
                status = "paid" if kind == ASYNC_SUCCEEDED else "unpaid"
                settled = self._event(kind, session, status)
                self._later(rnd.uniform(3, 8), lambda: self._webhook(settled))
                self._maybe_redeliver(settled, after=8)
        if landed_after is not None and rnd.random() < RELOAD:
            reload_after = landed_after + rnd.uniform(2, 20)
            self._later(reload_after, lambda: self._land(query, visitor, reload=True))

    def _aftermath(self, story: str, session: dict[str, Any]) -> None:
        """What happens to a paid session later: a refund, a lost dispute,
        or a subscription's renewals."""
        rnd = self.random
        amount, currency = session["amount"], session["currency"]
        livemode = self.mode == "live"
        charge = "ch_3" + self._token(21)
        if story == "refunded":
            refunded = rnd.choice([amount, amount // 2])
            event = se.charge_refunded(
                charge,
                payment_intent=session["payment_intent"],
                amount=amount,
                amount_refunded=refunded,
                currency=currency,
                livemode=livemode,
            )
            self._later(rnd.uniform(4, 12), lambda: self._webhook(event))
            self._maybe_redeliver(event, after=12)
        elif story == "disputed":
            event = se.charge_dispute_closed(
                charge=charge,
                payment_intent=session["payment_intent"],
                amount=amount,
                currency=currency,
                livemode=livemode,
            )
            self._later(rnd.uniform(6, 15), lambda: self._webhook(event))
        else:
            for n in range(1, RENEWALS + 1):
                invoice = se.invoice_paid(
                    subscription=session["subscription"],
                    amount_paid=amount,
                    currency=currency,
                    livemode=livemode,
                )
                self._later(n * rnd.uniform(4, 6), partial(self._webhook, invoice))

    def _codes(self, campaign: Campaign) -> dict[str, str]:
        rnd = self.random
        if campaign.name is None:
            return {}
        codes = {"utm_campaign": campaign.name}
        for name, values in (
            ("utm_source", campaign.sources),
            ("utm_medium", campaign.mediums),
            ("utm_content", campaign.contents),
            ("utm_term", campaign.terms),
        ):
            if values:
                codes[name] = rnd.choice(values)
        return codes

    def _token(self, length: int) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(self.random.choices(alphabet, k=length))

    def _session_id(self) -> str:
        return f"cs_{self.mode}_a1{self._token(56)}"

    def _event(self, kind: str, session: dict[str, Any], status: str) -> dict[str, Any]:
        """A Checkout Session event as Stripe sends it."""
        return se.checkout_session_event(
            kind,
            session["id"],
            payment_link=session["link"],
            amount_total=session["amount"],
            currency=session["currency"],
            payment_status=status,
            livemode=self.mode == "live",
            mode="subscription" if session["subscription"] else "payment",
            payment_intent=session["payment_intent"],
            subscription=session["subscription"],
        )

    def _maybe_redeliver(self, event: dict[str, Any], after: float = 0) -> None:
        if self.random.random() < REDELIVERY:
            delay = after + self.random.uniform(1, 10)
            self._later(delay, lambda: self._webhook(event, redelivery=True))

    # -- HTTP ---------------------------------------------------------------------

    def _land(
        self, query: dict[str, str], visitor: dict[str, str], reload: bool = False
    ) -> None:
        headers = {
            "User-Agent": visitor["agent"],
            "X-Forwarded-For": visitor["address"],
            "Accept": "text/html",
        }
        status = self._send("GET", f"/thanks?{urlencode(query)}", None, headers)
        if status == 200:
            if reload:
                self.summary.reloads += 1
            else:
                self.summary.landings += 1

    def _webhook(self, event: dict[str, Any], redelivery: bool = False) -> None:
        body, signature = se.signed(event, self.secret)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        status = self._send("POST", "/webhooks/stripe", body, headers)
        if status == 400:
            raise DemoError(
                "the server refused the demo's signature: it checks webhooks with "
                "a different STRIPE_WEBHOOK_SECRET; export the same one for both"
            )
        if status == 503:
            raise DemoError(
                "the server has no STRIPE_WEBHOOK_SECRET (webhooks answer 503): "
                "restart it with the secret the demo uses"
            )
        if status != 200:
            return
        if redelivery:
            self.summary.redeliveries += 1
            return
        self.summary.webhooks += 1
        obj = event["data"]["object"]
        if event["type"] == "charge.refunded":
            self.summary.refunded[obj["currency"]] += obj["amount_refunded"]
            return
        if event["type"] == "charge.dispute.closed":
            self.summary.refunded[obj["currency"]] += obj["amount"]
            return
        if event["type"] == "invoice.paid":
            self.summary.renewals += 1
            self.summary.revenue[obj["currency"]] += obj["amount_paid"]
            return
        session = obj
        if event["type"] == ASYNC_FAILED:
            self.summary.pending -= 1
            self.summary.failed += 1
        elif session["payment_status"] == "unpaid":
            self.summary.pending += 1
        else:
            if event["type"] == ASYNC_SUCCEEDED:
                self.summary.pending -= 1
            self.summary.conversions += 1
            self.summary.revenue[session["currency"]] += session["amount_total"]

    def _send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> int:
        request = urllib.request.Request(  # noqa: S310 - http(s) checked above
            self.url + path, data=body, headers=headers, method=method
        )
        self.summary.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.read()
            if exc.code not in (400, 503):
                self.summary.errors += 1
                self.echo(f"{method} {path.split('?')[0]} answered {exc.code}")
            return int(exc.code)
        except (urllib.error.URLError, OSError) as exc:
            self.summary.errors += 1
            self.echo(f"{method} {path.split('?')[0]} failed: {exc}")
            return 0
