"""Bus throughput against the wire limit: polling N simulated meters over a socat pty pair.

The simulator runs in its own process (`prepaid-gateway simulate`) with wire timing on: it
answers each request ``reply delay + (request bytes + reply bytes) x 11 / baud`` after the
request arrived, as a real RS485 line would. The wire limit is one request per that time; the
ratio measured/limit shows how much the gateway (bus, codec, driver, event loop) adds.

Prints one JSON object: ratio_2400, ratio_9600, requests_per_s_2400/9600, wire_limit_per_s_*.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway.dlt645 import commands as cmd
from gateway.link import Bus, Priority
from gateway.link.serial_port import SerialConnector
from gateway.link.timing import LineTiming, wire_seconds
from gateway.meters import MeterDriver

METERS = 8
REPLY_DELAY_MS = 20
DI = 0x00010000  # forward active total: the everyday polling read
SECONDS = {2400: 12.0, 9600: 8.0}


def start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(path: Path, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.01)


async def poll(port: str, baud: int, seconds: float) -> tuple[int, float]:
    bus = Bus("bench", timing=LineTiming(baud, 500), connector=SerialConnector(port, baud, "N"))
    drivers = [MeterDriver(bus, f"{i + 1:012d}") for i in range(METERS)]
    for driver in drivers:  # warm-up: port open, simulator ready, every meter answers
        await driver.read(DI)
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        await drivers[done % METERS].read(DI, priority=Priority.POLL)
        done += 1
    elapsed = time.perf_counter() - started
    await bus.close()
    return done, elapsed


def wire_limit_per_s(baud: int) -> float:
    request = cmd.read_data("000000000001", DI)
    reply = cmd.reply_to(request, "000000000001", request.data + bytes(4))
    nbytes = len(request.to_bytes()) + len(reply.to_bytes())  # both with the 4 FE
    return 1 / (wire_seconds(nbytes, baud) + REPLY_DELAY_MS / 1000)


def run_one(baud: int, workdir: Path) -> dict[str, float]:
    socat = shutil.which("socat")
    if socat is None:
        raise SystemExit("socat is not installed (scripts/install-deps.sh test)")
    gw, meters = workdir / f"gw-{baud}", workdir / f"meters-{baud}"
    link = start([socat, f"pty,raw,echo=0,link={gw}", f"pty,raw,echo=0,link={meters}"])
    sim = None
    try:
        wait_for(gw)
        wait_for(meters)
        exe = str(Path(sys.executable).with_name("prepaid-gateway"))
        sim = start([
            exe, "simulate", "--serial", str(meters), "--meters", str(METERS),
            "--baud", str(baud), "--parity", "N", "--reply-delay-ms", str(REPLY_DELAY_MS),
            "--remaining", "100", "--load-w", "0",
        ])  # fmt: skip
        time.sleep(1.0)  # the simulator opens its side of the pty
        done, elapsed = asyncio.run(poll(str(gw), baud, SECONDS[baud]))
    finally:
        if sim is not None:
            stop(sim)
        stop(link)
    measured = done / elapsed
    limit = wire_limit_per_s(baud)
    return {
        f"requests_per_s_{baud}": round(measured, 3),
        f"wire_limit_per_s_{baud}": round(limit, 3),
        f"ratio_{baud}": round(measured / limit, 4),
        f"requests_{baud}": done,
    }


sys.path.insert(0, str(Path(__file__).resolve().parent))
from codec import TARGET as CODEC_TARGET  # noqa: E402  (a sibling script, not a package)
from codec import codec_pairs_per_s  # noqa: E402


def main() -> None:
    result: dict[str, object] = {
        "meters": METERS,
        "reply_delay_ms": REPLY_DELAY_MS,
        "di": f"{DI:08X}",
    }
    with tempfile.TemporaryDirectory() as tmp:
        for baud in (2400, 9600):
            result.update(run_one(baud, Path(tmp)))
    rate = codec_pairs_per_s()
    result["codec_pairs_per_s"] = round(rate)
    result["codec_ratio_to_target"] = round(rate / CODEC_TARGET, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
