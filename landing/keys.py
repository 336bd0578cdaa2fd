"""Every Redis key the product writes, named once, for Python and Lua alike.

``{mode}`` is ``live`` or ``test``, ``{campaign}`` a campaign, ``{day}`` a day
in REPORT_TIMEZONE as YYYY-MM-DD.

Hash tags (SPEC §7) put each key in a Redis Cluster slot chosen so load
spreads and each script call stays in one slot:

* ``{mode}`` (``landing:{live}:…``): the mode's counters, indexes of
  campaigns, version, and what only the counters need (aliases, the landing
  limit, held-back landings, applied transitions);
* ``{shard}`` (``landing:{live:07}:…``): one of SHARDS session shards, by a
  hash of the session id (shard_of, the same in Lua): the session, its
  payments and subscription, the shard's session indexes and its outbox of
  counter changes not yet applied.

Keys that only Python reads one at a time (links, tokens, shares) carry no
tag and spread over the slots. Counters are hashes of integers whose
fields fall away at zero. The store builds keys with these functions, the
Lua scripts with the same templates (``lua_prelude``), and tests and
benchmarks read through them too, so a key's name lives here alone.

Metrics: ``landings``, ``conversions``, ``pending``, ``failed``,
``renewals``, ``refunds``, ``abandoned``, and per currency (minor units)
``revenue:{currency}``, ``refunded:{currency}`` and ``conversions:{currency}``
(how many conversions paid in it, to rank currencies without comparing
amounts). Breakdown dims: source, medium, content, term and payment_link.
"""

from __future__ import annotations

from typing import Any

PREFIX = "landing:"

