"""Streaming deframer: bytes in arbitrary chunks → frames or typed errors. Never raises."""

from __future__ import annotations

from gateway.dlt645.errors import FrameError
from gateway.dlt645.frame import Frame

_MAX_FRAME = 12 + 255
_decode_at = Frame._decode_at


class Deframer:
    """Finds frames in a byte stream.

    Frames on the L byte, never on the first 16. A candidate header (68 at i and i+7) whose body
    has not fully arrived blocks only until a later complete valid frame is seen in the buffer:
    a stray 68 in line noise must not hold a real reply hostage until the timeout.
    """

    __slots__ = ("_buf", "discarded")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.discarded = 0

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, chunk: bytes) -> list[Frame | FrameError]:
        if not self._buf:
            # Fast path: one whole frame in one chunk, the usual case on a quiet bus.
            n = len(chunk)
            start = n - len(chunk.lstrip(b"\xfe"))
            if n - start >= 12 and chunk[start] == 0x68 and chunk[start + 7] == 0x68:
                length = chunk[start + 9]
                if n == start + 12 + length:
                    try:
                        return [_decode_at(chunk, start, length)]
                    except FrameError:
                        pass  # fall through to the general path, which resynchronises
        self._buf += chunk
        out: list[Frame | FrameError] = []
        buf = self._buf
        i = 0
        while True:
            i = buf.find(0x68, i)
            if i < 0:
                self.discarded += len(buf)
                buf.clear()
                return out
            if len(buf) - i < 10:
                break
            if buf[i + 7] != 0x68:
                i += 1
                continue
            length = buf[i + 9]
            end = i + 12 + length
            if len(buf) < end:
                later = self._complete_frame_after(i + 1)
                if later < 0:
                    break
                i = later
                continue
            try:
                frame = Frame._decode_at(buf, i, length)
            except FrameError as exc:
                out.append(exc)
                i += 1
                continue
            out.append(frame)
            self._drop_before(i)
            del buf[: end - i]
            i = 0
        self._drop_before(i)
        return out

    def _drop_before(self, i: int) -> None:
        # Keep the tail from the candidate start; FE and garbage before it are gone for good.
        if i > 0:
            skipped = self._buf[:i]
            self.discarded += len(skipped) - skipped.count(0xFE)
            del self._buf[:i]
        if len(self._buf) > 4 * _MAX_FRAME:
            self.discarded += len(self._buf) - _MAX_FRAME
            del self._buf[: len(self._buf) - _MAX_FRAME]

    def _complete_frame_after(self, start: int) -> int:
        buf = self._buf
        j = start
        while True:
            j = buf.find(0x68, j)
            if j < 0 or len(buf) - j < 12:
                return -1
            if buf[j + 7] == 0x68:
                length = buf[j + 9]
                end = j + 10 + length
                if (
                    len(buf) >= end + 2
                    and buf[end] == sum(buf[j:end]) & 0xFF
                    and buf[end + 1] == 0x16
                ):
                    return j
            j += 1
