"""`prepaid-gateway simulate --card-reader`: a simulated meter reads cards from a PC/SC reader.

The gateway writes an open card at its reader; carried to the meter's reader, the running
simulator applies it (its wallet is credited once), writes its return data, and saves it.
"""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from gateway.cards import CardReaderConfig, CardReaderService, MeterOutcome, UserCard, UserCardKind
from tests.integration.card_workflows.conftest import GATEWAY, METER
from tests.support.pcsc import GATEWAY_READER, METER_READER, READERS, CardSlots, wait_card_state
from tests.support.vcard import blank_gateway_card

pytestmark = pytest.mark.pcscd

ROOT = Path(__file__).resolve().parents[3]
SECRET = "cli-site-secret"


class Simulator:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "simulate", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:  # readline on a pipe blocks: a thread
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r}: {seen}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


def test_bad_card_reader_options_are_refused() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "simulate", "--tcp", "127.0.0.1:0", "--meters", "2",
         "--card-key", f"secret:{SECRET}", "--card-reader", "A", "--card-reader",
         "000000000001=B"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 2 and "already has a card reader" in out.stderr


async def test_simulated_meter_applies_a_card_from_its_reader(
    card_slots: CardSlots, tmp_path: Path
) -> None:
    state = tmp_path / "meters.json"
    sim = Simulator(
        "--tcp", "127.0.0.1:0", "--meters", "1", "--no-wire-timing", "--load-w", "0",
        "--card-key", f"secret:{SECRET}", "--card-reader", METER_READER, "--state", str(state),
    )  # fmt: skip
    try:
        sim.wait_for("reads IC cards")
        gateway = CardReaderService(
            CardReaderConfig(reader=GATEWAY_READER, site_key=f"secret:{SECRET}")
        )
        card = blank_gateway_card()
        await asyncio.to_thread(wait_card_state, READERS[GATEWAY], False)
        await asyncio.to_thread(card_slots.insert, card, GATEWAY)
        await gateway.write(
            UserCard(
                serial=77,
                meter_number="000000000001",
                customer_number="42",
                issued_at=datetime(2025, 3, 1, 10, 0),
                kind=UserCardKind.OPEN,
                purchase_count=1,
                amount_fen=1234,
            ),
            require_blank=True,
        )
        for _ in range(2):  # the same card twice: credited once
            card.remove()
            await asyncio.to_thread(wait_card_state, READERS[METER], False)
            await asyncio.to_thread(card_slots.insert, card, METER)
            line = await asyncio.to_thread(sim.wait_for, "serial 77")
            assert "credited" in line or "return_write_only" in line, line
        card.remove()
        await asyncio.to_thread(wait_card_state, READERS[GATEWAY], False)
        await asyncio.to_thread(card_slots.insert, card, GATEWAY)
        back = await gateway.read_user_card()
        assert back.ret is not None and back.ret.outcome is MeterOutcome.RETURN_WRITE_ONLY
        assert (back.ret.remaining_fen, back.ret.purchase_count) == (1234, 1)
    finally:
        assert sim.stop() == 0
    [meter] = json.loads(state.read_text())["meters"]
    assert (meter["remaining"], meter["purchase_count"], meter["card_serial"]) == (1234, 1, 77)
    assert meter["customer_number"] == "000000000042"