# name → (template, what it holds). Order is documentation order.
TEMPLATES: dict[str, tuple[str, str]] = {
    "board": ("{mode}:board", "``{campaign}|{metric}``: the all-time scoreboard"),
    "board_day": ("{mode}:board:{day}", "``{campaign}|{metric}``: one day's"),
    "daily": ("{mode}:daily", "``{day}|{metric}``: all campaigns, per day"),
    "campaign": (
        "{mode}:campaign:{campaign}",
        "``{dim}|{value}|{metric}``: a campaign's breakdowns, all time",
    ),
    "campaign_day": ("{mode}:campaign:{campaign}:{day}", "the same for one day"),
    "campaign_daily": (
        "{mode}:campaign:{campaign}:daily",
        "``{day}|{metric}``: the campaign per day",
    ),
    "campaign_hours": (
        "{mode}:campaign:{campaign}:hours:{day}",
        "``{hour}|{metric}``: the campaign by hour (epoch seconds of the hour's "
        "start in REPORT_TIMEZONE); kept 30 days",
    ),
    "hours": (
        "{mode}:hours:{day}",
        "``{hour}|{metric}``: confirmed campaigns by hour; kept 30 days",
    ),
    "minutes": (
        "{mode}:minutes:{hour}",
        "``{minute}|{metric}``: every campaign by minute (epoch seconds), for "
        "the last 30 minutes; kept 3 hours",
    ),
    "session": (
        "{shard}:session:{session}",
        "one checkout session: its landing's codes and its outcome "
        "(expires after SESSION_RETENTION_DAYS)",
    ),
    "sessions": (
        "{shard}:sessions",
        "sorted set: the shard's sessions with a verified event, by first "
        "sighting (ms)",
    ),
    "sessions_landed": (
        "{shard}:sessions:landed",
        "sorted set: the shard's sessions that only landed, by first sighting (ms); "
        "trimmed and expiring after UNCONFIRMED_DAYS",
    ),
    "payment": (
        "{shard}:payment:{payment}",
        "a payment (PaymentIntent or charge) of a session or a renewal: its "
        "session, amount paid, currency, refunds and lost disputes so far",
    ),
    "subscription": (
        "{shard}:subscription:{subscription}",
        "the session that started a subscription, while it lives; renewals "
        "that came first wait here",
    ),
    "confirmed": (
        "{mode}:confirmed",
        "set: campaigns a verified payment, a registered link or a marketer "
        "confirmed; their numbers are permanent",
    ),
    "unconfirmed": (
        "{mode}:unconfirmed",
        "sorted set: unconfirmed campaigns by last landing (ms); their keys "
        "expire UNCONFIRMED_DAYS after it",
    ),
    "aliases": ("{mode}:aliases", "``{old}``: the name a campaign was renamed to"),
    "token": (
        "token:{token}",
        "a tagged link's client_reference_id token (live and test alike): "
        "its campaign, source, medium, content, term and link id",
    ),
    "visitor": ("{mode}:visitor:{digest}", "a session-less landing, for 30 minutes"),
    "held": (
        "{mode}:held:{session}",
        "a landing the limit held back: counted once Stripe vouches for its "
        "session (campaign, codes, when); kept UNCONFIRMED_DAYS",
    ),
    "vouched": (
        "{mode}:vouched:{session}",
        "Stripe vouched for a session before its landing was counted (a "
        "cluster's outbox drained late): that landing is not held back; "
        "kept a day",
    ),
    "outbox": (
        "{shard}:outbox",
        "``{transition}``: counter changes a session shard decided and the "
        "mode's counters have not yet confirmed applying (JSON)",
    ),
    "transitions": (
        "{shard}:transitions",
        "the shard's transition counter (its outbox entries' ids)",
    ),
    "applied": (
        "{mode}:applied",
        "sorted set: transitions applied to the counters, by time (ms); kept "
        "APPLIED_KEPT",
    ),
    "version": ("{mode}:version", "bumped on every change (the API's ETag)"),
    "day_versions": (
        "{mode}:day-versions",
        "``{day}``: bumped when that day's counters change",
    ),
    "epoch": (
        "{mode}:epoch",
        "a random token the first board read after the store was emptied "
        "sets: boards a process kept from before it are of other numbers",
    ),
    "view": (
        "{mode}:view:{digest}",
        "a dashboard's live part as last built, shared by every server "
        "process polling that view: version, etag, type, body",
    ),
    "view_claim": (
        "{mode}:view:{digest}:claim",
        "held for a moment by whoever rebuilds that view",
    ),
    "ratelimit": (
        "{mode}:ratelimit:{client}:{minute}",
        "landings one client added in a minute",
    ),
    "layout_lock": (
        "layout:lock",
        "held while one process renames keys of the layout before hash tags "
        "(Store.migrate_layout)",
    ),
    # -- shares
    "share": (
        "share:{digest}",
        "a read-only share link, by the HMAC of its token (never the token): "
        "id, campaign, mode, created, expires; expires with the link",
    ),
    "shares": (
        "shares",
        "``{id}``: each share link's digest and details as JSON, for the list; "
        "entries of expired links are dropped when it is read",
    ),
    "link": (
        "link:{link}",
        "one tagged link: url, payment_link_url, mode, the five codes "
        "(source, medium, campaign, term, content), token, created (ms)",
    ),
    "links": ("links", "sorted set: link id by creation (ms)"),
    "link_recent": (
        "link-recent:{dim}",
        "sorted set: source or medium values the builder used, by last use (ms)",
    ),
    "link_domains": ("link-domains", "set: custom Stripe checkout domains"),
    "watched_views": (
        "watched-views",
        "sorted set: the URL of each view polled or asked for lately, by its "
        "last request (ms), which the builder process (builder.py) keeps "
        "built; and ``builder``, scored by that process's last pass",
    ),
}


# Session shards per mode. Never change it on a store that holds data: a
# session's keys would be looked for in another shard.
SHARDS = 16
# Transitions remembered as applied: far longer than any outbox entry waits
# (the drainer retries every few seconds while the store answers).
APPLIED_KEPT = 7 * 86400
TAGGED = ("mode", "shard")


def slot_tag(name: str) -> str:
    """The hash tag that keeps a mode's (or a shard's) keys in one slot."""
    return "{" + name + "}"


def tag_of(key: str) -> str:
    """A key's hash tag's content: its mode (``live``) or shard (``live:07``)."""
    return key.partition("{")[2].partition("}")[0]


def shard_of(value: str) -> int:
    """A session (or any id)'s shard: djb2 over its UTF-8 bytes, kept within
    32 bits so Lua's doubles compute the same (common.lua's shard_of)."""
    h = 5381
    for byte in value.encode("utf-8", "surrogateescape"):
        h = (h * 33 + byte) % 4294967296
    return h % SHARDS


def shard(mode: str, number: int) -> str:
    """A shard's name: ``live:07``."""
    return f"{mode}:{number:02d}"


def shard_for(mode: str, session_id: str) -> str:
    return shard(mode, shard_of(session_id))


