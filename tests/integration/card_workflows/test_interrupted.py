"""A card pulled out mid-write is written again (repeat) or put back (abandon), never half
booked; with pcscd stopped every card workflow says so (E401) and books nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cards import MeterOutcome
from gateway.cards.errors import IncompleteWriteError, ReaderServiceDownError, WrongCardError
from gateway.services.errors import ServiceError
from gateway.store import vends
from tests.integration.card_workflows.conftest import CLERK, GATEWAY, Desk
from tests.support.pcsc import Pcscd
from tests.support.vcard import CpuCard

pytestmark = pytest.mark.pcscd

ROOT = Path(__file__).resolve().parents[3]


def pull_at_commit(card: CpuCard) -> None:
    """Pull the card out just before the commit byte (offset 95) of the issue file is written:
    the body is on the card, the write is not finished."""
    card.pull_before = lambda apdu: apdu[1] == 0xD6 and apdu[2:4] == b"\x00\x5f"


async def sold_and_loaded(desk: Desk, index: int) -> tuple[str, int, CpuCard]:
    address, account = desk.site.meter("money", index)
    assert account is not None
    card = await desk.new_card()
    await desk.cards.open_purchase(CLERK, account, 2000, "open")
    await desk.at_meter(card, address)
    return address, account, card


async def test_pulled_mid_write_then_repeated_is_booked_and_loaded_once(desk: Desk) -> None:
    address, account, card = await sold_and_loaded(desk, 0)
    pull_at_commit(card)
    with pytest.raises(ServiceError) as err:
        await desk.cards.daily_purchase(CLERK, account, 700, "daily")
    assert err.value.code == "E520" and err.value.vend_id is not None
    vend = await desk.site.db.read(vends.get, err.value.vend_id)
    assert str(vend.state) == "uncertain" and "E405" in (vend.error or "")
    assert (await desk.balance(account)).purchases == 1  # nothing booked

    await desk.carry(card, GATEWAY)  # the operator puts it back
    with pytest.raises(IncompleteWriteError):
        await desk.cards.read_user_card(CLERK)
    with pytest.raises(ServiceError) as busy:  # another sale waits for this one
        await desk.cards.clear_card(CLERK)
    assert busy.value.code == "E526"

    done = await desk.cards.daily_purchase(CLERK, account, 700, "daily")  # same request
    assert done.state == "confirmed" and done.vend_id == vend.id and done.repeated
    balance = await desk.balance(account)
    assert (balance.purchased_fen, balance.purchases) == (2700, 2)
    meter = desk.meter(address)
    first = await desk.at_meter(card, address, back=False)
    assert first.application.credited_fen == 700 and meter.remaining == 2700


async def test_pulled_mid_write_then_abandoned_puts_the_card_back(desk: Desk) -> None:
    address, account, card = await sold_and_loaded(desk, 1)
    before = bytes(card.files[(0x3F00, 0x5047, 0x0001)])
    pull_at_commit(card)
    with pytest.raises(ServiceError) as err:
        await desk.cards.daily_purchase(CLERK, account, 900, "daily")
    vend_id = err.value.vend_id
    assert vend_id is not None

    [unfinished] = await desk.cards.unfinished(CLERK)
    assert unfinished.id == vend_id
    await desk.carry(card, GATEWAY)
    abandoned = await desk.cards.abandon(CLERK, vend_id)
    assert abandoned.state == "failed"
    assert bytes(card.files[(0x3F00, 0x5047, 0x0001)]) == before  # the open card, as it was
    assert (await desk.balance(account)).purchases == 1
    meter = desk.meter(address)
    back = await desk.at_meter(card, address)
    assert back.application.outcome is MeterOutcome.RETURN_WRITE_ONLY
    assert meter.remaining == 2000  # nothing half-applied anywhere

    again = await desk.cards.daily_purchase(CLERK, account, 900, "daily-2")
    assert again.state == "confirmed" and again.purchase_count == 2


async def test_a_pulled_new_card_is_cleared_on_abandon_and_a_blank_proves_nothing(
    desk: Desk,
) -> None:
    _address, account = desk.site.meter("money", 2)
    assert account is not None
    card = await desk.new_card()
    pull_at_commit(card)
    with pytest.raises(ServiceError) as err:
        await desk.cards.open_purchase(CLERK, account, 1000, "open")
    vend_id = err.value.vend_id
    assert vend_id is not None
    other = await desk.new_card()
    with pytest.raises(WrongCardError):  # a blank card cannot show the write did not happen
        await desk.cards.abandon(CLERK, vend_id)
    await desk.swap(other, card)
    abandoned = await desk.cards.abandon(CLERK, vend_id)
    assert abandoned.state == "failed"
    assert (await desk.gateway_reader.read()).blank
    assert (await desk.balance(account)).purchases == 0


async def test_pcscd_stopped_is_e401_and_books_nothing(
    desk: Desk, pcscd: Pcscd, tmp_path: Path
) -> None:
    _address, account = desk.site.meter("money", 3)
    assert account is not None
    if not pcscd.owned:
        # Someone else's pcscd is not ours to stop: the same workflows in a process whose
        # pcsc-lite points at a socket with no daemon behind it.
        _check_in_a_client_without_pcscd(tmp_path)
        return
    await desk.new_card()
    pcscd.stop()
    try:
        for call in (
            desk.cards.open_purchase(CLERK, account, 1000, "open"),
            desk.cards.daily_purchase(CLERK, account, 1000, "daily"),
            desk.cards.read_card(CLERK),
        ):
            with pytest.raises(ReaderServiceDownError) as err:
                await call
            assert err.value.code == "E401" and "pcscd" in err.value.remedy_en
    finally:
        await asyncio.to_thread(pcscd.ensure_running)
    for key in ("open", "daily"):
        assert await desk.site.db.read(vends.get_by_key, key) is None
    assert (await desk.balance(account)).purchases == 0


def _check_in_a_client_without_pcscd(tmp_path: Path) -> None:
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")}
    out = subprocess.run(
        [sys.executable, "-m", "tests.integration.card_workflows.no_pcscd_child", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["codes"] == ["E401", "E401", "E401"], result
    assert result["vends"] == 0 and result["sales"] == 0


async def test_pulled_during_read_back_the_card_holds_the_sale_and_is_booked(desk: Desk) -> None:
    address, account = desk.site.meter("money", 2)
    assert account is not None
    card = await desk.new_card()
    committed = False

    def after_commit(apdu: bytes) -> bool:
        nonlocal committed
        if apdu[1] == 0xD6 and apdu[2:4] == b"\x00\x5f":
            committed = True
            return False
        return committed and apdu[1] == 0xB0  # the read-back: the write is complete

    card.pull_before = after_commit
    with pytest.raises(ServiceError) as err:
        await desk.cards.open_purchase(CLERK, account, 1800, "open")
    vend_id = err.value.vend_id
    assert vend_id is not None and (await desk.balance(account)).purchases == 0

    await desk.carry(card, GATEWAY)
    writes_before = sum(1 for a in card.apdu_log if a[1] == 0xD6)
    kept = await desk.cards.abandon(CLERK, vend_id)  # the card could credit the meter: booked
    assert kept.state == "confirmed" and kept.vend_id == vend_id
    assert sum(1 for a in card.apdu_log if a[1] == 0xD6) == writes_before  # nothing rewritten
    assert (await desk.balance(account)).purchased_fen == 1800
    loaded = await desk.at_meter(card, address, back=False)
    assert loaded.application.credited_fen == 1800 and desk.meter(address).remaining == 1800
