"""Blocking PC/SC access on pyscard's low-level ``scard`` API, with errors turned into CardErrors.

Everything here blocks (pcscd is a local socket and a card APDU takes milliseconds to seconds):
callers on the event loop go through gateway.cards.reader, which runs it in a thread. The
low-level API returns status codes instead of raising, so each failure maps to one clear error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from smartcard import scard

from gateway.cards.errors import (
    CardError,
    CardIoError,
    CardRemovedError,
    NoCardError,
    NoReaderError,
    ReaderNotFoundError,
    ReaderServiceDownError,
    UnknownCardError,
)

S_OK = 0
NO_SERVICE = 0x8010001D
SERVICE_STOPPED = 0x8010001E
NO_READERS = 0x8010002E
UNKNOWN_READER = 0x80100009
NO_SMARTCARD = 0x8010000C
REMOVED = 0x80100069
RESET = 0x80100068
UNPOWERED = 0x80100067
UNRESPONSIVE = 0x80100066
UNSUPPORTED = 0x80100065
SHARING = 0x8010000B
NOT_TRANSACTED = 0x80100016
READER_UNAVAILABLE = 0x80100017
INVALID_HANDLE = 0x80100003
TIMEOUT = 0x8010000A
CANCELLED = 0x80100002

# Right after an insert pcscd may still be powering the card: these clear up within ~0.5 s.
_CONNECT_TRANSIENT = frozenset({NO_SMARTCARD, REMOVED, UNPOWERED, UNRESPONSIVE, SHARING, RESET})


def hresult(code: int) -> int:
    return code & 0xFFFF_FFFF


def describe_hresult(code: int) -> str:
    return f"0x{hresult(code):08X} {scard.SCardGetErrorMessage(code)}"


def service_error(code: int, reader: str = "") -> CardError | None:
    """The error for a status code that means the service or reader is gone, else None."""
    code = hresult(code)
    if code in (NO_SERVICE, SERVICE_STOPPED):
        return ReaderServiceDownError(
            f"card reader service not running (pcscd, {describe_hresult(code)})", reader=reader
        )
    if code == NO_READERS:
        return NoReaderError("no card reader is connected", reader=reader)
    if code in (UNKNOWN_READER, READER_UNAVAILABLE):
        return ReaderNotFoundError(
            f"reader {reader!r} is gone ({describe_hresult(code)})", reader=reader
        )
    return None


class Transport(Protocol):
    """What a card medium needs: send one APDU, get (response data, SW1SW2)."""

    reader: str

    def transmit(self, apdu: bytes) -> tuple[bytes, int]: ...


def select_reader(readers: list[str], wanted: str) -> str:
    """Pick the reader: exact name, else the one containing ``wanted``, else the only reader."""
    if not readers:
        raise NoReaderError("no card reader is connected")
    if not wanted:
        if len(readers) == 1:
            return readers[0]
        raise ReaderNotFoundError(
            f"{len(readers)} readers connected ({', '.join(readers)}): set the reader name"
        )
    if wanted in readers:
        return wanted
    matches = [r for r in readers if wanted.casefold() in r.casefold()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ReaderNotFoundError(
            f"no reader matches {wanted!r} (connected: {', '.join(readers)})", reader=wanted
        )
    raise ReaderNotFoundError(
        f"{wanted!r} matches several readers: {', '.join(matches)}", reader=wanted
    )


class PcscContext:
    """One SCARDCONTEXT. Cheap to make; a fresh one per operation survives pcscd restarts."""

    def __init__(self) -> None:
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult(hr) != S_OK:
            raise service_error(hr) or ReaderServiceDownError(
                f"cannot reach the card reader service: {describe_hresult(hr)}"
            )
        self.handle: Any = ctx

    def close(self) -> None:
        scard.SCardReleaseContext(self.handle)

    def __enter__(self) -> PcscContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def readers(self) -> list[str]:
        hr, readers = scard.SCardListReaders(self.handle, [])
        code = hresult(hr)
        if code == NO_READERS:
            return []
        if code != S_OK:
            raise service_error(hr) or CardIoError(f"listing readers: {describe_hresult(hr)}")
        return list(readers)

    def connect(self, reader: str, retry_s: float) -> PcscCard:
        """Connect to the card in ``reader``, retrying transient states for ``retry_s``."""
        deadline = time.monotonic() + retry_s
        while True:
            hr, card, protocol = scard.SCardConnect(
                self.handle,
                reader,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            code = hresult(hr)
            if code == S_OK:
                return PcscCard(reader, card, protocol)
            if code not in _CONNECT_TRANSIENT or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if err := service_error(hr, reader):
            raise err
        if code in (NO_SMARTCARD, REMOVED):
            raise NoCardError(f"no card in {reader}", reader=reader)
        if code in (UNRESPONSIVE, UNSUPPORTED, UNPOWERED):
            raise UnknownCardError(f"the card in {reader} does not answer ({describe_hresult(hr)})")
        raise CardIoError(f"connecting to {reader}: {describe_hresult(hr)}", reader=reader)


@dataclass
class PcscCard:
    """A connected card. ``transmit`` raises CardRemovedError when the card leaves mid-operation."""

    reader: str
    handle: Any
    protocol: int

    @property
    def atr(self) -> bytes:
        hr, _reader, _state, _proto, atr = scard.SCardStatus(self.handle)
        if hresult(hr) != S_OK:
            raise self._error(hr, "reading the card status")
        return bytes(atr)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        hr, response = scard.SCardTransmit(self.handle, self.protocol, list(apdu))
        if hresult(hr) != S_OK:
            raise self._error(hr, f"APDU {apdu[:4].hex(' ')}")
        if len(response) < 2:
            # No status word at all: the card went away between command and answer.
            raise CardRemovedError(
                f"no answer to APDU {apdu[:4].hex(' ')}: card removed?", reader=self.reader
            )
        return bytes(response[:-2]), (response[-2] << 8) | response[-1]

    def disconnect(self) -> None:
        # Leaving the card powered is what pcscd expects; errors here mean it is gone already.
        scard.SCardDisconnect(self.handle, scard.SCARD_LEAVE_CARD)

    def _error(self, hr: int, what: str) -> CardError:
        if err := service_error(hr, self.reader):
            return err
        if hresult(hr) in (REMOVED, NO_SMARTCARD, NOT_TRANSACTED, RESET, INVALID_HANDLE):
            return CardRemovedError(
                f"card removed from {self.reader} during {what} ({describe_hresult(hr)})",
                reader=self.reader,
            )
        return CardIoError(f"{what} failed: {describe_hresult(hr)}", reader=self.reader)
