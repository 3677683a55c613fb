"""How long to wait for a reply: per medium.

RS485: the meter answers within a reply window (20..500 ms) after the request has fully left the
wire, and its reply itself takes time on the wire. So the wait is the window plus the
transmission time of the request and of the longest reply this request can get, at 11 bits per
byte (8 data + parity + start + stop). A cellular DTU adds seconds of latency that dwarf all
that: there the wait is a fixed number of seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.dlt645 import Frame, Function
from gateway.dlt645.dataids import BY_DI, di_from_wire

BITS_PER_BYTE = 11
_PREAMBLE = 4  # a meter may send up to 4 FE before its reply
_OVERHEAD = 12  # 68 A0..A5 68 C L ... CS 16
_MAX_DATA = 255
_SECURITY_REPLY = 4 + 30  # DI + the largest 03H reply the gateway uses (078102FF)


def wire_seconds(nbytes: int, baud: int, bits_per_byte: int = BITS_PER_BYTE) -> float:
    """Transmission time of ``nbytes`` at ``baud``."""
    return nbytes * bits_per_byte / baud


def longest_reply_data(request: Frame) -> int:
    """The largest DATA length a reply to ``request`` can have."""
    fn = request.function
    if fn == Function.READ:
        dataid = BY_DI.get(di_from_wire(request.data)) if len(request.data) >= 4 else None
        if dataid is None:
            return _MAX_DATA
        single = max((dataid.length, *dataid.alt_lengths)) if dataid.count == 1 else dataid.size
        return 4 + single
    if fn == Function.READ_ADDRESS:
        return 6
    if fn == Function.SECURITY:
        return _SECURITY_REPLY
    if fn in (
        Function.WRITE,
        Function.WRITE_ADDRESS,
        Function.RELAY,
        Function.METER_CLEAR,
        Function.DEMAND_CLEAR,
        Function.EVENT_CLEAR,
        Function.FREEZE,
        Function.CHANGE_BAUD,
        Function.CHANGE_PASSWORD,
    ):
        return 6 if fn == Function.WRITE_ADDRESS else 1  # L=0 reply, or 1 ERR byte
    return _MAX_DATA


def longest_reply_bytes(request: Frame) -> int:
    return _PREAMBLE + _OVERHEAD + longest_reply_data(request)


class Timing(Protocol):
    """Gives the reply timeout for a request about to be sent as ``wire_bytes`` bytes."""

    def reply_timeout(self, request: Frame, wire_bytes: int) -> float: ...

    def send_time(self, wire_bytes: int) -> float:
        """How long the request occupies the line (for frames that get no reply)."""
        ...


@dataclass(frozen=True, slots=True)
class LineTiming:
    """RS485 (directly or through a transparent serial server): window + wire time."""

    baud: int = 2400
    reply_window_ms: int = 500
    extra_latency_ms: int = 0  # a serial server's network hop

    def reply_timeout(self, request: Frame, wire_bytes: int) -> float:
        wire = wire_seconds(wire_bytes + longest_reply_bytes(request), self.baud)
        return wire + (self.reply_window_ms + self.extra_latency_ms) / 1000

    def send_time(self, wire_bytes: int) -> float:
        return wire_seconds(wire_bytes, self.baud) + self.extra_latency_ms / 1000


@dataclass(frozen=True, slots=True)
class FixedTiming:
    """A cellular DTU: latency of seconds, whatever the frame."""

    timeout_s: float = 10.0

    def reply_timeout(self, request: Frame, wire_bytes: int) -> float:
        return self.timeout_s

    def send_time(self, wire_bytes: int) -> float:
        return 0.0
