"""The real simulator as the meter, on a socat pty pair, on TCP, or dialling in as a DTU."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.link import Bus
from gateway.link.serial_port import SerialConnector
from gateway.link.timing import LineTiming
from gateway.simulator import VirtualMeter
from gateway.simulator.endpoint import SimulatedBus

ADDRESSES = ("000000000001", "000000000002", "000000000003")
BAUD = 9600  # wire timing on, but fast enough to keep the folder quick


def make_meters(n: int = 3, **kw: object) -> list[VirtualMeter]:
    """Money meters with 100.00 yuan, account opened, no load (balances stay put)."""
    return [
        VirtualMeter(
            f"{i + 1:012d}",
            remaining=10_000,
            purchase_count=1,
            customer_number="000000000042",
            load_w=0,
            **kw,  # type: ignore[arg-type]
        )
        for i in range(n)
    ]


@dataclass
class PtySim:
    port: str  # the gateway's side of the pty pair
    meters: list[VirtualMeter]
    sim: SimulatedBus
    socat: subprocess.Popen[bytes]

    def bus(self, *, window_ms: int = 500, retries: int = 1) -> Bus:
        return Bus(
            "pty",
            timing=LineTiming(BAUD, window_ms),
            connector=SerialConnector(self.port, BAUD, "N"),
            retries=retries,
        )

    def meter(self, address: str) -> VirtualMeter:
        return next(m for m in self.meters if m.address == address)


async def _serve(sim: SimulatedBus, meter_side: str) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(sim.serve_serial(meter_side, parity="N"))
    await asyncio.sleep(0.05)  # the port is open before the first request
    yield task
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


@pytest.fixture
async def pty_sim(ptys: tuple[str, str, subprocess.Popen[bytes]]) -> AsyncIterator[PtySim]:
    """Three money meters on one simulated line behind a socat pty pair."""
    gw, meter_side, socat = ptys
    meters = make_meters()
    sim = SimulatedBus(meters, baud=BAUD, reply_delay_ms=5)
    async for _ in _serve(sim, meter_side):
        yield PtySim(gw, meters, sim, socat)


@pytest.fixture
async def lone_pty_sim(ptys: tuple[str, str, subprocess.Popen[bytes]]) -> AsyncIterator[PtySim]:
    """One meter alone on the line (read-address works only then)."""
    gw, meter_side, socat = ptys
    meters = make_meters(1)
    sim = SimulatedBus(meters, baud=BAUD, reply_delay_ms=5)
    async for _ in _serve(sim, meter_side):
        yield PtySim(gw, meters, sim, socat)


@pytest.fixture
def cli() -> Callable[..., asyncio.Future[tuple[int, str, str]]]:
    """Run ``prepaid-gateway ARGS`` as a real subprocess; the event loop keeps serving meanwhile."""
    exe = Path(sys.executable).with_name("prepaid-gateway")
    assert exe.exists(), f"{exe} missing: install the package (make test does)"

    async def run(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            exe, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    return run  # type: ignore[return-value]