def shards(mode: str) -> list[str]:
    return [shard(mode, n) for n in range(SHARDS)]


def _key(name: str, **parts: object) -> str:
    for tagged in TAGGED:
        if tagged in parts:
            parts[tagged] = slot_tag(str(parts[tagged]))
    return PREFIX + TEMPLATES[name][0].format(**parts)


def board(mode: str) -> str:
    return _key("board", mode=mode)


def board_day(mode: str, day: str) -> str:
    return _key("board_day", mode=mode, day=day)


def daily(mode: str) -> str:
    return _key("daily", mode=mode)


def campaign(mode: str, name: str) -> str:
    return _key("campaign", mode=mode, campaign=name)


def campaign_day(mode: str, name: str, day: str) -> str:
    return _key("campaign_day", mode=mode, campaign=name, day=day)


def campaign_daily(mode: str, name: str) -> str:
    return _key("campaign_daily", mode=mode, campaign=name)


def campaign_hours(mode: str, name: str, day: str) -> str:
    return _key("campaign_hours", mode=mode, campaign=name, day=day)


def hours(mode: str, day: str) -> str:
    return _key("hours", mode=mode, day=day)


def minutes(mode: str, hour: int) -> str:
    return _key("minutes", mode=mode, hour=hour)


def session(mode: str, session_id: str) -> str:
    return _key("session", shard=shard_for(mode, session_id), session=session_id)


def sessions(shard: str) -> str:
    """One shard's index (``shards(mode)`` names them all)."""
    return _key("sessions", shard=shard)


def sessions_landed(shard: str) -> str:
    return _key("sessions_landed", shard=shard)


def payment(shard: str, payment_id: str) -> str:
    """A payment's record, in the shard of its session."""
    return _key("payment", shard=shard, payment=payment_id)


def subscription(shard: str, subscription_id: str) -> str:
    """A subscription's record, in the shard of its session."""
    return _key("subscription", shard=shard, subscription=subscription_id)


def held(mode: str, session_id: str) -> str:
    return _key("held", mode=mode, session=session_id)


def vouched(mode: str, session_id: str) -> str:
    return _key("vouched", mode=mode, session=session_id)


def outbox(shard: str) -> str:
    return _key("outbox", shard=shard)


def transitions(shard: str) -> str:
    return _key("transitions", shard=shard)


def applied(mode: str) -> str:
    return _key("applied", mode=mode)


def confirmed(mode: str) -> str:
    return _key("confirmed", mode=mode)


def unconfirmed(mode: str) -> str:
    return _key("unconfirmed", mode=mode)


def aliases(mode: str) -> str:
    return _key("aliases", mode=mode)


def token(value: str) -> str:
    return _key("token", token=value)


def visitor(mode: str, digest: str) -> str:
    return _key("visitor", mode=mode, digest=digest)


def version(mode: str) -> str:
    return _key("version", mode=mode)


def day_versions(mode: str) -> str:
    return _key("day_versions", mode=mode)


def epoch(mode: str) -> str:
    return _key("epoch", mode=mode)


def view(mode: str, digest: str) -> str:
    return _key("view", mode=mode, digest=digest)


def view_claim(mode: str, digest: str) -> str:
    return _key("view_claim", mode=mode, digest=digest)


def ratelimit(mode: str, client: str, minute: int) -> str:
    return _key("ratelimit", mode=mode, client=client, minute=minute)


def layout_lock() -> str:
    return _key("layout_lock")


# -- shares


def share(digest: str) -> str:
    return _key("share", digest=digest)


def shares() -> str:
    return _key("shares")


def link(link_id: str) -> str:
    return _key("link", link=link_id)


def links() -> str:
    return _key("links")


def link_recent(dim: str) -> str:
    return _key("link_recent", dim=dim)


def link_domains() -> str:
    return _key("link_domains")


def watched_views() -> str:
    return _key("watched_views")


# -- what a script call declares in KEYS on a cluster (SPEC §7)


def shard_keys(shard: str) -> list[str]:
    """What every call in a session shard may touch besides its sessions,
    payments and subscriptions."""
    return [outbox(shard), transitions(shard), sessions(shard), sessions_landed(shard)]


