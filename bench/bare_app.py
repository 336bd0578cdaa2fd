"""The thank-you page WITHOUT recording: the baseline of thanks_throughput.py.

Run with the same command as the product:
``gunicorn --config gunicorn.conf.py bench.bare_app:app``. By default
(BENCH_BASELINE=app) it is the product itself, built by landing.create_app
with the same blueprints, journal thread and store client, whose /thanks
view only renders the page: the comparison isolates the recording.
BENCH_BASELINE=rendered is a two-route Flask app rendering the same page,
and BENCH_BASELINE=bytes replays the exact status, headers and body
of a real /thanks response saved in BENCH_THANKS_REPLY (a JSON file): no
template rendering either, the strictest baseline.
"""

from __future__ import annotations

import json
import os

from flask import Flask, Response

import landing
from bench.harness import HOP_HEADERS
from landing.config import Settings
from landing.runtime import ROOT
from landing.thanks import page


def create_app() -> Flask:
    settings = Settings.from_env()
    baseline = os.environ.get("BENCH_BASELINE", "app")
    if baseline == "app":
        product = landing.create_app()
        # The same app, its /thanks without the recording.
        product.view_functions["thanks.thanks"] = lambda: page(settings)
        return product

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=1024 * 1024)

    if baseline == "bytes":
        with open(os.environ["BENCH_THANKS_REPLY"]) as file:
            saved = json.load(file)
        body = saved["body"].encode()
        headers = [(k, v) for k, v in saved["headers"] if k.lower() not in HOP_HEADERS]
        status = int(saved["status"])

        @app.get("/thanks")
        def replay() -> Response:
            return Response(body, status, headers)

        return app

    @app.get("/thanks")
    def thanks() -> Response:
        # landing.thanks.thanks() without its try block (the recording).
        return page(settings)

    # The same after_request hook as the product: the same headers.
    app.after_request(landing._security_headers)
    return app


app = create_app()
