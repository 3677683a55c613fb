"""Serial servers over TCP (8E1 via socket://) and DTUs dialling in, with the real simulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import pytest

from gateway.dlt645 import Quantity
from gateway.link import Bus, BusConfig, Buses, NoRouteError, TransportClosedError
from gateway.link.serial_port import SerialConnector
from gateway.link.tcp_client import TcpConnector
from gateway.link.timing import LineTiming
from gateway.meters import MeterDriver, RechargeOutcome
from gateway.simulator.endpoint import SimulatedBus
from gateway.typedconfig import from_dict
from tests.integration.link.conftest import BAUD, make_meters

A1, A2, A3 = "000000000001", "000000000002", "000000000003"
Cli = Callable[..., Any]


@pytest.fixture
async def tcp_sim(free_port: int) -> AsyncIterator[tuple[int, SimulatedBus]]:
    sim = SimulatedBus(make_meters(), baud=BAUD, reply_delay_ms=5)
    server = await sim.serve_tcp("127.0.0.1", free_port)
    yield free_port, sim
    server.close()


async def test_8e1_over_socket_url(tcp_sim: tuple[int, SimulatedBus]) -> None:
    port, sim = tcp_sim
    connector = SerialConnector(f"socket://127.0.0.1:{port}", BAUD, "E", 1)
    assert connector.description.endswith("8E1")
    bus = Bus("server", timing=LineTiming(BAUD, 500), connector=connector)
    for meter in sim.meters:
        value = await MeterDriver(bus, meter.address).read("remaining_money")
        assert value == Quantity(10_000, 2, "yuan")
    await bus.close()


async def test_tcp_client_and_a_recharge(tcp_sim: tuple[int, SimulatedBus]) -> None:
    port, sim = tcp_sim
    bus = Bus(
        "server", timing=LineTiming(BAUD, 500, 200), connector=TcpConnector("127.0.0.1", port)
    )
    driver = MeterDriver(bus, A2)
    assert await driver.recharge(100, 2, "000000000042") is RechargeOutcome.APPLIED
    assert sim.meters[1].remaining == 10_100
    await bus.close()


async def test_cli_over_tcp(tcp_sim: tuple[int, SimulatedBus], cli: Cli) -> None:
    port, _ = tcp_sim
    code, out, err = await cli(
        "meter", "read", "--port", f"tcp://127.0.0.1:{port}",
        "--baud", "9600", "--address", "3", "--di", "purchase_count",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip().endswith("Purchase count / 购电次数: 1")


def dtu_buses(port: int) -> Buses:
    config = from_dict(
        BusConfig,
        {
            "name": "gprs",
            "kind": "dtu",
            "listen_host": "127.0.0.1",
            "listen_port": port,
            "request_timeout_s": 10,
            "registration_timeout_s": 5,
            "dtus": [{"id": "DTU0001", "meters": [A1, A2, A3]}],
        },
        "buses[0]",
    )
    return Buses([config])


async def dial(
    sim: SimulatedBus, port: int, dtu_id: str, kind: Literal["ascii", "frame"]
) -> asyncio.Task[None]:
    return asyncio.create_task(
        sim.dial_dtu("127.0.0.1", port, dtu_id=dtu_id, registration=kind, heartbeat_s=0.05)
    )


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def online(buses: Buses, dtu: str) -> None:
    for _ in range(1000):
        if dtu in buses.servers["gprs"].online():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{dtu} never came online")


@pytest.mark.parametrize("kind", ["ascii", "frame"])
async def test_three_meters_read_through_a_dtu(
    free_port: int, kind: Literal["ascii", "frame"]
) -> None:
    buses = dtu_buses(free_port)
    await buses.start()
    meters = make_meters()
    for i, meter in enumerate(meters):
        meter.remaining = 1_000 * (i + 1)
    sim = SimulatedBus(meters, baud=BAUD, reply_delay_ms=5)
    task = await dial(sim, free_port, "DTU0001", kind)
    await online(buses, "DTU0001")
    for i, address in enumerate((A1, A2, A3)):
        for _ in range(3):  # heartbeats every 50 ms keep arriving in between
            value = await MeterDriver(buses.for_meter(address), address).read("remaining_money")
            assert value == Quantity(1_000 * (i + 1), 2, "yuan")
            await asyncio.sleep(0.03)
    assert buses.for_meter(A1).stats.heartbeats >= 1
    assert buses.for_meter(A1).stats.bad_frames == 0
    await stop(task)
    await buses.close()


async def test_dtu_disconnecting_mid_request_fails_fast(free_port: int) -> None:
    buses = dtu_buses(free_port)
    await buses.start()
    sim = SimulatedBus(make_meters(), baud=BAUD, reply_delay_ms=5)
    sim.meters[0].faults.extra_delay_ms = 8_000
    task = await dial(sim, free_port, "DTU0001", "ascii")
    await online(buses, "DTU0001")
    pending = asyncio.create_task(MeterDriver(buses.for_meter(A1), A1).read("remaining_money"))
    await asyncio.sleep(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stop(task)  # the module loses its cellular link
    with pytest.raises(TransportClosedError) as caught:
        await pending
    assert loop.time() - started < 5  # not the 10 s DTU timeout
    assert "DTU DTU0001" in str(caught.value)
    with pytest.raises(NoRouteError):  # offline now: refused at once
        await MeterDriver(buses.for_meter(A2), A2).read("remaining_money")
    await buses.close()


async def test_unknown_dtu_is_refused(free_port: int) -> None:
    buses = dtu_buses(free_port)
    await buses.start()
    sim = SimulatedBus(make_meters(1), baud=BAUD)
    async with asyncio.timeout(10):
        await sim.dial_dtu(
            "127.0.0.1", free_port, dtu_id="DTU9999", heartbeat_s=60
        )  # returns when closed
    assert buses.servers["gprs"].stats.refused_unknown == 1
    assert buses.servers["gprs"].online() == {}
    await buses.close()
