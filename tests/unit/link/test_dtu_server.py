"""The DTU listener over loopback TCP, with scripted DTUs dialling in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.dlt645 import Frame
from gateway.dlt645 import commands as cmd
from gateway.link import BusConfig, NoRouteError, TransportClosedError
from gateway.link.dtu_server import DtuServer
from gateway.link.registry import Buses
from gateway.link.timing import FixedTiming
from gateway.typedconfig import from_dict
from tests.unit.link.fakes import FakeMeter, Script, eventually, read_reply, reply_bytes

A1, A2, A3 = "000000000001", "000000000002", "000000000003"
ENERGY = 0x00010000


def dtu_config(port: int, **extra: Any) -> BusConfig:
    table = {
        "name": "gprs",
        "kind": "dtu",
        "listen_host": "127.0.0.1",
        "listen_port": port,
        "request_timeout_s": 5,
        "dtus": [
            {"id": "DTU0001", "meters": [A1, A2]},
            {"id": "DTU0002", "meters": [A3]},
        ],
        **extra,
    }
    return from_dict(BusConfig, table, "buses[0]")


@pytest.fixture
async def buses(free_port: int) -> AsyncIterator[Buses]:
    all_buses = Buses([dtu_config(free_port, registration_timeout_s=1, max_unidentified=2)])
    await all_buses.start()
    yield all_buses
    await all_buses.close()


def server(buses: Buses) -> DtuServer:
    return buses.servers["gprs"]


async def dial(
    port: int, registration: bytes, meter: FakeMeter
) -> tuple[asyncio.Task[None], asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(registration)
    return asyncio.create_task(meter.serve(reader, writer)), reader, writer


async def wait_online(buses: Buses, dtu: str) -> None:
    await eventually(lambda: dtu in server(buses).online(), what=f"{dtu} online")


async def test_ascii_dtu_is_routed_and_heartbeats_are_stripped(buses: Buses) -> None:
    def handler(request: Frame) -> Script:
        raw = read_reply(request, request.address, b"\x00\x50\x00\x00").to_bytes()
        return [(0.0, raw[:7]), (0.0, b"DTU0001\r\n"), (0.0, raw[7:] + b"DTU0001\r\n")]

    task, _, _ = await dial(server(buses).port, b"DTU0001\r\n", FakeMeter(handler=handler))
    await wait_online(buses, "DTU0001")
    for meter in (A1, A2):
        bus = buses.for_meter(meter)
        assert bus.name == "gprs/DTU0001"
        reply = await bus.request(cmd.read_data(meter, ENERGY))
        assert reply.address == meter and reply.data[4:] == b"\x00\x50\x00\x00"
    assert buses.for_meter(A1).stats.heartbeats == 4
    task.cancel()


async def test_frame_registration_with_dtu_id(buses: Buses) -> None:
    registration = Frame(A3, 0x91, b"\x80\x80\x80\x80DTU0002").to_bytes()
    meter = FakeMeter(address=A3, registers={ENERGY: b"\x01\x00\x00\x00"})
    task, _, writer = await dial(server(buses).port, registration, meter)
    await wait_online(buses, "DTU0002")
    writer.write(registration)  # a heartbeat before the request: must not disturb it
    reply = await buses.for_meter(A3).request(cmd.read_data(A3, ENERGY))
    assert reply.data[4:] == b"\x01\x00\x00\x00"
    task.cancel()


async def test_offline_dtu_is_no_route(buses: Buses) -> None:
    with pytest.raises(NoRouteError) as caught:
        await buses.for_meter(A3).request(cmd.read_data(A3, ENERGY))
    assert caught.value.code == "E121" and "DTU0002 is offline" in str(caught.value)
    with pytest.raises(NoRouteError):
        buses.for_meter("000000000099")


async def test_unknown_dtu_is_refused_and_logged_once(
    buses: Buses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", server(buses).port)
        writer.write(b"DTU9999\r\n")
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # closed by the gateway
        writer.close()
    assert server(buses).stats.refused_unknown == 2
    assert len([r for r in caplog.records if "refused DTU DTU9999" in r.getMessage()]) == 1


async def test_dtu_disconnecting_mid_request_fails_fast(buses: Buses) -> None:
    writers: list[asyncio.StreamWriter] = []

    def handler(request: Frame) -> Script:
        writers[0].close()
        return []

    meter = FakeMeter(handler=handler)
    task, _, writer = await dial(server(buses).port, b"DTU0001\r\n", meter)
    writers.append(writer)
    await wait_online(buses, "DTU0001")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransportClosedError) as caught:
        await buses.for_meter(A1).request(cmd.read_data(A1, ENERGY))
    assert loop.time() - started < 4  # well before the 5 s DTU timeout
    assert "DTU DTU0001" in str(caught.value) and caught.value.request_sent
    task.cancel()


async def test_a_flood_of_silent_connections_cannot_keep_a_dtu_out(buses: Buses) -> None:
    port = server(buses).port
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
    async with asyncio.timeout(5):
        closed_at_once = 0
        for reader, _ in silent[2:]:
            closed_at_once += await reader.read() == b""
    assert closed_at_once == 3 and server(buses).stats.refused_busy == 3
    # The two registering ones time out after registration_timeout_s = 1 ...
    async with asyncio.timeout(5):
        for reader, _ in silent[:2]:
            assert await reader.read() == b""
    # ... and the real DTU gets in.
    meter = FakeMeter(registers={ENERGY: b"\x02\x00\x00\x00"})
    task, _, _ = await dial(port, b"DTU0001\r\n", meter)
    await wait_online(buses, "DTU0001")
    reply = await buses.for_meter(A1).request(cmd.read_data(A1, ENERGY))
    assert reply.data[4:] == b"\x02\x00\x00\x00"
    for _, writer in silent:
        writer.close()
    task.cancel()


async def test_a_redial_replaces_the_old_connection(buses: Buses) -> None:
    old_task, old_reader, _ = await dial(server(buses).port, b"DTU0001\r\n", FakeMeter())
    await wait_online(buses, "DTU0001")
    new_meter = FakeMeter(registers={ENERGY: b"\x03\x00\x00\x00"})
    new_task, _, new_writer = await dial(server(buses).port, b"DTU0001\r\n", new_meter)
    await eventually(lambda: server(buses).stats.registered == 2, what="second registration")
    reply = await buses.for_meter(A1).request(cmd.read_data(A1, ENERGY))
    assert reply.data[4:] == b"\x03\x00\x00\x00"
    assert len(new_meter.received) == 1
    async with asyncio.timeout(5):
        assert await old_reader.read() == b""  # the gateway closed the stale connection
    new_writer.close()
    old_task.cancel()
    new_task.cancel()


async def test_silent_dtu_is_closed_after_the_idle_timeout(free_port: int) -> None:
    buses = Buses([dtu_config(free_port, idle_timeout_s=1)])
    await buses.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", free_port)
    writer.write(b"DTU0002\r\n")
    await wait_online(buses, "DTU0002")
    async with asyncio.timeout(10):
        assert await reader.read() == b""
    assert not buses.for_meter(A3).connected
    writer.close()
    await buses.close()


async def test_dtu_read_retries_after_a_lost_reply(buses: Buses) -> None:
    calls = 0

    def handler(request: Frame) -> Script:
        nonlocal calls
        calls += 1
        return [] if calls == 1 else reply_bytes(read_reply(request, A1, b"\x04\x00\x00\x00"))

    task, _, _ = await dial(server(buses).port, b"DTU0001\r\n", FakeMeter(handler=handler))
    await wait_online(buses, "DTU0001")
    bus = buses.for_meter(A1)
    bus.timing = FixedTiming(1.0)  # a short DTU timeout keeps the test fast
    reply = await bus.request(cmd.read_data(A1, ENERGY))
    assert reply.data[4:] == b"\x04\x00\x00\x00" and calls == 2
    task.cancel()


async def test_an_unlisted_id_is_refused_even_with_a_known_meter_address(buses: Buses) -> None:
    registration = Frame(A1, 0x91, b"\x80\x80\x80\x80DTU0666").to_bytes()
    reader, writer = await asyncio.open_connection("127.0.0.1", server(buses).port)
    writer.write(registration)
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    assert server(buses).stats.refused_unknown == 1
    writer.close()


async def test_a_plain_frame_from_a_known_meter_registers_its_dtu(buses: Buses) -> None:
    meter = FakeMeter(address=A3, registers={ENERGY: b"\x05\x00\x00\x00"})
    hello = cmd.reply_to(cmd.read_data(A3, ENERGY), A3, b"\x00\x00\x01\x00\x05\x00\x00\x00")
    task, _, _ = await dial(server(buses).port, hello.to_bytes(), meter)
    await wait_online(buses, "DTU0002")
    reply = await buses.for_meter(A3).request(cmd.read_data(A3, ENERGY))
    assert reply.data[4:] == b"\x05\x00\x00\x00"
    task.cancel()
