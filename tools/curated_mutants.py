"""Apply hand-picked mutants to the Lua scripts and the views; list survivors.

mutmut covers the pure modules (`make mutants`). What it cannot reach, the
Lua scripts and the views, gets this curated list: each mutant is one exact
text replacement, the tests that must catch it, and, when no test can, why
(`equivalent`). For each mutant the file is changed, the tests run, and the
file is put back byte for byte, whatever happens.

    .venv/bin/python tools/curated_mutants.py [-k NAME_PART] [--list]

A mutant whose original text is no longer in its file is reported "stale":
the code moved on, and the mutant should be brought up to date.
Exit status 1 when a mutant that is not documented as equivalent survives.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    original: str
    mutated: str
    tests: tuple[str, ...]
    equivalent: str = ""  # why no test can catch it, when none can


ATTRIBUTION = "tests/test_attribution.py"
AUTH_TESTS = ("tests/test_api.py", "-k", "credentials")

MUTANTS = [
    # -- the survivors of issue #14, each now caught ---------------------------
    Mutant(
        "an empty password is accepted",
        "landing/access.py",
        "if not (user_ok and password_ok) or given_user is None:",
        "if not (user_ok and (password_ok or not given_password))"
        " or given_user is None:",
        AUTH_TESTS,
    ),
    Mutant(
        "an empty user and password are accepted",
        "landing/access.py",
        "if not (user_ok and password_ok) or given_user is None:",
        "if (given_user or given_password) and not (user_ok and password_ok)"
        " or given_user is None:",
        AUTH_TESTS,
    ),
    Mutant(
        "/api/campaigns/<c> loses its sign-in check",
        "landing/api.py",
        '@bp.get("/api/campaigns/<campaign>")\n@marketers_only\n',
        '@bp.get("/api/campaigns/<campaign>")\n',
        AUTH_TESTS,
    ),
    Mutant(
        "/api/campaigns/<c>.csv loses its sign-in check",
        "landing/exports.py",
        '@bp.get("/api/campaigns/<campaign>.csv")\n@marketers_only\n',
        '@bp.get("/api/campaigns/<campaign>.csv")\n',
        AUTH_TESTS,
    ),
    Mutant(
        "/dashboard/campaigns/<c> loses its sign-in check",
        "landing/dashboard.py",
        '@bp.get("/dashboard/campaigns/<campaign>")\n@marketers_only\n',
        '@bp.get("/dashboard/campaigns/<campaign>")\n',
        AUTH_TESTS,
    ),
    Mutant(
        "a failed outcome outranks a paid one",
        "landing/common.lua",
        "local RANK = {pending = 1, paid = 2, failed = 2}",
        "local RANK = {pending = 1, paid = 2, failed = 3}",
        (ATTRIBUTION,),
    ),
    Mutant(
        "the reload window is 1 second",
        "landing/common.lua",
        "local VISIT_WINDOW_MS = 30 * 60 * 1000",
        "local VISIT_WINDOW_MS = 1000",
        (ATTRIBUTION, "-k", "reload"),
    ),
    Mutant(
        "the reload window is 24 hours",
        "landing/common.lua",
        "local VISIT_WINDOW_MS = 30 * 60 * 1000",
        "local VISIT_WINDOW_MS = 24 * 60 * 60 * 1000",
        (ATTRIBUTION, "-k", "reload"),
    ),
    Mutant(
        "a landing counts on the UTC day",
        "landing/thanks.py",
        "day=report_day(now, settings.zone),",
        'day=time.strftime("%Y-%m-%d", time.gmtime(now)),',
        ("tests/test_thanks.py", "-k", "timezone"),
    ),
    Mutant(
        "an outcome counts on its landing's day",
        "landing/outcome.lua",
        "contribute(s, skey, when, METRIC[status], 1)",
        "contribute(s, skey, s.landed_when or when, METRIC[status], 1)",
        (ATTRIBUTION, "-k", "day_0"),
    ),
    # -- more that must be caught ----------------------------------------------
    Mutant(
        "bump forgets the day's scoreboard",
        "landing/common.lua",
        "    hincr(KEY.board_day(mode, day), campaign .. '|' .. metric, n)\n",
        "",
        (ATTRIBUTION,),
    ),
    Mutant(
        "bump forgets the campaign's breakdowns",
        "landing/common.lua",
        "      hincr(all_time, bf, by)\n",
        "",
        ("tests/test_thanks.py", "-k", "breakdowns"),
    ),
    Mutant(
        "a session's second landing is counted again",
        "landing/landings.lua",
        "    if s.landed_at then\n",
        "    if false then\n",
        ("tests/test_thanks.py", "-k", "once_per_session"),
    ),
    Mutant(
        "utm_medium is dropped from the landing",
        "landing/landings.lua",
        "landing[d] = type(e[d]) == 'string' and e[d] or NONE",
        "landing[d] = d ~= 'medium' and type(e[d]) == 'string' and e[d] or NONE",
        ("tests/test_thanks.py", "-k", "breakdowns"),
    ),
    Mutant(
        "a pending payment adds revenue",
        "landing/outcome.lua",
        "if status == 'paid' and s.amount_total and s.currency then",
        "if s.amount_total and s.currency then",
        (ATTRIBUTION,),
    ),
    Mutant(
        "a repeated paid event is not unchanged",
        "landing/outcome.lua",
        "if s.status and RANK[s.status] >= RANK[status] then",
        "if s.status and RANK[s.status] > RANK[status] then",
        (ATTRIBUTION, "-k", "final"),
    ),
    Mutant(
        "the rate limit lets one fewer through",
        "landing/common.lua",
        "if n > CFG.limit and not",
        "if n >= CFG.limit and not",
        ("tests/test_abuse.py", "-k", "rate_limit"),
    ),
    Mutant(
        "a landing that joins a payment is limited",
        "landing/landings.lua",
        "e.ts, client, not s.status, e.sid})",
        "e.ts, client, true, e.sid})",
        ("tests/test_abuse.py", "-k", "joins_a_confirmed"),
    ),
    Mutant(
        "signatures are good for 600 s",
        "landing/events.py",
        "TOLERANCE_SECONDS = 300",
        "TOLERANCE_SECONDS = 600",
        ("tests/test_events.py", "-k", "stale"),
    ),
    Mutant(
        "csv_cell lets '=' start a formula",
        "landing/exports.py",
        'CSV_FORMULA_START = ("=", "+", "-", "@", "\\t", "\\r")',
        'CSV_FORMULA_START = ("+", "-", "@", "\\t", "\\r")',
        ("tests/test_reporting.py", "-k", "csv"),
    ),
    Mutant(
        "/dashboard loses its sign-in check",
        "landing/dashboard.py",
        '@bp.get("/dashboard")\n@marketers_only\n',
        '@bp.get("/dashboard")\n',
        AUTH_TESTS,
    ),
    Mutant(
        "/thanks may be kept by shared caches",
        "landing/thanks.py",
        '("Cache-Control", "no-store, private"),',
        '("Cache-Control", "public, max-age=60"),',
        ("tests/test_thanks.py", "-k", "headers"),
    ),
    Mutant(
        "the dashboard reads page numbers with int()",
        "landing/dashboard.py",
        'page=parse_page(request.args.get("page")),',
        'page=int(request.args.get("page") or 1),',
        ("tests/test_abuse.py", "-k", "first_page"),
    ),
    # -- money, junk, limits, links (issues #9, #10, #13) ----------------------
    Mutant(
        "refunds and lost disputes are not capped at what was paid",
        "landing/common.lua",
        "  if total > paid then total = paid end\n",
        "",
        ("tests/test_money_flows.py",),
    ),
    Mutant(
        "a stale running total lowers what a refund already counted",
        "landing/refund.lua",
        "if amount <= before then return false end",
        "if amount == before then return false end",
        ("tests/test_money_flows.py", "-k", "running_total"),
    ),
    Mutant(
        "the first invoice is counted as a renewal",
        "landing/store.py",
        '"first" if renewal.first else "renewal",',
        '"renewal",',
        ("tests/test_money_flows.py", "-k", "renewals"),
    ),
    Mutant(
        "a refund stays where it was when its landing comes late",
        "landing/common.lua",
        "    emit({'bump', from, from_dims, when, metric, -n})\n",
        "",
        ("tests/test_money_flows.py", "-k", "moves or model"),
    ),
    Mutant(
        "an unconfirmed campaign goes on the scoreboards for good",
        "landing/common.lua",
        "  local confirmed = is_confirmed(mode, campaign)\n",
        "  local confirmed = true\n",
        ("tests/test_expiry.py", "-k", "junk"),
    ),
    Mutant(
        "a confirmed campaign keeps its expiry",
        "landing/common.lua",
        "    for _, key in ipairs(own) do call('PERSIST', key) end\n",
        "",
        ("tests/test_expiry.py", "-k", "confirms"),
    ),
    Mutant(
        "a rate-limited landing forgets its session's campaign",
        "landing/common.lua",
        "      if sid then\n",
        "      if false then\n",
        ("tests/test_expiry.py", "-k", "rate_limited"),
    ),
    Mutant(
        "a reload across the salt's rotation counts twice",
        "landing/common.lua",
        "if seen_within(vkey, ts) or (previous and",
        "if seen_within(vkey, ts) or (false and",
        ("tests/test_expiry.py", "-k", "rotation"),
    ),
    Mutant(
        "a link's token is not read",
        "landing/common.lua",
        "  if not link or s.token_campaign then return end",
        "  if true then return end",
        ("tests/test_tokens.py",),
    ),
    Mutant(
        "a delete takes a paid campaign's numbers away",
        "landing/campaigns.lua",
        "      if not string.match(f, '|landings$') then result = 'paid' end",
        "",
        ("tests/test_expiry.py", "-k", "cli"),
    ),
    # -- equivalent: no test can tell, and here is why -------------------------
    Mutant(
        "the password is compared with ==",
        "landing/access.py",
        "password_ok = hmac.compare_digest(\n"
        '            (given_password or "").encode(), '
        "settings.dashboard_password.encode()\n        )",
        'password_ok = (given_password or "").encode() == '
        "settings.dashboard_password.encode()",
        AUTH_TESTS,
        equivalent="only the time a comparison takes changes; no functional "
        "test can measure that reliably",
    ),
    Mutant(
        "the rate-limit key lives 60 s, not 120 s",
        "landing/common.lua",
        "if n == 1 then call('EXPIRE', rkey, 120) end",
        "if n == 1 then call('EXPIRE', rkey, 60) end",
        ("tests/test_abuse.py", "-k", "rate_limit"),
        equivalent="the key is per clock minute and never read after its "
        "minute: its TTL only frees memory",
    ),
]


def run(mutant: Mutant, python: str) -> str:
    """caught, survived, equivalent (survived as documented) or stale."""
    path = ROOT / mutant.file
    if not path.exists():
        return "stale"
    original = path.read_bytes()
    text = original.decode()
    if text.count(mutant.original) != 1:
        return "stale"
    try:
        path.write_text(text.replace(mutant.original, mutant.mutated))
        command = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
        tests = subprocess.run(
            [*command, *mutant.tests],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    finally:
        path.write_bytes(original)
    if tests.returncode == 5:  # no test collected: the names moved on
        return "stale"
    if tests.returncode != 0:
        return "caught"
    return "equivalent" if mutant.equivalent else "survived"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only mutants whose name has this")
    parser.add_argument("--list", action="store_true", help="list, run nothing")
    args = parser.parse_args()
    # Killed politely, still put the file back (run's finally).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chosen = [m for m in MUTANTS if args.k.lower() in m.name.lower()]
    if args.list:
        for m in chosen:
            print(f"{m.file:24} {m.name}")
        return 0
    results: dict[str, list[Mutant]] = {}
    started = time.monotonic()
    for m in chosen:
        result = run(m, sys.executable)
        results.setdefault(result, []).append(m)
        print(f"{result:10} {m.file:24} {m.name}", flush=True)
    caught = len(results.get("caught", []))
    counted = caught + len(results.get("survived", []))
    print(
        f"\n{caught}/{counted} caught, "
        f"{len(results.get('equivalent', []))} equivalent, "
        f"{len(results.get('stale', []))} stale "
        f"in {time.monotonic() - started:.0f} s"
    )
    for m in results.get("survived", []):
        print(f"SURVIVED: {m.name} ({m.file}); tests: {' '.join(m.tests)}")
    for m in results.get("equivalent", []):
        print(f"equivalent: {m.name}: {m.equivalent}")
    for m in results.get("stale", []):
        print(f"stale: {m.name} ({m.file}): its original text is gone")
    return 1 if results.get("survived") else 0


if __name__ == "__main__":
    sys.exit(main())