# What every call on a mode's counters may touch besides each campaign's,
# day's and landing's keys; and a campaign's keys and the scoreboard's for
# one of its days. Lua has both too (KEY.mode_keys, KEY.campaign_on).
MODE_KEYS = (
    "aliases",
    "confirmed",
    "unconfirmed",
    "board",
    "daily",
    "version",
    "day_versions",
)
CAMPAIGN_ON = (
    "campaign",
    "campaign_daily",
    "campaign_day",
    "campaign_hours",
    "board_day",
    "hours",
)


def _params(name: str) -> list[str]:
    """A template's placeholders, in order."""
    return [part.partition("}")[0] for part in TEMPLATES[name][0].split("{")[1:]]


# campaign_on's keys with their placeholders, worked out once: it runs for
# every op of every counter call on a cluster.
_CAMPAIGN_ON_PARAMS = [(name, _params(name)) for name in CAMPAIGN_ON]


def mode_keys(mode: str) -> list[str]:
    return [_key(name, mode=mode) for name in MODE_KEYS]


def minutes_at(mode: str, at_ms: int) -> str:
    """The minute counters' key for a moment (common.lua's per_minute)."""
    minute = at_ms // 60000 * 60
    return minutes(mode, minute - minute % 3600)


def campaign_on(mode: str, name: str, day: str) -> list[str]:
    parts = {"mode": mode, "campaign": name, "day": day}
    return [
        _key(key, **{p: parts[p] for p in params})
        for key, params in _CAMPAIGN_ON_PARAMS
    ]


# Counter ops whose second element is a campaign (as the session named it).
CAMPAIGN_OPS = ("landing", "visit", "bump", "confirm")


def op_keys(mode: str, op: list[Any], limit: int) -> list[str]:
    """The keys applying one counter op touches, as far as the op tells
    (common.lua's check_ops, which also reads what a renamed or unconfirmed
    campaign or a held landing touches, and asks for those keys)."""
    kind = op[0]
    out: list[str] = []
    if kind in ("landing", "visit", "bump"):
        out += campaign_on(mode, str(op[1]), str(op[3]).partition("@")[0])
    if kind in ("landing", "visit"):
        at_ms, client = int(op[4]), op[5]
        out.append(minutes_at(mode, at_ms))
        limited = limit > 0 and isinstance(client, str)
        if limited and (kind == "visit" or op[6]):
            out.append(ratelimit(mode, client, at_ms // 60000))
        if kind == "landing" and limited and op[6] and isinstance(op[7], str):
            out += [vouched(mode, op[7]), held(mode, op[7])]
        if kind == "visit":
            out += [visitor(mode, str(v)) for v in op[6:8] if isinstance(v, str)]
    elif kind == "confirm":
        out += [campaign(mode, str(op[1])), campaign_daily(mode, str(op[1]))]
    elif kind == "minute":
        out.append(minutes_at(mode, int(op[1])))
    elif kind == "vouch":
        out += [held(mode, str(op[1])), vouched(mode, str(op[1]))]
    return out


def lua_prelude() -> str:
    """``KEY.<name>(...)`` for the scripts, from the same templates.

    Each placeholder becomes a parameter, in the order it appears; the
    mode is wrapped in its hash tag, as in Python.
    """
    lines = ["local KEY = {}"]
    for name, (template, _) in TEMPLATES.items():
        params: list[str] = []
        pieces: list[str] = []
        rest = PREFIX + template
        while "{" in rest:
            before, _, after = rest.partition("{")
            param, _, rest = after.partition("}")
            params.append(param)
            if before:
                pieces.append(repr(before))
            if param in TAGGED:  # the slot's hash tag, as slot_tag() makes it
                pieces.append(f"'{{' .. tostring({param}) .. '}}'")
            else:
                pieces.append(f"tostring({param})")
        if rest:
            pieces.append(repr(rest))
        body = " .. ".join(pieces)
        lines.append(f"function KEY.{name}({', '.join(params)}) return {body} end")
    for group, params in (
        ("mode_keys", ["mode"]),
        ("campaign_on", ["mode", "campaign", "day"]),
    ):
        names = MODE_KEYS if group == "mode_keys" else CAMPAIGN_ON
        calls = ", ".join(f"KEY.{n}({', '.join(_params(n))})" for n in names)
        lines.append(
            f"function KEY.{group}({', '.join(params)}) return {{{calls}}} end"
        )
    lines.append(f"local SHARDS = {SHARDS}")
    lines.append(f"local APPLIED_KEPT = {APPLIED_KEPT}")
    return "\n".join(lines) + "\n"
