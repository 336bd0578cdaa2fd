"""The link builder (SPEC §9): tagged payment links, their tokens and QR codes,
and a check of the account's payment links' redirect through Stripe's API."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import segno
import stripe
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)

from landing.access import marketers_only
from landing.linkrules import (
    LINK_ID,
    LinkError,
    LinkRequest,
    check_domain,
    dashboard_url,
    expected_redirect,
    new_link_id,
    new_token,
    parse_request,
    redirect_problem,
)
from landing.money import format_money
from landing.reporting import Counters
from landing.runtime import runtime
from landing.store import Metrics

log = logging.getLogger(__name__)

bp = Blueprint("links", __name__)

# Newest links the page and GET /api/links show.
LINKS_SHOWN = 200
# Payment links the redirect check reads at most (pages of 100).
PAYMENT_LINKS_CHECKED = 1000
# Stripe answers a list page in well under a second; a marketer waits no longer.
STRIPE_TIMEOUT = 10.0
# Where tests point the Stripe client (app.config); None: Stripe itself.
STRIPE_API_BASE = "STRIPE_API_BASE"
# A QR module is 8 px in the PNG; 4 modules of quiet zone, as the standard asks.
QR_SCALE = 8
QR_BORDER = 4


@dataclass(frozen=True)
class PaymentLinkCheck:
    """One of the account's payment links, and what is wrong with its redirect."""

    id: str
    url: str
    livemode: bool
    problem: str  # "" when it redirects here as it should

    @property
    def dashboard_url(self) -> str:
        return dashboard_url(self.id, self.livemode)


# -- pages ---------------------------------------------------------------------


@bp.get("/links")
@marketers_only
def links_page() -> str:
    store = runtime().store
    shown = _links_json(store.links(LINKS_SHOWN))
    if request.args.get("fragment") == "links":
        return render_template("_links_table.html", links=shown, money=format_money)
    return render_template(
        "links.html",
        links=shown,
        money=format_money,
        sources=store.recent_codes("source"),
        mediums=store.recent_codes("medium"),
        domains=store.link_domains(),
        check_ready=bool(runtime().settings.stripe_api_key),
        redirect_url=expected_redirect(request.host_url),
    )


@bp.get("/links/check")
@marketers_only
def check_fragment() -> str:
    """The redirect check, as a part of the links page (links.js loads it)."""
    settings = runtime().settings
    redirect_url = expected_redirect(request.host_url)
    checks: list[PaymentLinkCheck] = []
    error = ""
    if settings.stripe_api_key:
        try:
            checks = list(
                check_payment_links(
                    settings.stripe_api_key,
                    request.host_url,
                    current_app.config.get(STRIPE_API_BASE),
                )
            )
        except stripe.StripeError as exc:
            error = _stripe_trouble(exc)
    return render_template(
        "_link_check.html",
        check_ready=bool(settings.stripe_api_key),
        checks=checks,
        error=error,
        redirect_url=redirect_url,
        limit=PAYMENT_LINKS_CHECKED,
    )


# -- the JSON API --------------------------------------------------------------


@bp.post("/api/links")
@marketers_only
def create_link() -> tuple[Response, int]:
    store = runtime().store
    # JSON only: a cross-site form cannot send it, so a marketer's browser
    # signed in with Basic auth cannot be made to create links elsewhere.
    if not request.is_json:
        return jsonify(error="send JSON (Content-Type: application/json)"), 415
    try:
        wanted = parse_request(request.get_json(silent=True), store.link_domains())
    except LinkError as exc:
        return jsonify(exc.as_json()), 400
    # Offered again in the form's lists: the source and medium just used.
    recent = {
        name[4:]: wanted.codes[name]
        for name in ("utm_source", "utm_medium")
        if name in wanted.codes
    }
    for _ in range(5):  # a taken id or token (48, 64 random bits) is all but never
        link_id = new_link_id()
        token = new_token() if wanted.client_reference else None
        url = wanted.tagged_url(token)
        token_fields = wanted.dims() | {"link": link_id}
        record = _record(wanted, url, token)
        if store.add_link(link_id, record, token, token_fields, recent):
            break
    else:
        return jsonify(error="could not find a free link id; try again"), 503
    store.confirm_campaign(wanted.mode, wanted.campaign)
    log.info("link %s created for campaign %s", link_id, wanted.campaign)
    body = {
        "id": link_id,
        "url": url,
        "qr_svg_url": url_for("links.qr_svg", link_id=link_id),
        "qr_png_url": url_for("links.qr_png", link_id=link_id),
        "campaign": wanted.campaign,
        "token": token,
    }
    return jsonify(body), 201


@bp.get("/api/links")
@marketers_only
def list_links() -> Response:
    return jsonify(links=_links_json(runtime().store.links(LINKS_SHOWN)))


@bp.get("/api/links/domains")
@marketers_only
def list_domains() -> Response:
    return jsonify(domains=runtime().store.link_domains())


@bp.post("/api/links/domains")
@marketers_only
def add_domain() -> tuple[Response, int]:
    if not request.is_json:
        return jsonify(error="send JSON (Content-Type: application/json)"), 415
    body = request.get_json(silent=True)
    raw = body.get("domain") if isinstance(body, Mapping) else None
    try:
        domain = check_domain(raw if isinstance(raw, str) else "")
    except LinkError as exc:
        return jsonify(exc.as_json()), 400
    store = runtime().store
    store.add_link_domain(domain)
    log.info("custom payment link domain %s registered", domain)
    return jsonify(domain=domain, domains=store.link_domains()), 201


