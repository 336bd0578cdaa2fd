"""Print mutmut's score for `make mutants`; fail below the floor.

The score is the share of mutants some test detects (killed, or made to time
out), over every mutant made: survivors and mutants no test reaches both count
against it.

    .venv/bin/python tools/mutation_score.py [STATS_JSON] [--floor PERCENT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "stats", nargs="?", default="mutants/mutmut-cicd-stats.json", type=Path
    )
    parser.add_argument("--floor", type=float, default=0.0)
    args = parser.parse_args()
    stats = json.loads(args.stats.read_text())
    detected = stats["killed"] + stats["timeout"]
    total = stats["total"] - stats["skipped"]
    score = 100.0 * detected / total if total else 0.0
    print(
        f"mutation score {score:.1f}%: {detected} of {total} mutants detected; "
        f"{stats['survived']} survived, {stats['no_tests']} reached by no test, "
        f"{stats['suspicious']} suspicious"
    )
    if score < args.floor:
        print(f"below the floor of {args.floor:g}%: see `.venv/bin/mutmut results`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
