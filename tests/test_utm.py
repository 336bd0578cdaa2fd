"""The redirect's query string, validated exactly as Stripe validates it."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, unquote_plus
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from landing import utm
from landing.capture import (
    keyed_digest,
    landing_entry,
    report_day,
    valid_entry,
    visitor_keys,
)
from landing.period import day_of
from landing.utm import SESSION_ID, UTM_VALUE, Landing, parse_query


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("spring_sale", True),
        ("Spring-Sale_2026", True),
        ("a", True),
        ("x" * 150, True),
        ("x" * 151, False),
        ("", False),
        ("spring sale", False),
        ("spring+sale", False),  # `+` is a space in a query string
        ("spring%20sale", False),
        ("spring.sale", False),
        ("spring/sale", False),
        ("<script>", False),
        ("caf%C3%A9", False),  # é: letters outside ASCII are not Stripe's
        ("%41BC", True),  # percent-encoded ASCII decodes to a valid code
        ("a%00b", False),
        ("=cmd()", False),
    ],
)
def test_utm_values_follow_stripes_rule(value: str, kept: bool) -> None:
    landing = parse_query(f"utm_campaign={value}&session_id=cs_live_a1")
    expected = parse_query(f"utm_campaign={value}").campaign if kept else None
    assert (landing.campaign is not None) is kept
    assert landing.campaign == expected
    assert landing.session_id == "cs_live_a1"  # a bad code drops only itself


@pytest.mark.parametrize(
    ("session_id", "kept"),
    [
        ("cs_live_a1B2c3", True),
        ("cs_test_a1B2c3", True),
        ("cs_" + "a" * 252, True),
        ("cs_" + "a" * 253, False),
        ("cs_", False),
        ("pi_123", False),
        ("cs_live_abc-def", False),
        ("cs_live abc", False),
        ("{CHECKOUT_SESSION_ID}", False),  # an unreplaced template
        ("CS_LIVE_ABC", False),
    ],
)
def test_session_id_must_look_like_a_checkout_session(
    session_id: str, kept: bool
) -> None:
    landing = parse_query("session_id=" + quote(session_id, safe=""))
    assert (landing.session_id == session_id) is kept
    if not kept:
        assert landing.session_id is None


def test_all_five_codes_in_any_order_unknown_ignored() -> None:
    landing = parse_query(
        "utm_term=shoes&foo=bar&utm_content=hero&session_id=cs_live_1&"
        "utm_medium=email&utm_source=newsletter&utm_campaign=spring&gclid=x"
    )
    assert landing == Landing(
        session_id="cs_live_1",
        source="newsletter",
        medium="email",
        campaign="spring",
        term="shoes",
        content="hero",
    )


def test_repeated_parameter_keeps_its_first_value() -> None:
    landing = parse_query("utm_campaign=first&utm_campaign=second")
    assert landing.campaign == "first"
    # First value wins even when it is the invalid one.
    assert parse_query("utm_campaign=bad%20one&utm_campaign=good").campaign is None


def test_missing_campaign_is_none_and_mode_follows_session_id() -> None:
    assert parse_query("").campaign_name == "(none)"
    assert parse_query("session_id=cs_test_1").mode == "test"
    assert parse_query("session_id=cs_live_1").mode == "live"
    assert parse_query("").mode == "live"


def test_non_utf8_and_garbage_never_raise() -> None:
    landing = parse_query(b"utm_campaign=\xff\xfe&session_id=cs_live_\xc3&&&==&%%%")
    assert landing.campaign is None
    assert landing.session_id is None


@given(st.binary(max_size=600))
def test_any_query_parses_to_valid_values_only(raw: bytes) -> None:
    landing = parse_query(raw)
    for value in (
        landing.source,
        landing.medium,
        landing.campaign,
        landing.term,
        landing.content,
    ):
        assert value is None or UTM_VALUE.fullmatch(value)
    assert landing.session_id is None or SESSION_ID.fullmatch(landing.session_id)


@given(st.text(alphabet=st.sampled_from("aZ9_-+%=&é2Fc3A\x00 "), max_size=40))
@example("a%2Bb+c")
@example("%E9%")
def test_skipping_unquote_changes_nothing(text: str) -> None:
    # The parser decodes a name or value only when it has a '%' or a '+'.
    assert utm._unquote(text) == unquote_plus(text)
    raw = text.encode()
    assert parse_query(text) == parse_query(raw)


@given(
    st.dictionaries(
        st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "utm_term"]),
        st.from_regex(r"[A-Za-z0-9_-]{1,150}", fullmatch=True),
    )
)
def test_valid_codes_survive_the_round_trip(params: dict[str, str]) -> None:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    landing = parse_query(query)
    for key, value in params.items():
        assert getattr(landing, key.removeprefix("utm_")) == value


def test_journal_entry_keeps_no_raw_address_or_agent() -> None:
    entry = landing_entry(
        parse_query("utm_campaign=spring"),
        timestamp=1_700_000_000.5,
        day="2023-11-14",
        secret="k",
        address="203.0.113.9",
        agent="Mozilla/5.0 secret-agent",
        url="utm_campaign=spring",
    )
    text = repr(entry)
    assert "203.0.113.9" not in text and "secret-agent" not in text
    assert entry["campaign"] == "spring" and "sid" not in entry
    assert valid_entry(entry)


def test_visitor_digest_depends_on_address_agent_url_and_day() -> None:
    def visitor(**kw: object) -> object:
        args: dict[str, object] = {
            "timestamp": 1_700_000_000.0,
            "day": "2023-11-14",
            "secret": "k",
            "address": "203.0.113.9",
            "agent": "UA",
            "url": "utm_campaign=a",
        }
        args.update(kw)
        return landing_entry(Landing(), **args)["visitor"]  # type: ignore[arg-type]

    same = visitor()
    assert visitor() == same
    assert visitor(address="203.0.113.10") != same
    assert visitor(agent="UA2") != same
    assert visitor(url="utm_campaign=b") != same
    assert visitor(timestamp=1_700_000_000.0 + 86400) != same  # the salt rotates
    assert visitor(secret="other") != same


def at(when: str) -> float:
    """A UTC moment as a timestamp: the injected clock of the tests below."""
    return datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp()


def anonymous_landing(timestamp: float) -> dict[str, object]:
    return landing_entry(
        parse_query("utm_campaign=spring"),
        timestamp=timestamp,
        day=day_of(timestamp, ZoneInfo("UTC")).isoformat(),
        secret="k",
        address="203.0.113.9",
        agent="UA",
        url="utm_campaign=spring",
    )


def test_a_reload_across_midnight_shares_a_digest_with_the_first_load() -> None:
    before = anonymous_landing(at("2026-03-01T23:59:30"))
    after = anonymous_landing(at("2026-03-02T00:00:30"))
    # The salt rotated at midnight: the new digest differs, the one under the
    # previous salt is the first load's, so the store can see a reload.
    assert after["visitor"] != before["visitor"]
    assert after["visitor_prev"] == before["visitor"]
    assert "visitor_prev" not in before  # 23h59 into its salt period
    assert valid_entry(before) and valid_entry(after)


@pytest.mark.parametrize(
    ("when", "has_previous"),
    [
        ("2026-03-02T00:00:00", True),
        ("2026-03-02T00:29:59", True),
        ("2026-03-02T00:30:00", False),
        ("2026-03-02T12:00:00", False),
        ("2026-03-01T23:59:59", False),
    ],
)
def test_the_previous_salt_is_tried_for_30_minutes_after_it_changes(
    when: str, has_previous: bool
) -> None:
    current, previous = visitor_keys("k", at(when), "203.0.113.9", "UA", "q")
    assert (previous is not None) == has_previous
    assert previous != current


def test_a_session_landing_needs_no_visitor_digest() -> None:
    entry = landing_entry(
        parse_query("session_id=cs_live_a&utm_campaign=spring"),
        timestamp=at("2026-03-02T00:00:30"),
        day="2026-03-02",
        secret="k",
        address="203.0.113.9",
        agent="UA",
        url="q",
    )
    assert entry["sid"] == "cs_live_a"
    assert "visitor" not in entry and "visitor_prev" not in entry


def test_digests_are_those_of_hmac_sha256_over_the_parts() -> None:
    # The digests name keys in the store: the same inputs must keep giving
    # the same digest across versions, or a deploy would count reloads twice.
    mac = hmac.new(b"k", digestmod=hashlib.sha256)
    for part in ("visitor", "20000", "203.0.113.9", "UA \udcff é", "q"):
        mac.update(part.encode("utf-8", "replace") + b"\x00")
    assert (
        keyed_digest("k", "visitor", "20000", "203.0.113.9", "UA \udcff é", "q")
        == (mac.hexdigest()[:32])
    )


@given(st.binary(max_size=300), st.floats(1e9, 4e9), st.text(max_size=50))
def test_every_entry_we_make_is_one_we_accept(
    raw: bytes, timestamp: float, agent: str
) -> None:
    # The journal sends the lines of its own process without checking them
    # again: landing_entry must only ever make lines valid_entry accepts.
    entry = landing_entry(
        parse_query(raw),
        timestamp=timestamp,
        day=day_of(timestamp, ZoneInfo("UTC")).isoformat(),
        secret="k",
        address="198.51.100.1",
        agent=agent,
        url=raw.decode("latin-1"),
    )
    assert valid_entry(entry)


@given(
    st.floats(1e9, 4e9),
    st.integers(0, 3600),
    st.sampled_from(
        ["UTC", "Asia/Kathmandu", "Australia/Adelaide", "America/St_Johns"]
    ),
)
@example(at("2026-03-01T18:14:59.5"), 1, "Asia/Kathmandu")  # its midnight
@example(at("2026-03-01T23:59:59.9"), 1, "UTC")
def test_the_report_day_cache_agrees_with_day_of(
    timestamp: float, later: int, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)  # whole-minute offsets: +05:45, +09:30, -03:30
    for moment in (timestamp, timestamp + later):
        assert report_day(moment, zone) == day_of(moment, zone).isoformat()


@pytest.mark.parametrize(
    "entry",
    [
        None,
        [],
        {"ts": 1, "day": "2026-01-01", "mode": "live"},  # neither sid nor visitor
        {"ts": 1, "day": "2026-01-01", "mode": "live", "sid": "cs_test_1"},
        {"ts": 1, "day": "2026-01-01", "mode": "bogus", "visitor": "0" * 32},
        {"ts": True, "day": "2026-01-01", "mode": "live", "visitor": "0" * 32},
        {"ts": 1, "day": "x", "mode": "live", "visitor": "0" * 32},
        {
            "ts": 1,
            "day": "2026-01-01",
            "mode": "live",
            "visitor": "0" * 32,
            "campaign": "a b",
        },
        {
            "ts": 1,
            "day": "2026-01-01",
            "mode": "live",
            "visitor": "0" * 32,
            "visitor_prev": "not a digest",
        },
        {
            "ts": 1,
            "day": "2026-01-01",
            "mode": "live",
            "visitor": "0" * 32,
            "visitor_prev": 7,
        },
    ],
)
def test_journal_lines_we_did_not_write_are_refused(entry: object) -> None:
    assert not valid_entry(entry)


@pytest.mark.parametrize(
    "query",
    [
        "&utm_campaign=spring",  # an empty pair first
        "&&utm_campaign=spring&",
        "x" * 41 + "=1&utm_campaign=spring",  # a name too long to matter first
        "utm_campaign=spring=2&utm_campaign=x",  # the first value holds the '='
    ],
)
def test_what_comes_before_a_code_never_hides_it(query: str) -> None:
    expected = None if "spring=2" in query else "spring"
    assert parse_query(query).campaign == expected