@bp.delete("/api/links/domains/<domain>")
@marketers_only
def remove_domain(domain: str) -> tuple[str, int]:
    if not runtime().store.remove_link_domain(domain.lower()):
        abort(404)
    return "", 204


# -- QR codes ------------------------------------------------------------------


@bp.get("/links/<link_id>/qr.svg")
@marketers_only
def qr_svg(link_id: str) -> Response:
    record = _link_or_404(link_id)
    out = io.BytesIO()
    # Dark on white whatever the page's scheme: scanners need the contrast.
    _qr(record["url"]).save(
        out,
        kind="svg",
        scale=QR_SCALE,
        border=QR_BORDER,
        dark="#000",
        light="#fff",
        xmldecl=False,
        title=f"QR code for {record['url']}",
    )
    return _qr_response(out.getvalue(), "image/svg+xml", record, link_id, "svg")


@bp.get("/links/<link_id>/qr.png")
@marketers_only
def qr_png(link_id: str) -> Response:
    record = _link_or_404(link_id)
    out = io.BytesIO()
    _qr(record["url"]).save(
        out, kind="png", scale=QR_SCALE, border=QR_BORDER, dark="#000", light="#fff"
    )
    return _qr_response(out.getvalue(), "image/png", record, link_id, "png")


def _qr(url: str) -> segno.QRCode:
    """Always a full QR code (segno would pick a Micro QR for short data,
    which phone cameras do not read)."""
    return segno.make_qr(url)


def _qr_response(
    body: bytes, mimetype: str, record: Mapping[str, str], link_id: str, ext: str
) -> Response:
    response = Response(body, mimetype=mimetype)
    # A link's URL never changes, so neither does its code.
    response.headers["Cache-Control"] = "private, max-age=86400"
    if request.args.get("download"):
        name = f"qr-{record.get('campaign', 'link')}-{link_id}.{ext}"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _link_or_404(link_id: str) -> dict[str, str]:
    if not LINK_ID.fullmatch(link_id):
        abort(404)
    record = runtime().store.link(link_id)
    if not record.get("url"):
        abort(404)
    return record


# -- the redirect check through Stripe's API -------------------------------------


def check_payment_links(
    api_key: str, base_url: str, api_base: str | None = None
) -> Iterator[PaymentLinkCheck]:
    """The account's active payment links, each with its redirect's problem
    (or ""), page by page through Stripe's list API."""
    client = stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT),
    )
    pages = client.v1.payment_links.list({"active": True, "limit": 100})
    for link in islice(pages.auto_paging_iter(), PAYMENT_LINKS_CHECKED):
        data = link.to_dict()
        yield PaymentLinkCheck(
            id=str(data.get("id", "")),
            url=str(data.get("url", "")),
            livemode=bool(data.get("livemode")),
            problem=redirect_problem(data.get("after_completion"), base_url),
        )


def _stripe_trouble(exc: stripe.StripeError) -> str:
    """What a marketer can do about Stripe's refusal; never the key itself."""
    log.warning("payment link check failed: %s", type(exc).__name__)
    if isinstance(exc, stripe.AuthenticationError):
        return "Stripe refused STRIPE_API_KEY: check that the key is current."
    if isinstance(exc, stripe.PermissionError):
        return (
            "STRIPE_API_KEY may not read payment links: give the restricted key "
            "Read access to Payment Links."
        )
    if isinstance(exc, stripe.APIConnectionError):
        return "Stripe did not answer; reload the page to try again."
    return f"Stripe answered with an error ({type(exc).__name__}); try again later."


# -- helpers ---------------------------------------------------------------------


def _record(wanted: LinkRequest, url: str, token: str | None) -> dict[str, str]:
    """The link's hash: what GET /api/links and the QR routes read back."""
    return {
        "url": url,
        "payment_link_url": wanted.payment_link_url,
        "mode": wanted.mode,
        **{name[4:]: value for name, value in wanted.codes.items()},
        "token": token or "",
    }


def _links_json(records: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Links as GET /api/links shows them, each with its campaign's numbers
    (all time, in the link's mode)."""
    store = runtime().store
    boards: dict[str, dict[str, Metrics]] = {}
    out = []
    for record in records:
        mode = record.get("mode", "live")
        if mode not in boards:
            boards[mode] = store.scoreboard(mode, None)
        campaign = record.get("campaign", "")
        totals = Counters.from_metrics(boards[mode].get(campaign, {}))
        created = int(record.get("created", "0") or 0) / 1000
        out.append(
            {
                "id": record["id"],
                "url": record.get("url", ""),
                "payment_link_url": record.get("payment_link_url", ""),
                "mode": mode,
                "campaign": campaign,
                "source": record.get("source"),
                "medium": record.get("medium"),
                "term": record.get("term"),
                "content": record.get("content"),
                "token": record.get("token") or None,
                "created_at": datetime.fromtimestamp(created, UTC).isoformat(
                    timespec="seconds"
                ),
                "qr_svg_url": url_for("links.qr_svg", link_id=record["id"]),
                "qr_png_url": url_for("links.qr_png", link_id=record["id"]),
                "campaign_totals": {
                    "landings": totals.landings,
                    "conversions": totals.conversions,
                    "revenue": dict(totals.revenue),
                },
            }
        )
    return out
