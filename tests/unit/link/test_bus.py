"""The bus: one request in flight, priority order, matching, timeouts, retries, tracing."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest

from gateway.dlt645 import Frame
from gateway.dlt645 import commands as cmd
from gateway.link import (
    BadReplyError,
    Bus,
    BusClosedError,
    BusTimeoutError,
    Direction,
    PortUnavailableError,
    Priority,
    TraceEvent,
    TransportClosedError,
)
from gateway.link.timing import LineTiming
from tests.unit.link.fakes import (
    FakeMeter,
    Script,
    SocketPairConnector,
    eventually,
    read_reply,
    reply_bytes,
)

ENERGY = 0x00010000
MONEY = 0x00900200
A1 = "000000000001"


def make_bus(meter: FakeMeter, *, window_ms: int = 1000, retries: int = 2, **kw: object) -> Bus:
    connector = SocketPairConnector(meter)
    # 115200 baud keeps the wire part of the timeout tiny: the window dominates.
    return Bus("test", timing=LineTiming(115200, window_ms), connector=connector,
               retries=retries, **kw)  # type: ignore[arg-type]  # fmt: skip


def value_of(reply: Frame) -> bytes:
    return reply.data[4:]


async def test_reply_split_into_single_bytes_is_assembled() -> None:
    def handler(request: Frame) -> Script:
        raw = read_reply(request, A1, b"\x78\x56\x34\x12").to_bytes()
        return [(0.002, bytes([b])) for b in raw]

    bus = make_bus(FakeMeter(handler=handler))
    reply = await bus.request(cmd.read_data(A1, ENERGY))
    assert value_of(reply) == b"\x78\x56\x34\x12"
    await bus.close()


async def test_strays_noise_and_bad_checksums_are_skipped_before_the_real_reply() -> None:
    def handler(request: Frame) -> Script:
        other = read_reply(request, "000000000002", b"\x11\x11\x11\x11").to_bytes()
        wrong_di = cmd.reply_to(request, A1, b"\x33\x33\x33\x33" + b"\x22\x22\x22\x22").to_bytes()
        broken = bytearray(read_reply(request, A1, b"\x99\x99\x99\x99").to_bytes())
        broken[-2] ^= 0xFF  # checksum
        good = read_reply(request, A1, b"\x00\x01\x00\x00").to_bytes()
        noise = b"\x00\xff\x68\x12\x16\x16"
        return [(0.0, other + noise), (0.005, wrong_di + bytes(broken)), (0.005, good)]

    bus = make_bus(FakeMeter(handler=handler))
    events: list[TraceEvent] = []
    bus.trace.add(events.append)
    reply = await bus.request(cmd.read_data(A1, ENERGY))
    assert value_of(reply) == b"\x00\x01\x00\x00"
    strays = [e for e in events if e.note.startswith("stray")]
    assert {e.frame.address for e in strays if e.frame} == {"000000000002", A1}
    assert any(e.direction is Direction.ERROR and "E102" in (e.error or "") for e in events)
    assert bus.stats.strays == 2 and bus.stats.bad_frames >= 1
    await bus.close()


async def test_reply_from_another_address_only_is_a_timeout_not_a_value() -> None:
    meter = FakeMeter(
        handler=lambda r: reply_bytes(read_reply(r, "000000000009", b"\x01\x00\x00\x00"))
    )
    bus = make_bus(meter, window_ms=50, retries=1)
    with pytest.raises(BusTimeoutError) as caught:
        await bus.request(cmd.read_data(A1, ENERGY))
    assert caught.value.code == "E120"
    assert "1 frame(s) answering something else" in str(caught.value)
    assert len(meter.received) == 2  # first try + one retry
    await bus.close()


async def test_only_corrupted_replies_give_bad_reply() -> None:
    def handler(request: Frame) -> Script:
        raw = bytearray(read_reply(request, A1, b"\x01\x00\x00\x00").to_bytes())
        raw[-2] = (raw[-2] + 1) & 0xFF
        return [(0.0, bytes(raw))]

    bus = make_bus(FakeMeter(handler=handler), window_ms=50, retries=0)
    with pytest.raises(BadReplyError) as caught:
        await bus.request(cmd.read_data(A1, ENERGY))
    assert caught.value.code == "E123" and "checksum" in str(caught.value)
    await bus.close()


async def test_garbled_stream_never_produces_a_reply() -> None:
    def handler(request: Frame) -> Script:
        raw = bytearray(read_reply(request, A1, b"\x01\x00\x00\x00").to_bytes())
        for i in range(6, len(raw), 3):
            raw[i] ^= 0x5A
        return [(0.0, bytes(raw))]

    bus = make_bus(FakeMeter(handler=handler), window_ms=50, retries=0)
    with pytest.raises((BadReplyError, BusTimeoutError)):
        await bus.request(cmd.read_data(A1, ENERGY))
    assert bus.stats.replies == 0
    await bus.close()


async def test_dropped_reply_is_retried_for_reads() -> None:
    calls = 0

    def handler(request: Frame) -> Script:
        nonlocal calls
        calls += 1
        if calls == 1:
            return []
        return reply_bytes(read_reply(request, A1, b"\x00\x02\x00\x00"))

    bus = make_bus(FakeMeter(handler=handler), window_ms=400)
    reply = await bus.request(cmd.read_data(A1, ENERGY))
    assert value_of(reply) == b"\x00\x02\x00\x00"
    assert calls == 2 and bus.stats.retries == 1 and bus.stats.timeouts == 1
    await bus.close()


async def test_no_retry_when_the_caller_says_so() -> None:
    meter = FakeMeter(handler=lambda r: [])
    bus = make_bus(meter, window_ms=50, retries=3)
    with pytest.raises(BusTimeoutError) as caught:
        await bus.request(cmd.read_data(A1, ENERGY), retry=False)
    assert len(meter.received) == 1
    assert caught.value.request_sent
    await bus.close()


async def test_abnormal_reply_is_returned_for_the_caller_to_parse() -> None:
    meter = FakeMeter()  # no registers: every read gets ERR 02
    bus = make_bus(meter)
    reply = await bus.request(cmd.read_data(A1, ENERGY))
    assert reply.abnormal and reply.data == bytes([cmd.ErrFlag.NO_SUCH_DATA])
    await bus.close()


async def test_requests_are_served_by_priority_then_fifo_one_at_a_time() -> None:
    release = asyncio.Event()
    order: list[int] = []

    async def handler(request: Frame) -> Script:
        di = int.from_bytes(request.data[:4], "little")
        order.append(di)
        if di == 0x99:
            await release.wait()
        return reply_bytes(read_reply(request, A1, b"\x00\x00\x00\x00"))

    bus = make_bus(FakeMeter(handler=handler), window_ms=5000)
    events: list[TraceEvent] = []
    bus.trace.add(events.append)
    blocker = asyncio.create_task(bus.request(cmd.read_data(A1, 0x99)))
    await eventually(lambda: order)
    tasks = [
        asyncio.create_task(bus.request(cmd.read_data(A1, di), priority=prio))
        for di, prio in [
            (1, Priority.POLL),
            (2, Priority.ALARM),
            (3, Priority.OPERATOR),
            (4, Priority.POLL),
            (5, Priority.OPERATOR),
            (6, Priority.ALARM),
        ]
    ]
    await asyncio.sleep(0.02)
    assert bus.waiting() == {Priority.OPERATOR: 2, Priority.ALARM: 2, Priority.POLL: 2}
    release.set()
    await asyncio.gather(blocker, *tasks)
    assert order == [0x99, 3, 5, 2, 6, 1, 4]
    # On the wire: never a second request before the previous reply.
    wire = [e.direction for e in events if e.direction in (Direction.TX, Direction.RX)]
    assert wire == [Direction.TX, Direction.RX] * 7
    await bus.close()


async def test_a_cancelled_waiter_does_not_block_the_others() -> None:
    release = asyncio.Event()

    async def handler(request: Frame) -> Script:
        if request.data[:4] == b"\x99\x00\x00\x00":
            await release.wait()
        return reply_bytes(read_reply(request, A1, b"\x00\x00\x00\x00"))

    meter = FakeMeter(handler=handler)
    bus = make_bus(meter, window_ms=5000)
    blocker = asyncio.create_task(bus.request(cmd.read_data(A1, 0x99)))
    await asyncio.sleep(0.01)
    doomed = asyncio.create_task(bus.request(cmd.read_data(A1, 1), priority=Priority.OPERATOR))
    later = asyncio.create_task(bus.request(cmd.read_data(A1, 2)))
    await asyncio.sleep(0.01)
    doomed.cancel()
    release.set()
    await blocker
    await later
    assert [r.data[:4] for r in meter.received] == [b"\x99\x00\x00\x00", b"\x02\x00\x00\x00"]
    await bus.close()


async def test_trace_sees_the_exact_bytes_both_ways() -> None:
    bus = make_bus(FakeMeter(registers={MONEY: b"\x00\x10\x00\x00"}))
    events: list[TraceEvent] = []
    remove = bus.trace.add(events.append)
    request = cmd.read_data(A1, MONEY)
    await bus.request(request)
    assert [e.direction for e in events] == [Direction.TX, Direction.RX]
    assert events[0].raw == request.to_bytes(True)
    assert (
        events[0].raw.hex(" ").upper()
        == "FE FE FE FE 68 01 00 00 00 00 00 68 11 04 33 35 C3 33 44 16"
    )
    assert events[1].raw == read_reply(request, A1, b"\x00\x10\x00\x00").to_bytes(False)
    assert events[1].bus == "test" and events[1].at >= events[0].at
    remove()
    await bus.request(request)
    assert len(events) == 2
    await bus.close()


async def test_a_failing_trace_hook_does_not_break_the_bus() -> None:
    bus = make_bus(FakeMeter(registers={MONEY: b"\x00\x10\x00\x00"}))

    def broken(event: TraceEvent) -> None:
        raise RuntimeError("display gone")

    bus.trace.add(broken)
    reply = await bus.request(cmd.read_data(A1, MONEY))
    assert value_of(reply) == b"\x00\x10\x00\x00"
    await bus.close()


async def test_cable_pulled_mid_request_fails_at_once_then_reconnects() -> None:
    pulled = asyncio.Event()
    connector: SocketPairConnector

    def handler(request: Frame) -> Script:
        if not pulled.is_set():
            pulled.set()
            connector.pull_cable()
            return []
        return reply_bytes(read_reply(request, A1, b"\x00\x03\x00\x00"))

    meter = FakeMeter(handler=handler)
    connector = SocketPairConnector(meter)
    bus = Bus("test", timing=LineTiming(2400, 10_000), connector=connector)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransportClosedError) as caught:
        await bus.request(cmd.read_data(A1, ENERGY))
    assert loop.time() - started < 5  # not the 10 s reply window
    assert caught.value.code == "E122" and caught.value.request_sent
    assert not bus.connected
    reply = await bus.request(cmd.read_data(A1, ENERGY))
    assert value_of(reply) == b"\x00\x03\x00\x00" and connector.opens == 2
    await bus.close()


async def test_closing_the_bus_fails_the_pending_and_waiting_requests() -> None:
    meter = FakeMeter(handler=lambda r: [])
    bus = make_bus(meter, window_ms=10_000)
    first = asyncio.create_task(bus.request(cmd.read_data(A1, ENERGY)))
    second = asyncio.create_task(bus.request(cmd.read_data(A1, MONEY)))
    await asyncio.sleep(0.02)
    await bus.close()
    with pytest.raises(TransportClosedError):
        await first
    with pytest.raises(BusClosedError):
        await second
    with pytest.raises(BusClosedError):
        await bus.request(cmd.read_data(A1, ENERGY))


async def test_port_that_cannot_open_backs_off_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    meter = FakeMeter(registers={ENERGY: b"\x00\x00\x00\x00"})
    connector = SocketPairConnector(meter, fail=True)
    bus = Bus("test", timing=LineTiming(9600, 100), connector=connector, clock=lambda: now[0],
              backoff_initial_s=2.0)  # fmt: skip
    caplog.set_level(logging.INFO, logger="gateway.link.bus")
    for _ in range(3):
        with pytest.raises(PortUnavailableError) as caught:
            await bus.request(cmd.read_data(A1, ENERGY))
    assert caught.value.code == "E124" and "next attempt in 2 s" in str(caught.value)
    assert connector.opens == 1  # the backoff kept the next two from hammering the port
    now[0] += 2.5
    with pytest.raises(PortUnavailableError):
        await bus.request(cmd.read_data(A1, ENERGY))
    assert connector.opens == 2
    now[0] += 3.0  # backoff doubled to 4 s
    with pytest.raises(PortUnavailableError):
        await bus.request(cmd.read_data(A1, ENERGY))
    assert connector.opens == 2
    now[0] += 1.5
    connector.fail = False
    await bus.request(cmd.read_data(A1, ENERGY))
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    recoveries = [r for r in caplog.records if "working again" in r.getMessage()]
    assert len(failures) == 1 and len(recoveries) == 1
    await bus.close()


async def test_broadcast_is_sent_without_waiting_for_a_reply() -> None:
    meter = FakeMeter()
    bus = make_bus(meter)
    frame = cmd.broadcast_time(dt.datetime(2026, 8, 15, 12, 34, 56))
    await bus.send(frame)
    await asyncio.sleep(0.01)
    assert meter.received == [frame]
    await bus.close()


async def test_an_abandoned_request_keeps_the_line_until_its_reply() -> None:
    def handler(request: Frame) -> Script:
        delay = 0.15 if request.data[:4] == b"\x01\x00\x00\x00" else 0.0
        return [(delay, read_reply(request, A1, b"\x00\x00\x00\x00").to_bytes())]

    bus = make_bus(FakeMeter(handler=handler), window_ms=2000)
    events: list[TraceEvent] = []
    bus.trace.add(events.append)
    abandoned = asyncio.create_task(bus.request(cmd.read_data(A1, 1)))
    await eventually(lambda: events)
    abandoned.cancel()
    await bus.request(cmd.read_data(A1, 2))
    wire = [(e.direction, e.note) for e in events if e.direction in (Direction.TX, Direction.RX)]
    # The second request waited for the late answer instead of talking over it.
    assert wire == [
        (Direction.TX, ""),
        (Direction.RX, "stray: not the awaited reply"),
        (Direction.TX, ""),
        (Direction.RX, ""),
    ]
    await bus.close()
