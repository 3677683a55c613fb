"""Talking raw frames to a served simulator: read until a frame (or a bad one) arrives."""

from __future__ import annotations

import asyncio

from gateway.dlt645 import Deframer, Frame, FrameError

TIMEOUT = 10.0  # generous: the machine is shared and loaded


async def receive(
    reader: asyncio.StreamReader, deframer: Deframer
) -> tuple[list[Frame | FrameError], bytes]:
    """Everything decoded from the next burst of bytes, and the raw bytes themselves."""
    raw = b""
    async with asyncio.timeout(TIMEOUT):
        while True:
            chunk = await reader.read(4096)
            if not chunk:
                raise ConnectionError("the simulator closed the connection")
            raw += chunk
            items = deframer.feed(chunk)
            if items:
                return items, raw


async def ask(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: Frame,
) -> Frame:
    writer.write(request.to_bytes())
    await writer.drain()
    items, _ = await receive(reader, Deframer())
    frames = [x for x in items if isinstance(x, Frame)]
    assert frames, f"no valid frame in reply to {request.describe()}: {items}"
    return frames[0]


async def nothing_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        chunk = await asyncio.wait_for(reader.read(4096), seconds)
    except TimeoutError:
        return True
    return not chunk
