"""The meter driver over a real pty pair to the simulator: money, relay, faults, cable pulled."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal

import pytest

from gateway.dlt645 import Frame, Quantity
from gateway.dlt645 import commands as cmd
from gateway.link import (
    BadReplyError,
    BusTimeoutError,
    PortUnavailableError,
    Rs485Config,
    TransportClosedError,
)
from gateway.link.serial_port import SerialConnector
from gateway.meters import (
    MeterDriver,
    MeterProfile,
    MeterRefusedError,
    RechargeOutcome,
    RechargeRefusedError,
    broadcast_time,
)
from tests.integration.link.conftest import PtySim

A1, A2, A3 = "000000000001", "000000000002", "000000000003"
CUSTOMER = "000000000042"


async def test_recharge_credits_once_replay_is_already_done_wrong_count_refused(
    pty_sim: PtySim,
) -> None:
    bus = pty_sim.bus()
    meter = pty_sim.meter(A1)
    driver = MeterDriver(bus, A1)
    before = await driver.wallet_status()
    assert (before.remaining, before.purchase_count, before.customer_number) == (
        10_000,
        1,
        CUSTOMER,
    )

    n = before.purchase_count
    assert await driver.recharge(5_000, n + 1, CUSTOMER) is RechargeOutcome.APPLIED
    assert (meter.remaining, meter.purchase_count) == (15_000, 2)

    assert await driver.recharge(5_000, n + 1, CUSTOMER) is RechargeOutcome.ALREADY_APPLIED
    assert (meter.remaining, meter.purchase_count) == (15_000, 2)  # credited once

    with pytest.raises(RechargeRefusedError) as caught:
        await driver.recharge(5_000, n + 5, CUSTOMER)
    assert "PURCHASE_COUNT_ERROR" in str(caught.value)
    assert (meter.remaining, meter.purchase_count) == (15_000, 2)

    after = await driver.wallet_status()
    assert (after.remaining, after.purchase_count) == (15_000, 2)
    reads = MeterDriver(bus, A1, profile=MeterProfile(wallet_query="reads"))
    assert (await reads.wallet_status()).remaining == 15_000
    await bus.close()


async def test_open_account_on_a_new_meter(pty_sim: PtySim) -> None:
    bus = pty_sim.bus()
    meter = pty_sim.meter(A2)
    meter.account_opened = False
    meter.remaining = 0
    meter.purchase_count = 0
    driver = MeterDriver(bus, A2)
    assert await driver.open_account(2_000, 1, "77") is RechargeOutcome.APPLIED
    assert (
        meter.account_opened and meter.remaining == 2_000 and meter.customer_number.endswith("77")
    )
    await bus.close()


async def test_relay_actions_read_back(pty_sim: PtySim) -> None:
    bus = pty_sim.bus()
    meter = pty_sim.meter(A3)
    driver = MeterDriver(bus, A3)
    result = await driver.relay(cmd.RelayAction.TRIP)
    assert result.state.relay_open and meter.relay_open
    await driver.relay(cmd.RelayAction.CLOSE_ALLOWED)
    state = await driver.relay_state()
    assert state.relay_open and not state.command_open  # waiting for the customer's button
    await driver.relay(cmd.RelayAction.KEEP_POWER_ON)
    assert meter.keep_power and not meter.relay_open  # keep-power restores supply
    with pytest.raises(MeterRefusedError, match="keep-power on"):
        await driver.relay(cmd.RelayAction.TRIP)  # refused while keep-power is on
    assert not meter.relay_open
    await driver.relay(cmd.RelayAction.KEEP_POWER_OFF)
    level98 = MeterDriver(bus, A3, profile=MeterProfile(relay_form="level98"))
    await level98.relay(cmd.RelayAction.TRIP)
    assert meter.relay_open
    await bus.close()


async def test_block_reads_follow_up_frames_from_the_simulator(pty_sim: PtySim) -> None:
    meter = pty_sim.meter(A1)
    meter.split_blocks = True
    meter.energy_cwh = 500
    meter.tariff_cwh = [100, 200, 150, 50]
    bus = pty_sim.bus()
    values = await MeterDriver(bus, A1).read("forward_active_block")
    assert values == tuple(Quantity(x, 2, "kWh") for x in (500, 100, 200, 150, 50))
    assert (
        await MeterDriver(bus, A1, profile=MeterProfile(supports_block_reads=False)).read(
            "forward_active_block"
        )
        == values
    )
    await bus.close()


async def test_time_sync_per_meter_and_broadcast(pty_sim: PtySim) -> None:
    bus = pty_sim.bus()
    target = dt.datetime(2026, 8, 15, 12, 34, 56)
    driver = MeterDriver(bus, A1, clock=lambda: target)
    await driver.set_time()
    clock = await driver.read_clock()
    assert abs((clock - target).total_seconds()) <= 2
    await broadcast_time(bus, dt.datetime(2026, 9, 1, 8, 0, 0))
    for address in (A2, A3):
        clock = await MeterDriver(bus, address).read_clock()
        assert abs((clock - dt.datetime(2026, 9, 1, 8, 0, 0)).total_seconds()) <= 2
    await bus.close()


@pytest.mark.parametrize("fault", ["bad_checksum", "garble"])
async def test_corrupted_replies_never_produce_a_value(pty_sim: PtySim, fault: str) -> None:
    meter = pty_sim.meter(A1)
    setattr(meter.faults, fault, True)
    bus = pty_sim.bus(window_ms=100)
    with pytest.raises((BadReplyError, BusTimeoutError)) as caught:
        await MeterDriver(bus, A1).read("remaining_money")
    if fault == "bad_checksum":
        assert isinstance(caught.value, BadReplyError) and "checksum" in str(caught.value)
    assert bus.stats.replies == 0
    setattr(meter.faults, fault, False)
    await bus.close()
    bus = pty_sim.bus()
    assert await MeterDriver(bus, A1).read("remaining_money") == Quantity(10_000, 2, "yuan")
    await bus.close()


async def test_reply_from_the_wrong_address_is_ignored(pty_sim: PtySim) -> None:
    # Meter 2 is told its address is 1's but answers with its own: a wiring/config mix-up.
    impostor = pty_sim.meter(A2)
    pty_sim.sim.meters.remove(pty_sim.meter(A1))
    original = impostor.handle

    def answer_for_a1(request: Frame, now: dt.datetime) -> Frame | None:
        if request.address == A1:
            return original(Frame(A2, request.control, request.data), now)  # carries A2
        return original(request, now)

    impostor.handle = answer_for_a1  # type: ignore[method-assign]
    bus = pty_sim.bus(window_ms=100)
    with pytest.raises(BusTimeoutError, match="frame\\(s\\) answering something else"):
        await MeterDriver(bus, A1).read("remaining_money")
    assert bus.stats.strays >= 1 and bus.stats.replies == 0
    await bus.close()


async def test_cable_pulled_mid_request_is_a_clear_error_at_once(pty_sim: PtySim) -> None:
    bus = pty_sim.bus(window_ms=10_000)
    driver = MeterDriver(bus, A1)
    assert await driver.read("purchase_count") == 1
    pty_sim.meter(A1).faults.extra_delay_ms = 8_000  # the request hangs on the line ...
    pending = asyncio.create_task(driver.read("remaining_money"))
    await asyncio.sleep(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    pty_sim.socat.send_signal(signal.SIGKILL)  # ... and the cable is pulled
    with pytest.raises(TransportClosedError) as caught:
        await pending
    assert loop.time() - started < 5
    assert caught.value.code == "E122" and caught.value.request_sent
    with pytest.raises(TransportClosedError):  # the port is gone: reopening fails clearly
        await driver.read("remaining_money")
    await bus.close()


async def test_kernel_rs485_mode_on_a_pty_is_refused_clearly(pty_sim: PtySim) -> None:
    connector = SerialConnector(pty_sim.port, 9600, "N", 1, Rs485Config(enabled=True))
    with pytest.raises(PortUnavailableError, match="does not support kernel RS485 mode"):
        await connector.open()


async def test_meter_clear_and_address_checks(pty_sim: PtySim) -> None:
    bus = pty_sim.bus()
    driver = MeterDriver(bus, A2)
    assert await driver.verify_address()
    await driver.meter_clear()
    meter = pty_sim.meter(A2)
    assert (meter.remaining, meter.purchase_count, meter.account_opened) == (0, 0, False)
    with pytest.raises(MeterRefusedError) as caught:  # no account any more: the meter says no
        await driver.meter_clear()
    assert caught.value.code == "E130"
    wrong_password = MeterDriver(bus, A1, profile=MeterProfile(password="999999"))
    with pytest.raises(MeterRefusedError, match="UNAUTHORISED"):
        await wrong_password.relay(cmd.RelayAction.TRIP)
    assert not pty_sim.meter(A1).relay_open
    await bus.close()


async def test_read_address_of_the_meter_alone(lone_pty_sim: PtySim) -> None:
    bus = lone_pty_sim.bus()
    assert await MeterDriver(bus, A1).read_address() == A1
    await bus.close()
