"""pcscd stopped: every operation says "card reader service not running" (E401), the monitor
reports it once and reports the recovery, and the same service works again afterwards."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from gateway.cards import CardReaderService, UserCard
from gateway.cards.errors import ReaderServiceDownError
from tests.support.pcsc import CardSlots, Pcscd
from tests.support.vcard import blank_gateway_card

pytestmark = pytest.mark.pcscd


async def test_pcscd_stopped_gives_reader_service_not_running(
    pcscd: Pcscd,
    card_slots: CardSlots,
    gateway_reader: CardReaderService,
    now: datetime,
    tmp_path: Path,
) -> None:
    if not pcscd.owned:
        # pcscd belongs to someone else (systemd, another test run): it is not ours to stop.
        # Point this client at a socket with no daemon behind it instead.
        _check_in_a_client_without_pcscd(tmp_path)
        return
    card = UserCard(serial=1, meter_number="1", customer_number="1", issued_at=now)
    async with gateway_reader.monitor(poll_s=0.2) as monitor:
        pcscd.stop()
        try:
            with pytest.raises(ReaderServiceDownError) as err:
                await gateway_reader.readers()
            assert err.value.code == "E401"
            assert "0x8010001D" in str(err.value)
            assert "读卡器服务" in err.value.remedy_zh and "pcscd" in err.value.remedy_en
            with pytest.raises(ReaderServiceDownError):
                await gateway_reader.read()
            with pytest.raises(ReaderServiceDownError):
                await gateway_reader.write(card, require_blank=True)
            async with asyncio.timeout(15):
                await monitor.wait_for("service_down")
        finally:
            await asyncio.to_thread(pcscd.ensure_running)
        async with asyncio.timeout(15):
            await monitor.wait_for("service_up")
    blank = blank_gateway_card()
    card_slots.insert(blank, 0)
    assert (await gateway_reader.read()).blank


def _check_in_a_client_without_pcscd(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from gateway.cards import CardReaderConfig, CardReaderService
        from gateway.cards.errors import ReaderServiceDownError

        async def main() -> None:
            service = CardReaderService(CardReaderConfig(site_key="secret:x"))
            for op in (service.readers, service.read):
                try:
                    await op()
                except ReaderServiceDownError as exc:
                    print(exc.code, exc)
        asyncio.run(main())
        """
    )
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")}
    out = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("E401") for line in lines), out.stdout
