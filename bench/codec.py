"""Codec throughput: a read request encoded plus its reply decoded down to the typed value.

Target (issue 2): >= 150,000 such pairs per second on one core.
"""

from __future__ import annotations

import json
import time

from gateway.dlt645 import Deframer
from gateway.dlt645 import commands as c

TARGET = 150_000


def codec_pairs_per_s(seconds: float = 2.0) -> float:
    address = "002241020208"
    di = 0x00900200  # remaining money
    reply_bytes = c.reply_to(
        c.read_data(address, di), address, bytes.fromhex("00029000 78563412")
    ).to_bytes()
    deframer = Deframer()
    n = 0
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(10_000):
            request = c.read_data(address, di)
            request.to_bytes()
            (reply,) = deframer.feed(reply_bytes)
            c.parse_read(request, reply).value()  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
        n += 10_000
        best = max(best, 10_000 / elapsed)
    return best


def main() -> None:
    rate = codec_pairs_per_s()
    print(
        json.dumps(
            {"codec_pairs_per_s": round(rate), "target": TARGET, "ratio": round(rate / TARGET, 2)}
        )
    )


if __name__ == "__main__":
    main()
