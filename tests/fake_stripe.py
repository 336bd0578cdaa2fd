"""A local stand-in for Stripe's payment link list API; tests never call Stripe.

It serves ``GET /v1/payment_links`` as Stripe does: list pages of at most
``limit`` objects with ``has_more``, continued with ``starting_after``. The
objects have the shape of the payment link in Stripe's
``openapi/fixtures3.json`` (github.com/stripe/openapi), trimmed to the fields
a reader plausibly uses.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "rk_test_landingLinkCheck0000000000"


def payment_link(
    link_id: str,
    *,
    redirect_url: str | None,
    livemode: bool = False,
    active: bool = True,
) -> dict[str, Any]:
    """A payment link; with redirect_url None it shows Stripe's own page."""
    if redirect_url is None:
        after = {
            "hosted_confirmation": {"custom_message": None},
            "type": "hosted_confirmation",
        }
    else:
        after = {"redirect": {"url": redirect_url}, "type": "redirect"}
    prefix = "" if livemode else "test_"
    return {
        "id": link_id,
        "object": "payment_link",
        "active": active,
        "after_completion": after,
        "allow_promotion_codes": False,
        "application": None,
        "billing_address_collection": "auto",
        "currency": "usd",
        "customer_creation": "if_required",
        "livemode": livemode,
        "metadata": {},
        "on_behalf_of": None,
        "payment_method_collection": "if_required",
        "submit_type": "auto",
        "url": f"https://buy.stripe.com/{prefix}{link_id[-14:]}",
    }


class FakeStripe:
    """Serves the given payment links page by page on 127.0.0.1.

    Pages hold at most `page_size` links whatever the client's limit (Stripe
    may send fewer than asked), so a few links make several pages.
    """

    def __init__(
        self, links: Sequence[dict[str, Any]], status: int = 200, page_size: int = 2
    ) -> None:
        self.links = list(links)
        self.status = status
        self.page_size = page_size
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fake-stripe", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def start(self) -> FakeStripe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append(
            {
                "path": parts.path,
                "query": query,
                "authorization": handler.headers.get("Authorization", ""),
            }
        )
        if self.status != 200:
            body: dict[str, Any] = {
                "error": {
                    "message": "Invalid API Key provided",
                    "type": "invalid_request_error",
                }
            }
            self._send(handler, self.status, body)
            return
        if parts.path != "/v1/payment_links":
            self._send(handler, 404, {"error": {"message": "Unrecognized request URL"}})
            return
        links = [
            link
            for link in self.links
            if "active" not in query or str(link["active"]).lower() == query["active"]
        ]
        start = 0
        if "starting_after" in query:
            ids = [link["id"] for link in links]
            start = ids.index(query["starting_after"]) + 1
        limit = min(int(query.get("limit", "10")), self.page_size)
        page = links[start : start + limit]
        body = {
            "object": "list",
            "data": page,
            "has_more": start + limit < len(links),
            "url": "/v1/payment_links",
        }
        self._send(handler, 200, body)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]
    ) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", "req_fake")
        handler.end_headers()
        handler.wfile.write(data)
