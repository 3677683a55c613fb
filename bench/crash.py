"""The full crash test of exactly-once vending (issue 3): 200+ SIGKILLs of a selling gateway.

The gateway (tests/integration/crash/gateway_child.py) sells to five simulated meters (three
money wallets, two energy wallets, 5% of replies lost) running in their own process, and is
killed at every named state boundary several times (gateway/services/crashpoints.py: after the
pending commit, after the sent commit, between the meter's reply and the confirming commit,
inside that transaction, after it, in the uncertain and recovery paths) and at random moments.
After a last recovery each meter's registers are compared with the ledger
(tests/integration/crash/harness.py); a mismatch is a sale lost, booked twice, left unfinished,
or a failed `db check`.

Prints one JSON object: {"runs": kills, "mismatches": M, "points": {point: hits}, ...}; target
M = 0. Exit status 1 when M > 0, or when a point was never reached.

    python bench/crash.py [--random-kills N] [--repeats R] [--seed S] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the harness lives in tests/

from tests.integration.crash.harness import CI_POINTS, CrashPlan, CrashRun

LUCK = {"vend.uncertain", "vend.resolve.read"}


def points(repeats: int) -> tuple[str, ...]:
    """Every boundary ``repeats`` times, hit on the 1st, 2nd, 3rd... pass, so kills also land
    while other vends are in flight and during recovery of earlier kills."""
    out: list[str] = []
    for r in range(repeats):
        n = r % 3 + 1
        # these two need luck (a lost reply, a vend to recover): always their first hit
        out += [p if p in LUCK else f"{p}:{n}" for p in CI_POINTS]
    return tuple(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--random-kills", type=int, default=150)
    p.add_argument("--repeats", type=int, default=5, help="passes over the named points")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--keep", type=Path, help="work in DIR and keep the ledger and logs there")
    args = p.parse_args()
    plan = CrashPlan(points=points(args.repeats), random_kills=args.random_kills, seed=args.seed)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = CrashRun(args.keep, plan).run()
    else:
        with tempfile.TemporaryDirectory(prefix="crash-") as tmp:
            report = CrashRun(Path(tmp), plan).run()
    print(json.dumps(report.to_json(), ensure_ascii=False))
    return 1 if report.mismatches or report.unreached else 0


if __name__ == "__main__":
    sys.exit(main())
