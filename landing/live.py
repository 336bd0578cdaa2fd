"""Shared live builds, ETags and claims: what keeps polling dashboards cheap.

A page load and the API always read the store fresh; a dashboard's poll is
answered from a build of its view kept in the store for every server process.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from flask import Response, request

from landing.params import ascii_number, parse_flag, parse_mode
from landing.period import parse_range, previous_range, today_in
from landing.runtime import runtime
from landing.store import Build, StoreError

log = logging.getLogger(__name__)

# The query arguments the dashboard's pages understand; links keep only these.
PAGE_ARGS = ("from", "to", "range", "mode", "q", "sort", "dir", "page")
# ... and what else changes what a view answers (the API's comparison).
VIEW_ARGS = (*PAGE_ARGS, "compare", "interval")


class Query:
    """The mode and date range a request asks for.

    `mode` fixes the mode (a share's); `default_range` names the relative
    range (period.RELATIVE) shown when the request gives none.
    """

    def __init__(self, mode: str | None = None, default_range: str = "") -> None:
        settings = runtime().settings
        self.timezone = settings.report_timezone
        self.today = today_in(settings.zone)
        self.mode = mode or parse_mode(request.args.get("mode"))
        raw_from, raw_to = request.args.get("from"), request.args.get("to")
        relative = request.args.get("range") or (
            "" if raw_from or raw_to else default_range
        )
        self.relative = relative  # "today", "7d", "30d", or "" for fixed days
        self.span = parse_range(raw_from, raw_to, self.today, relative)
        self.days = self.span.days(self.today)
        # The range of the same length just before; None for all time.
        self.previous = previous_range(self.span, self.today)
        self.etag = ""  # set by _conditional before a build


# A poll may be answered from a build of older numbers for this long; it is
# also the least time between two builds of one view, across every server
# process and instance. dashboard.js's poll interval plus this plus the
# journal's batch window stays under the 2 s SPEC §4 promises.
LIVE_MAX_AGE_MS = 750
# A shared build is dropped this long after its last rebuild; a view polled
# that long without a change is then built again, once.
LIVE_KEEP_SECONDS = 300


def conditional(
    build: Callable[[Query], Response], mode: str | None = None, default_range: str = ""
) -> Response:
    """Answer 304 when nothing changed since the client's copy (cheap polling).

    The ETag changes with any number of the mode, the question or the date;
    the page and its live part (fragment=board) share one, so the first poll
    after a page load is already a 304. A relative range (today, 7d, 30d)
    moves at midnight with the date, and so does its ETag: a board left open
    on "today" shows the new day at its next poll.
    """
    query = Query(mode, default_range)
    # The view: what its pages show depends on, and nothing else, so that
    # made-up arguments do not make more builds to keep.
    args = sorted(f"{k}={v[:150]}" for k, v in request.args.items() if k in VIEW_ARGS)
    view = f"{request.host_url}{request.path[1:]}?{'&'.join(args)}|{query.today}"
    digest = hashlib.sha256(view.encode()).hexdigest()[:16]
    if parse_flag(request.args.get("fragment")):
        return poll(build, query, digest)
    # A page load and the API always show the store as it is (SPEC §5).
    version = runtime().store.version(query.mode)
    query.etag = etag = f"{version}-{digest}"
    if request.if_none_match.contains_weak(etag):
        return _not_modified(etag)
    return _with_etag(build(query), etag)


def poll(build: Callable[[Query], Response], query: Query, digest: str) -> Response:
    """A dashboard's live part, rebuilt at most once per LIVE_MAX_AGE_MS.

    Every server process answers polls of one view from the build kept in
    the store: a dozen dashboards cost one build per change, and under
    steady traffic (a change every moment) one per LIVE_MAX_AGE_MS, however
    many workers and instances serve them. Whoever claims the rebuild makes
    it; the others answer with the last build meanwhile. (When there is no
    build at all, as on a view's first poll, every poller then builds; and
    a build slower than the claim may be kept after a newer one, which the
    next rebuild corrects and the no-going-back rule hides meanwhile.)
    """
    store = runtime().store
    version, shared = store.live_view(query.mode, digest)
    if shared is None or (shared.version != version and _claim(query.mode, digest)):
        query.etag = etag = f"{version}-{digest}"
        response = build(query)
        if response.status_code != 200 or response.is_streamed:
            return _with_etag(response, etag)
        shared = Build(
            version, etag, response.content_type, response.get_data(as_text=True)
        )
        try:
            store.keep_view(query.mode, digest, shared, LIVE_KEEP_SECONDS)
        except StoreError as exc:  # e.g. the store is full: answer anyway
            log.warning("live view not shared: %s", type(exc).__name__)
    if request.if_none_match.contains_weak(shared.etag):
        return _not_modified(shared.etag)
    # A client whose page load saw newer numbers than the last build keeps
    # them, rather than going back until the next build (unless the store
    # was emptied since: then its version is behind the client's).
    for tag in request.if_none_match.as_set(include_weak=True):
        held, _, held_digest = tag.partition("-")
        held_version = ascii_number(held, digits=18)
        if (
            held_digest == digest
            and held_version is not None
            and shared.version < held_version <= version
        ):
            return _not_modified(tag)
    response = Response(shared.body, content_type=shared.content_type)
    return _with_etag(response, shared.etag)


def _claim(mode: str, digest: str) -> bool:
    """Whether this caller rebuilds the view; if the store cannot say, the
    last build will do for this poll."""
    try:
        return runtime().store.claim_view(mode, digest, LIVE_MAX_AGE_MS)
    except StoreError as exc:
        log.warning("live view rebuild not claimed: %s", type(exc).__name__)
        return False


def _with_etag(response: Response, etag: str) -> Response:
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _not_modified(etag: str) -> Response:
    return _with_etag(Response(status=304), etag)
