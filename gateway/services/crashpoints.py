"""Named points where a crash test may cut the power (DESIGN invariants 3 and 8).

Exactly-once vending rests on one claim: whatever instant the gateway dies at, the next start
finds enough in the ledger and on the meter to finish every vend exactly once. Random kills
rarely land in the narrow windows that matter most (the meter has credited a purchase, the
ledger has not yet committed it; a confirming transaction half written), so the services mark
their state boundaries with ``reached("name")`` and the crash test (tests/integration/crash,
bench/crash.py) asks for a kill at exactly one of them.

``PREPAID_GATEWAY_CRASHPOINT=NAME`` kills the process the first time NAME is reached,
``NAME:N`` the N-th time. The kill is SIGKILL sent to ourselves: no ``finally`` blocks, no
buffered output, no SQLite rollback or checkpoint, the same as a power cut. One line naming the
point goes to stderr first through an unbuffered write, so the harness can count hits.

The variable is read once at import. Unset (every real site), ``reached`` is one comparison.
"""

from __future__ import annotations

import itertools
import os
import signal

ENVIRONMENT = "PREPAID_GATEWAY_CRASHPOINT"

# Every point the services mark, in the order a vend meets them. A name outside this list in
# the environment is refused at import: a misspelt point would otherwise never fire, and a
# crash test that kills nothing proves nothing.
POINTS: tuple[str, ...] = (
    "vend.pending",  # pending vend committed, nothing sent
    "vend.sent",  # sent committed, the 03H frame not yet written
    "vend.replied",  # the meter answered (credited), the confirming transaction not begun
    "confirm.sale_row",  # inside the confirming transaction: sale row written
    "confirm.receipt",  # ... receipt issued
    "confirm.state",  # ... vend marked confirmed
    "confirm.events",  # ... log entry and outbox event written, COMMIT not yet run
    "vend.confirmed",  # confirming transaction committed
    "vend.uncertain",  # no clear answer: uncertain committed, the count not yet read
    "vend.resolve.read",  # uncertain or recovered vend: the meter's count read, not yet acted on
)


class CrashPointError(ValueError):
    """The environment names a point the services do not have."""


def parse(text: str) -> tuple[str, int] | None:
    """``NAME`` or ``NAME:N`` → (name, n); empty → None."""
    text = text.strip()
    if not text:
        return None
    name, sep, count_text = text.partition(":")
    count = 1
    if sep:
        if not count_text.isdigit() or int(count_text) < 1:
            raise CrashPointError(f"{ENVIRONMENT}={text!r}: N in NAME:N must be a whole number ≥ 1")
        count = int(count_text)
    if name not in POINTS:
        raise CrashPointError(f"{ENVIRONMENT}={text!r}: unknown point; known: {', '.join(POINTS)}")
    return name, count


_target = parse(os.environ.get(ENVIRONMENT, ""))
# Points are reached from the event loop and the SQLite writer thread; ``next`` on a count is
# atomic under the GIL, so no hit is counted twice or lost.
_hits = itertools.count(1)


def reached(name: str) -> None:
    """Die here if the environment asks for a crash at this point (this time)."""
    if _target is None or name != _target[0]:
        return
    hit = next(_hits)
    if hit < _target[1]:
        return
    os.write(2, f"crashpoint {name}:{hit}\n".encode())
    os.kill(os.getpid(), signal.SIGKILL)
