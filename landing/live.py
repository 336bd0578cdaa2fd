"""Shared live builds, ETags and claims: what keeps polling dashboards cheap.

A page load always reads the store fresh; a dashboard's poll and the API are
answered from a build of the view kept in the store for every server
process, rebuilt when the numbers change: by a web worker, or, while one
runs, by the builder process (builder.py) below customers' requests.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from urllib.parse import urlencode

from flask import Response, request

from landing.params import ascii_number, parse_flag, parse_mode
from landing.period import parse_range, previous_range, today_in
from landing.runtime import runtime
from landing.store import Build, LiveView, StoreError

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
# A view leaves the builder's list this long after its last request: a
# dashboard polls every 750 ms, and a closed one costs no more builds.
WATCH_SECONDS = 10
# While a builder process runs (builder.py) the web workers leave the
# rebuilds to it and answer polls with its builds, so customers' pages never
# wait behind a scoreboard build. It runs if its last alive mark (made by a
# thread of its own, every PASS_SECONDS) is under BUILDER_ALIVE_MS old;
# with cores to spare it rebuilds a changed view within BUILDER_EVERY_MS
# and its build time, so a landing shows within the SPEC's 2 s as before.
# When customers keep every core busy it runs less, and a board may lag, up
# to BUILDER_LAG_MS: a build older than that is rebuilt by a worker (once
# per LIVE_MAX_AGE_MS, as without a builder). No mark, and workers build as
# they would without one (builder stopped, or a deploy without gunicorn).
BUILDER_ALIVE_MS = 1000
BUILDER_LAG_MS = 5000
# The builder rebuilds a view whose numbers changed at most this often
# (builder.py passes over the watched views a few times as often).
BUILDER_EVERY_MS = 750
# What marks a request as the builder's own (a WSGI environ key: no client
# can set it, unlike a header).
BUILDER_ENVIRON = "landing.builder"


def conditional(
    build: Callable[[Query], Response],
    mode: str | None = None,
    default_range: str = "",
    *,
    shared: bool = False,
    watched: bool = False,
) -> Response:
    """Answer 304 when nothing changed since the client's copy (cheap polling).

    The ETag changes with any number of the mode, the question or the date;
    the page and its live part (fragment=board) share one, so the first poll
    after a page load is already a 304. A relative range (today, 7d, 30d)
    moves at midnight with the date, and so does its ETag: a board left open
    on "today" shows the new day at its next poll.

    `shared`: the whole answer (the API's JSON) is kept in the store like a
    live part, so asking again costs a read while nothing changed.
    `watched`: the view's URL holds nothing secret, so the builder process
    may keep its polls' build fresh (a share's URL holds its token: not
    watched).
    """
    query = Query(mode, default_range)
    # The view: what its pages show depends on, and nothing else, so that
    # made-up arguments do not make more builds to keep.
    args = sorted(f"{k}={v[:150]}" for k, v in request.args.items() if k in VIEW_ARGS)
    view = f"{request.host_url}{request.path[1:]}?{'&'.join(args)}|{query.today}"
    digest = hashlib.sha256(view.encode()).hexdigest()[:16]
    fragment = parse_flag(request.args.get("fragment"))
    if request.environ.get(BUILDER_ENVIRON) is True:
        return _build_for_builder(build, query, digest)
    if fragment:
        watch = _view_url(fragment) if watched else None
        return poll(build, query, digest, watch=watch, fragment=fragment)
    # A page load shows the store as it is (SPEC §5); a client that has its
    # numbers costs the version's read alone.
    version = runtime().store.version(query.mode)
    query.etag = etag = f"{version}-{digest}"
    if request.if_none_match.contains_weak(etag):
        return _not_modified(etag)
    if shared:
        watch = _view_url(fragment) if watched else None
        return poll(build, query, digest, watch=watch, fragment=fragment)
    return _with_etag(build(query), etag)


def _view_url(fragment: bool) -> str:
    """The URL the builder asks for to build this view: the arguments the
    view depends on, nothing else."""
    args = [(k, v) for k, v in request.args.items() if k in VIEW_ARGS]
    if fragment:
        args.append(("fragment", "board"))
    query = f"?{urlencode(sorted(args))}" if args else ""
    return f"{request.host_url}{request.path[1:]}{query}"


def poll(
    build: Callable[[Query], Response],
    query: Query,
    digest: str,
    *,
    watch: str | None = None,
    fragment: bool = True,
) -> Response:
    """A dashboard's live part (or a shared API answer), rebuilt at most once
    per LIVE_MAX_AGE_MS.

    Every server process answers polls of one view from the build kept in
    the store: a dozen dashboards cost one build per change, and under
    steady traffic (a change every moment) one per LIVE_MAX_AGE_MS, however
    many workers and instances serve them. Whoever claims the rebuild makes
    it; the others answer with the last build meanwhile. (When there is no
    build at all, as on a view's first poll, every poller then builds; and
    a build slower than the claim may be kept after a newer one, which the
    next rebuild corrects and the no-going-back rule hides meanwhile.)

    While a builder process keeps the view (builder.py), the rebuild is
    its: a poll gets a build up to BUILDER_LAG_MS old. The API always
    shows the store as it is: its stored answer only while no number
    changed (which the builder's rebuilds make likely), else its own build.
    """
    store = runtime().store
    if not fragment:
        # The API: a build of older numbers is never answered, so it is not
        # read either (1.8 MB at 10,000 campaigns) unless it is current.
        version, kept = store.view_version(query.mode, digest)
        if kept != version:
            return _build_and_keep(build, query, digest, version)[0]
    live = store.live_view(query.mode, digest, watch, WATCH_SECONDS)
    version, shared = live.version, live.build
    if shared is None or (
        shared.version != version and _rebuild(query.mode, digest, live, fragment)
    ):
        response, made = _build_and_keep(build, query, digest, version)
        if made is None:
            return response
        shared = made
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


def _build_and_keep(
    build: Callable[[Query], Response], query: Query, digest: str, version: int
) -> tuple[Response, Build | None]:
    """Build the view of the mode's `version` and keep it in the store for
    every process; the response, and the build (None if not kept: an
    error or a stream)."""
    query.etag = etag = f"{version}-{digest}"
    started = _now_ms()
    response = build(query)
    if response.status_code != 200 or response.is_streamed:
        return _with_etag(response, etag), None
    made = Build(
        version, etag, response.content_type, response.get_data(as_text=True), started
    )
    try:
        runtime().store.keep_view(query.mode, digest, made, LIVE_KEEP_SECONDS)
    except StoreError as exc:  # e.g. the store is full: answer anyway
        log.warning("live view not shared: %s", type(exc).__name__)
    return _with_etag(response, etag), made


def _build_for_builder(
    build: Callable[[Query], Response], query: Query, digest: str
) -> Response:
    """The builder's request: rebuild the view if its numbers changed and
    nobody rebuilt it in the last BUILDER_EVERY_MS; 204 when nothing was
    to be done (read without the build's body)."""
    version, kept = runtime().store.view_version(query.mode, digest)
    if kept == version or not _claim(query.mode, digest, BUILDER_EVERY_MS):
        return Response(status=204)
    return _build_and_keep(build, query, digest, version)[0]


def _rebuild(mode: str, digest: str, live: LiveView, fragment: bool) -> bool:
    """Whether this request rebuilds a view whose build is of older numbers."""
    if not fragment:
        return True  # the API shows the store as it is (SPEC §5)
    now, build = _now_ms(), live.build
    if (
        build is not None
        and now - live.builder < BUILDER_ALIVE_MS
        and (now - build.built < BUILDER_LAG_MS or live.newly_watched)
    ):
        # The builder keeps it and has not fallen far behind; or it has not
        # had the view on its list before this poll, and will build it in
        # a moment (a page just loaded keeps its numbers meanwhile).
        return False
    return _claim(mode, digest, LIVE_MAX_AGE_MS)


def _claim(mode: str, digest: str, milliseconds: int) -> bool:
    """Whether this caller rebuilds the view; if the store cannot say, the
    last build will do for this poll."""
    try:
        return runtime().store.claim_view(mode, digest, milliseconds)
    except StoreError as exc:
        log.warning("live view rebuild not claimed: %s", type(exc).__name__)
        return False


def _now_ms() -> int:
    return int(time.time() * 1000)


def _with_etag(response: Response, etag: str) -> Response:
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _not_modified(etag: str) -> Response:
    return _with_etag(Response(status=304), etag)
