"""The simulator as a TCP serial server and as a DTU dialling a listener, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

from gateway.dlt645 import Deframer, Frame, Quantity, SecurityError
from gateway.dlt645 import commands as cmd
from gateway.simulator import VirtualMeter
from gateway.simulator.endpoint import SimulatedBus, wire_us
from tests.integration.simulator.wire import TIMEOUT, ask, nothing_within, receive

CUSTOMER = "000000000123"


@contextlib.asynccontextmanager
async def tcp_server(bus: SimulatedBus) -> AsyncIterator[int]:
    server = await bus.serve_tcp("127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_recharge_on_one_connection_replay_on_another() -> None:
    meter = VirtualMeter("000000000001")
    bus = SimulatedBus([meter], wire_timing=False, reply_delay_ms=0)
    async with tcp_server(bus) as port:
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        opening = cmd.open_account("000000000001", "0", cmd.RechargePayload(1_000, 1, CUSTOMER))
        cmd.check_reply(opening, await ask(r1, w1, opening))
        charge = cmd.recharge("000000000001", "0", cmd.RechargePayload(2_000, 2, CUSTOMER))
        cmd.check_reply(charge, await ask(r1, w1, charge))
        try:
            cmd.check_reply(charge, await ask(r2, w2, charge))
        except SecurityError as exc:
            assert exc.repeated_recharge
        else:
            raise AssertionError("a replayed recharge must be refused")
        request = cmd.read_data("000000000001", 0x00900200)
        value = cmd.parse_read(request, await ask(r2, w2, request)).value()
        assert value == Quantity(3_000, 2, "yuan")
        assert meter.purchase_count == 2
        for w in (w1, w2):
            w.close()


async def test_noise_and_random_chunking_with_several_requests_per_write() -> None:
    meters = [VirtualMeter(f"00000000000{i}", remaining=i * 100) for i in (1, 2, 3)]
    bus = SimulatedBus(meters, wire_timing=False, reply_delay_ms=0)
    requests = [cmd.read_data(m.address, 0x00900200) for m in meters]
    stream = b"\xfe\x16\x68\x99" + b"".join(r.to_bytes() for r in requests)
    rng = random.Random(4)
    async with tcp_server(bus) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = 0
        while i < len(stream):
            n = rng.randint(1, 7)
            writer.write(stream[i : i + n])
            await writer.drain()
            i += n
        deframer, frames = Deframer(), list[Frame]()
        while len(frames) < 3:
            items, _ = await receive(reader, deframer)
            frames += [x for x in items if isinstance(x, Frame)]
        values = [cmd.parse_read(q, f).value() for q, f in zip(requests, frames, strict=True)]
        assert values == [Quantity(n, 2, "yuan") for n in (100, 200, 300)]
        writer.close()


async def test_wire_timing_over_tcp_at_1200_bps() -> None:
    bus = SimulatedBus([VirtualMeter("000000000001")], baud=1200, reply_delay_ms=50)
    async with tcp_server(bus) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        request = cmd.read_data("000000000001", 0x00010000)
        writer.write(request.to_bytes())
        await writer.drain()
        sent = loop.time()
        _, raw = await receive(reader, Deframer())
        elapsed = loop.time() - sent
        assert elapsed >= 0.050 + wire_us(len(request.to_bytes()) + len(raw), 1200) / 1e6 - 0.001
        writer.close()


class DtuListener:
    """A minimal gateway side: accepts one DTU, hands over its streams."""

    def __init__(self) -> None:
        self.connected: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
        self.connected = asyncio.Queue()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.connected.put((reader, writer))


async def _read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), TIMEOUT)


async def test_dtu_registers_heartbeats_serves_three_meters_and_ends_on_hangup() -> None:
    meters = [VirtualMeter(f"00000000000{i}", remaining=i * 1_000) for i in (1, 2, 3)]
    bus = SimulatedBus(meters, wire_timing=False, reply_delay_ms=0)
    listener = DtuListener()
    server = await asyncio.start_server(listener, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dtu = asyncio.create_task(
        bus.dial_dtu("127.0.0.1", port, dtu_id="DTU0001", registration="ascii", heartbeat_s=0.3)
    )
    reader, writer = await asyncio.wait_for(listener.connected.get(), TIMEOUT)
    assert await _read_exactly(reader, 9) == b"DTU0001\r\n"
    for m in meters:
        request = cmd.read_data(m.address, 0x00900200)
        writer.write(request.to_bytes())
        await writer.drain()
        data = b""
        while True:  # heartbeats may come before the reply, never inside it
            data += await asyncio.wait_for(reader.read(4096), TIMEOUT)
            frames = [x for x in Deframer().feed(data) if isinstance(x, Frame)]
            if frames:
                break
        value = cmd.parse_read(request, frames[0]).value()
        assert value == Quantity(m.remaining, 2, "yuan")
    assert await _read_exactly(reader, 9) == b"DTU0001\r\n"  # a heartbeat
    writer.close()
    await asyncio.wait_for(dtu, TIMEOUT)  # the DTU notices the hang-up and returns
    server.close()


async def test_dtu_frame_registration() -> None:
    bus = SimulatedBus([VirtualMeter("000000000042")], wire_timing=False, reply_delay_ms=0)
    listener = DtuListener()
    server = await asyncio.start_server(listener, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dtu = asyncio.create_task(
        bus.dial_dtu("127.0.0.1", port, dtu_id="867530900000001", registration="frame")
    )
    reader, writer = await asyncio.wait_for(listener.connected.get(), TIMEOUT)
    items, _ = await receive(reader, Deframer())
    frame = items[0]
    assert isinstance(frame, Frame)
    assert (frame.address, frame.control) == ("000000000042", 0x91)
    assert frame.data == bytes.fromhex("80808080") + b"867530900000001"
    writer.close()
    await asyncio.wait_for(dtu, TIMEOUT)
    server.close()


async def test_lost_reply_after_a_credited_recharge_then_recovery_by_count() -> None:
    meter = VirtualMeter("000000000001", remaining=1_000)
    bus = SimulatedBus([meter], wire_timing=False, reply_delay_ms=0)
    async with tcp_server(bus) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        meter.faults.drop_rate_pct = 100
        charge = cmd.recharge("000000000001", "0", cmd.RechargePayload(500, 1, CUSTOMER))
        writer.write(charge.to_bytes())
        await writer.drain()
        assert await nothing_within(reader, 0.5)  # the gateway hears nothing...
        meter.faults.drop_rate_pct = 0
        query = cmd.status_query("000000000001", "0")
        status = cmd.parse_status_query(query, await ask(reader, writer, query))
        assert (status.purchase_count, status.remaining_fen) == (1, 1_500)  # ...but it happened
        try:
            cmd.check_reply(charge, await ask(reader, writer, charge))
        except SecurityError as exc:
            assert exc.repeated_recharge  # resending is safe: reported as already done
        else:
            raise AssertionError("the resent recharge must not credit twice")
        assert meter.remaining == 1_500
        writer.close()


async def test_extra_delay_fault_and_one_byte_errors_on_the_wire() -> None:
    meter = VirtualMeter("000000000001")
    meter.faults.extra_delay_ms = 300
    meter.faults.one_byte_03h_errors = True
    bus = SimulatedBus([meter], wire_timing=False, reply_delay_ms=0)
    async with tcp_server(bus) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        loop = asyncio.get_running_loop()
        charge = cmd.recharge("000000000001", "0", cmd.RechargePayload(500, 1, CUSTOMER))
        started = loop.time()
        reply = await ask(reader, writer, charge)
        assert loop.time() - started >= 0.299
        assert (reply.control, reply.data) == (0xC3, b"\x01")  # not opened: SERR 0001 as 1 byte
        writer.close()
