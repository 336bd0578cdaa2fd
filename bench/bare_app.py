"""The baseline of thanks_throughput.py: a bare Flask app serving saved bytes.

Run with the same command as the product:
``gunicorn --config gunicorn.conf.py bench.bare_app:app``. Its one route,
/thanks, answers with the exact status, headers and body of a real /thanks
response saved in BENCH_THANKS_REPLY (a JSON file): what a static page
served by Flask costs, with nothing rendered and nothing recorded.
"""

from __future__ import annotations

import json
import os

from flask import Flask, Response

from bench.harness import HOP_HEADERS


def create_app() -> Flask:
    with open(os.environ["BENCH_THANKS_REPLY"]) as file:
        saved = json.load(file)
    body = saved["body"].encode()
    headers = [(k, v) for k, v in saved["headers"] if k.lower() not in HOP_HEADERS]
    status = int(saved["status"])

    app = Flask(__name__)  # nothing configured: the least a Flask app does

    @app.get("/thanks")
    def thanks() -> Response:
        return Response(body, status, headers)

    return app


app = create_app()
