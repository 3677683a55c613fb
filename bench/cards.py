"""User card write + verify on the virtual stack (pcscd + vpcd + the Python CPU card).

One sample = what the gateway does for a daily purchase by card: connect, detect the medium,
check the card's serial, write the issue file (body, then commit byte), read both files back and
authenticate them. Target (issue 4): median under 300 ms.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the pcscd harness is in tests/

from gateway.cards import CardReaderConfig, CardReaderService, UserCard, UserCardKind
from tests.support.pcsc import GATEWAY_READER, Pcscd, wait_card_state
from tests.support.vcard import blank_gateway_card

TARGET_MS = 300.0
SAMPLES = 50


async def measure(samples: int) -> list[float]:
    service = CardReaderService(
        CardReaderConfig(reader=GATEWAY_READER, site_key="secret:bench-site")
    )
    card = UserCard(
        serial=1001,
        meter_number="000012345678",
        customer_number="42",
        issued_at=datetime(2025, 3, 1, 10, 0, 0),
        kind=UserCardKind.OPEN,
        purchase_count=1,
        amount_fen=10_000,
    )
    await service.write(card, require_blank=True)
    timings = []
    for count in range(2, samples + 2):
        purchase = UserCard(
            serial=card.serial,
            meter_number=card.meter_number,
            customer_number=card.customer_number,
            issued_at=card.issued_at,
            purchase_count=count,
            amount_fen=5_000,
        )
        start = time.perf_counter()
        written = await service.write(purchase, expect_serial=card.serial)
        timings.append((time.perf_counter() - start) * 1000)
        assert written.issue == purchase
    return timings


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        daemon = Pcscd(Path(tmp) / "pcscd.log")
        daemon.ensure_running()
        card = blank_gateway_card()
        try:
            card.insert(0)
            wait_card_state(GATEWAY_READER, present=True)
            timings = asyncio.run(measure(SAMPLES))
        finally:
            card.remove()
            if daemon.owned:
                daemon.stop()
    median = statistics.median(timings)
    print(
        json.dumps(
            {
                "user_card_write_verify_ms": round(median, 2),
                "p95_ms": round(sorted(timings)[int(len(timings) * 0.95) - 1], 2),
                "samples": len(timings),
                "target_ms": TARGET_MS,
                "ok": median < TARGET_MS,
            }
        )
    )


if __name__ == "__main__":
    main()
