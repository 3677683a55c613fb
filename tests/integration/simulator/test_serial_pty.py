"""The simulator on a real socat pty pair, talked to through pyserial-asyncio-fast (parity N)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import subprocess
from collections.abc import AsyncIterator

import pytest
import serial_asyncio_fast

from gateway.dlt645 import ChecksumError, Deframer, Frame, Quantity
from gateway.dlt645 import commands as cmd
from gateway.simulator import VirtualMeter
from gateway.simulator.endpoint import SimulatedBus, wire_us
from tests.integration.simulator.wire import ask, nothing_within, receive

pytestmark = pytest.mark.pty

Ptys = tuple[str, str, subprocess.Popen[bytes]]


@contextlib.asynccontextmanager
async def served(
    ptys: Ptys, bus: SimulatedBus
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Task[None]]]:
    gateway_side, meter_side, _ = ptys
    ready = asyncio.Event()
    # No parity given: the simulator picks N for a pty by itself.
    task = asyncio.create_task(bus.serve_serial(meter_side, on_ready=ready.set))
    await asyncio.wait_for(ready.wait(), 10)
    reader, writer = await serial_asyncio_fast.open_serial_connection(
        url=gateway_side, baudrate=2400, parity="N"
    )
    try:
        yield reader, writer, task
    finally:
        writer.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await task


async def test_requests_in_arbitrary_chunks_are_answered(ptys: Ptys) -> None:
    meter = VirtualMeter("000000000001", remaining=12_345)
    bus = SimulatedBus([meter], wire_timing=False, reply_delay_ms=0)
    async with served(ptys, bus) as (reader, writer, _):
        request = cmd.read_data("000000000001", 0x00900200)
        raw = b"\x00\x68\x13" + request.to_bytes()  # line noise first, even a stray 68
        for i in range(0, len(raw), 3):
            writer.write(raw[i : i + 3])
            await writer.drain()
            await asyncio.sleep(0.01)
        items, _ = await receive(reader, Deframer())
        reply = items[0]
        assert isinstance(reply, Frame)
        assert cmd.parse_read(request, reply).value() == Quantity(12_345, 2, "yuan")


async def test_wire_timing_delays_replies_by_at_least_the_wire_time(ptys: Ptys) -> None:
    bus = SimulatedBus([VirtualMeter("000000000001")], baud=2400, reply_delay_ms=20)
    async with served(ptys, bus) as (reader, writer, _):
        loop = asyncio.get_running_loop()
        request = cmd.read_data("000000000001", 0x0001FF00)
        writer.write(request.to_bytes())
        await writer.drain()
        sent = loop.time()
        _, raw = await receive(reader, Deframer())
        elapsed = loop.time() - sent
        minimum = 0.020 + wire_us(len(request.to_bytes()) + len(raw), 2400) / 1e6
        assert elapsed >= minimum - 0.001  # 20 ms + 44 bytes x 11 bits / 2400 bps ≈ 0.30 s


async def test_faults_are_visible_on_the_wire(ptys: Ptys) -> None:
    meters = [VirtualMeter(f"00000000000{i}") for i in (1, 2, 3)]
    meters[0].faults.bad_checksum = True
    meters[1].faults.silent = True
    meters[2].faults.no_preamble = True
    bus = SimulatedBus(meters, wire_timing=False, reply_delay_ms=0)
    async with served(ptys, bus) as (reader, writer, _):
        writer.write(cmd.read_data("000000000001", 0x00010000).to_bytes())
        items, _ = await receive(reader, Deframer())
        assert isinstance(items[0], ChecksumError)

        writer.write(cmd.read_data("000000000002", 0x00010000).to_bytes())
        assert await nothing_within(reader, 0.5)

        request = cmd.read_data("000000000003", 0x00010000)
        writer.write(request.to_bytes())
        items, raw = await receive(reader, Deframer())
        assert raw[0] == 0x68  # no FE wake-up bytes
        assert isinstance(items[0], Frame) and items[0].address == "000000000003"


async def test_relay_trip_over_the_pty_changes_the_meter(ptys: Ptys) -> None:
    meter = VirtualMeter("000000000001")
    bus = SimulatedBus([meter], wire_timing=False, reply_delay_ms=0)
    async with served(ptys, bus) as (reader, writer, _):
        valid = dt.datetime.now() + dt.timedelta(minutes=10)
        trip = cmd.relay("000000000001", cmd.RelayAction.TRIP, valid, cmd.Password())
        cmd.check_reply(trip, await ask(reader, writer, trip))
        assert meter.relay_open
        request = cmd.read_data("000000000001", 0x04000503)
        word = cmd.parse_read(request, await ask(reader, writer, request)).value()
        assert isinstance(word, int) and word & 0x10


async def test_pulling_the_cable_ends_serving_with_an_error(ptys: Ptys) -> None:
    bus = SimulatedBus([VirtualMeter("000000000001")])
    async with served(ptys, bus) as (_, _, task):
        await asyncio.sleep(0.2)
        ptys[2].send_signal(signal.SIGKILL)  # socat gone: both ptys vanish
        ptys[2].wait()
        with pytest.raises(OSError):
            await asyncio.wait_for(task, 10)
