"""Recognising a DTU from the first bytes it sends after dialling in (vendor specific, pluggable).

Two families exist in the field: a raw ASCII id (``DTU0001\\r\\n``), and a DL/T 645 frame from a
meter behind the DTU (a read reply of DI 80808080 carrying the id, or any frame from a known
meter). DTUs repeat their registration packet as heartbeat.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from gateway.dlt645 import Deframer, Frame
from gateway.link.bus import is_heartbeat_frame

_ASCII_PACKET = re.compile(rb"[\x00\r\n ]*([\x21-\x7e]{1,64})(\r\n|\n|\r|\x00)")
_MAX_ASCII_ID = 64


@dataclass(frozen=True, slots=True)
class Registration:
    via: str  # the recogniser's name
    consumed: int  # bytes of the buffer up to the end of the registration packet
    dtu_id: str | None = None
    meter_address: str | None = None
    heartbeat: bytes = b""  # a non-frame packet the DTU repeats: stripped from the stream


class Recogniser(Protocol):
    @property
    def name(self) -> str: ...

    def identify(self, buffer: bytes) -> Registration | None:
        """A registration found at the start of ``buffer``, or None (not yet / not mine)."""
        ...


class AsciiIdRecogniser:
    """A printable id followed by CR/LF/NUL, or exactly a known id with no terminator."""

    name = "ascii"

    def __init__(self, known_ids: Collection[str] = ()) -> None:
        self._known = sorted((i.encode("ascii") for i in known_ids), key=len, reverse=True)

    def identify(self, buffer: bytes) -> Registration | None:
        if not buffer or buffer[0] in (0xFE, 0x68):
            return None  # a DL/T 645 frame, not an ASCII id
        match = _ASCII_PACKET.match(buffer)
        if match is not None:
            packet = match.group(1) + match.group(2)
            return Registration(self.name, match.end(), dtu_id=match.group(1).decode("ascii"),
                                heartbeat=packet)  # fmt: skip
        stripped = buffer.lstrip(b"\x00\r\n ")
        for known in self._known:
            if stripped == known:
                return Registration(self.name, len(buffer), dtu_id=known.decode(), heartbeat=known)
        return None


class FrameRecogniser:
    """A DL/T 645 frame: DI 80808080 with the id after the DI, or any frame from a known meter."""

    name = "frame"

    def __init__(self, known_meters: Collection[str] = ()) -> None:
        self._known = frozenset(known_meters)

    def identify(self, buffer: bytes) -> Registration | None:
        for item in Deframer().feed(buffer):
            if not isinstance(item, Frame):
                continue
            raw = item.to_bytes(preamble=False)
            end = buffer.find(raw) + len(raw)
            if is_heartbeat_frame(item):
                text = item.data[4:].rstrip(b"\x00")
                printable = (
                    text and len(text) <= _MAX_ASCII_ID and all(0x21 <= b <= 0x7E for b in text)
                )
                dtu_id = text.decode("ascii") if printable else None
                return Registration(self.name, end, dtu_id=dtu_id, meter_address=item.address)
            if item.address in self._known:
                return Registration(self.name, end, meter_address=item.address)
        return None


class HeartbeatFilter:
    """Removes a DTU's ASCII heartbeat packets from the bytes it relays from the meters.

    A packet split across reads is held back until the next read decides; frames end in 16H and
    ASCII ids never start with it, so the end of a real reply is never held back.
    """

    __slots__ = ("_held", "_packet")

    def __init__(self, packet: bytes) -> None:
        self._packet = packet
        self._held = b""

    def __call__(self, chunk: bytes) -> tuple[bytes, int]:
        data = self._held + chunk
        self._held = b""
        packet = self._packet
        count = data.count(packet)
        if count:
            data = data.replace(packet, b"")
        for k in range(min(len(packet) - 1, len(data)), 0, -1):
            if data.endswith(packet[:k]):
                self._held = data[-k:]
                data = data[:-k]
                break
        return data, count


def recognisers_for(
    names: Collection[str], known_ids: Collection[str], known_meters: Collection[str]
) -> list[Recogniser]:
    """The configured recognisers, in the configured order."""
    table: dict[str, Recogniser] = {
        "ascii": AsciiIdRecogniser(known_ids),
        "frame": FrameRecogniser(known_meters),
    }
    return [table[n] for n in names]
