"""The link builder's rules (SPEC §9): payment link URLs, codes, tokens; pure.

What a marketer pastes is checked here before anything is stored, and the
redirect a Stripe payment link should have is described here too, so the
rules can be tested without Flask, Redis or Stripe.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from landing.utm import NONE, UTM_VALUE

# Stripe's own host for payment links, live and test alike.
STRIPE_HOST = "buy.stripe.com"
# The five codes in the order a tagged link carries them.
CODES = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
REQUIRED = ("utm_campaign",)
# Stripe's rule for client_reference_id; ours are much shorter (TOKEN).
CLIENT_REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,200}")
# "lk_" and 11 characters of the URL-safe alphabet: 64 random bits, short
# enough that the QR code stays small, and within CLIENT_REFERENCE.
TOKEN_PREFIX = "lk_"  # noqa: S105 (a shape, not a secret)
TOKEN = re.compile(TOKEN_PREFIX + r"[A-Za-z0-9_-]{11}")
LINK_ID = re.compile(r"[A-Za-z0-9_-]{8}")
MAX_URL = 2048
CHECKOUT_SESSION_ID = "{CHECKOUT_SESSION_ID}"
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class LinkError(ValueError):
    """What the marketer must change; `field` names the input, `suggestion`
    is a value that would pass, when one can be made."""

    def __init__(self, field: str, message: str, suggestion: str | None = None):
        super().__init__(message)
        self.field = field
        self.suggestion = suggestion

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": str(self), "field": self.field}
        if self.suggestion is not None:
            body["suggestion"] = self.suggestion
        return body


@dataclass(frozen=True)
class LinkRequest:
    """A checked request to tag a payment link."""

    payment_link_url: str
    codes: Mapping[str, str]  # utm_* name → value, only those given
    client_reference: bool = True

    @property
    def campaign(self) -> str:
        return self.codes["utm_campaign"]

    @property
    def mode(self) -> str:
        return link_mode(self.payment_link_url)

    def tagged_url(self, token: str | None) -> str:
        return tagged_url(self.payment_link_url, self.codes, token)

    def dims(self) -> dict[str, str]:
        """source, medium, campaign, term, content as the scoreboard names
        them: ``(none)`` for a code the link has not."""
        return {name[4:]: self.codes.get(name, NONE) for name in CODES}


def parse_request(body: object, custom_domains: Collection[str]) -> LinkRequest:
    """The JSON body of POST /api/links, checked; LinkError names what is wrong."""
    if not isinstance(body, Mapping):
        raise LinkError("body", "send a JSON object")
    raw_url = body.get("payment_link_url")
    if not isinstance(raw_url, str):
        raise LinkError("payment_link_url", "payment_link_url is required")
    url = check_payment_link_url(raw_url, custom_domains)
    codes: dict[str, str] = {}
    for name in CODES:
        value = body.get(name)
        if value is None or value == "":
            if name in REQUIRED:
                raise LinkError(name, f"{name} is required")
            continue
        if not isinstance(value, str):
            raise LinkError(name, f"{name} must be a string")
        codes[name] = check_code(name, value)
    reference = body.get("client_reference", True)
    if not isinstance(reference, bool):
        raise LinkError("client_reference", "client_reference must be true or false")
    return LinkRequest(url, codes, reference)


def check_code(name: str, value: str) -> str:
    """A UTM code Stripe would forward, or LinkError with a suggested fix."""
    if UTM_VALUE.fullmatch(value):
        return value
    suggestion = suggest_code(value)
    hint = f"; try {suggestion}" if suggestion else ""
    raise LinkError(
        name,
        f"{name} may only hold letters, digits, _ and -, at most 150 "
        f"(Stripe drops any other value){hint}",
        suggestion,
    )


def suggest_code(value: str) -> str | None:
    """A near value Stripe keeps: spaces become _, other characters go,
    cut at 150; None when nothing is left."""
    underscored = re.sub(r"\s+", "_", value.strip())
    kept = re.sub(r"[^A-Za-z0-9_-]", "", underscored)[:150]
    return kept or None


def check_payment_link_url(raw: str, custom_domains: Collection[str] = ()) -> str:
    """An https payment link on Stripe's host or a registered custom domain,
    without codes of its own; the URL as given, trimmed."""
    field = "payment_link_url"
    url = raw.strip()
    if not url:
        raise LinkError(field, "paste a payment link, e.g. https://buy.stripe.com/…")
    if len(url) > MAX_URL:
        raise LinkError(field, f"the link is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise LinkError(field, "the link contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise LinkError(field, "this is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme == "http":
        raise LinkError(field, "the link must start with https://, not http://")
    if scheme != "https":
        raise LinkError(field, "only https:// payment links can be tagged")
    if parts.username is not None or parts.password is not None:
        raise LinkError(field, "the link must not carry a user name or password (@)")
    host = (parts.hostname or "").lower()
    if port is not None:
        raise LinkError(field, "the link must not name a port")
    if host != STRIPE_HOST and host not in custom_domains:
        raise LinkError(
            field,
            f"{host or 'this'} is not a Stripe payment link host: use "
            f"https://{STRIPE_HOST}/… or register your custom domain first",
        )
    if parts.path.strip("/") == "":
        raise LinkError(field, "the link has no payment link path after the host")
    if parts.fragment:
        raise LinkError(field, "remove the # part from the link")
    taken = sorted(
        {
            name
            for name, _ in parse_qsl(parts.query, keep_blank_values=True)
            if name.lower().startswith("utm_") or name == "client_reference_id"
        }
    )
    if taken:
        raise LinkError(
            field,
            "the link already has " + ", ".join(taken) + ": paste it without them",
        )
    return url


def check_domain(raw: str) -> str:
    """A custom checkout domain (``pay.example.com``) as a lowercase host;
    an https URL is accepted and its host kept."""
    field = "domain"
    text = raw.strip().lower()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme != "https":
            raise LinkError(field, "a custom domain is served over https://")
        if parts.username is not None or parts.password is not None or parts.port:
            raise LinkError(field, "give only the domain, e.g. pay.example.com")
        text = parts.hostname or ""
    text = text.rstrip("/").removesuffix(".")
    labels = text.split(".")
    if (
        len(text) > 253
        or len(labels) < 2
        or not all(_HOST_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise LinkError(field, "give a domain name such as pay.example.com")
    if text == STRIPE_HOST:
        raise LinkError(field, f"{STRIPE_HOST} is always allowed")
    if text == "stripe.com" or text.endswith(".stripe.com"):
        raise LinkError(field, "a custom domain is one of yours, not Stripe's")
    return text


def link_mode(url: str) -> str:
    """test for a test-mode payment link (its path ends in test_…), else live."""
    last = urlsplit(url).path.rstrip("/").rpartition("/")[2]
    return "test" if last.startswith("test_") else "live"


def tagged_url(url: str, codes: Mapping[str, str], token: str | None) -> str:
    """The payment link with the codes (in CODES order) and the token added."""
    parts = urlsplit(url)
    params = [(name, codes[name]) for name in CODES if codes.get(name)]
    if token is not None:
        params.append(("client_reference_id", token))
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def new_token() -> str:
    """A fresh client_reference_id token: random, short, Stripe-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(8)


def new_link_id() -> str:
    return secrets.token_urlsafe(6)


def is_token(value: str) -> bool:
    """Whether a client_reference_id has our token's shape (it may still be
    the merchant's own: only the store knows the tokens it issued)."""
    return TOKEN.fullmatch(value) is not None


# -- the redirect a payment link should have (SPEC §1) ------------------------


def expected_redirect(base_url: str) -> str:
    """Where a payment link should send customers after paying."""
    return f"{base_url.rstrip('/')}/thanks?session_id={CHECKOUT_SESSION_ID}"


def redirect_problem(after_completion: Mapping[str, Any] | None, base_url: str) -> str:
    """What is wrong with a payment link's after_completion, or "" when it
    redirects to this server's /thanks with the session id."""
    after = after_completion or {}
    if after.get("type") != "redirect":
        return "shows Stripe's confirmation page instead of redirecting here"
    redirect = after.get("redirect") or {}
    target = redirect.get("url") if isinstance(redirect, Mapping) else None
    if not isinstance(target, str) or not target:
        return "redirects, but to no URL"
    ours = urlsplit(base_url)
    try:
        theirs = urlsplit(target)
    except ValueError:
        return f"redirects to an invalid URL: {target}"
    if (theirs.hostname or "").lower() != (ours.hostname or "").lower() or (
        theirs.port != ours.port
    ):
        return f"redirects to another site: {target}"
    if theirs.path != "/thanks":
        return f"redirects to this site, but not to /thanks: {target}"
    if ours.scheme == "https" and theirs.scheme != "https":
        return f"redirects over http, not https: {target}"
    params = parse_qsl(theirs.query, keep_blank_values=True)
    if ("session_id", CHECKOUT_SESSION_ID) not in params:
        return (
            f"redirects without session_id={CHECKOUT_SESSION_ID}, so payments "
            f"cannot be joined to their landing: {target}"
        )
    return ""


def dashboard_url(payment_link_id: str, livemode: bool) -> str:
    """The payment link's page in the Stripe Dashboard."""
    test = "" if livemode else "test/"
    return f"https://dashboard.stripe.com/{test}payment-links/{payment_link_id}"
