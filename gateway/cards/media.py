"""Where the two card files live on each medium, and how they are read and written.

- ISO 7816-4 CPU card: MF 3F00 / DF 5047 ("PG") / EF 0001 issue file, EF 0002 return file;
  SELECT by FID, READ BINARY, UPDATE BINARY.
- SLE4442 memory card through ACS pseudo-APDUs: issue file at 0x20, return file at 0x80; writes
  need the PSC, which is presented at most once and never after any earlier failure.

A write is two steps (body with the commit byte clear, then the commit byte) followed by a read
back, so a card pulled out half way is recognisable as incomplete rather than silently wrong.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from typing import ClassVar

from gateway.cards.errors import (
    CardIoError,
    CardLockedError,
    UnknownCardError,
    WriteVerifyError,
    WrongPscError,
)
from gateway.cards.format import COMMIT_OFFSET, COMMITTED, ISSUE_FILE_LEN, RETURN_FILE_LEN
from gateway.cards.pcsc import Transport

SW_OK = 0x9000
MAX_CHUNK = 0xF0


class Area(enum.Enum):
    ISSUE = "issue"
    RETURN = "return"


def command(t: Transport, apdu: bytes, what: str) -> bytes:
    """Send an APDU and return its data; follows 61xx / 6Cxx; any other non-9000 is an error."""
    data, sw = t.transmit(apdu)
    if sw >> 8 == 0x6C and len(apdu) == 5:
        data, sw = t.transmit(apdu[:4] + bytes([sw & 0xFF]))
    collected = data
    while sw >> 8 == 0x61:
        data, sw = t.transmit(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
        collected += data
    if sw != SW_OK:
        raise CardIoError(f"{what}: card answered SW {sw:04X}", reader=t.reader)
    return collected


def status_word(t: Transport, apdu: bytes) -> int:
    return t.transmit(apdu)[1]


class CardMedium(ABC):
    """The gateway's two files on one physical medium."""

    kind: ClassVar[str]

    def __init__(self, transport: Transport) -> None:
        self.t = transport

    @abstractmethod
    def read(self, area: Area) -> bytes: ...

    @abstractmethod
    def update(self, area: Area, offset: int, data: bytes) -> None: ...

    def write_issue(self, raw: bytes) -> None:
        """Write a committed issue image: body uncommitted first, then the commit byte, verify."""
        if len(raw) != ISSUE_FILE_LEN or raw[COMMIT_OFFSET] != COMMITTED:
            raise ValueError("write_issue takes a committed 96-byte issue file")
        self.update(Area.ISSUE, 0, raw[:COMMIT_OFFSET] + b"\x00")
        self.update(Area.ISSUE, COMMIT_OFFSET, raw[COMMIT_OFFSET:])
        self._verify(Area.ISSUE, raw)

    def write_return(self, raw: bytes) -> None:
        if len(raw) != RETURN_FILE_LEN:
            raise ValueError("write_return takes a 72-byte return file")
        self.update(Area.RETURN, 0, raw)
        self._verify(Area.RETURN, raw)

    def clear(self) -> None:
        """Blank both files; the issue file goes first so a torn clear reads as blank."""
        self.update(Area.ISSUE, 0, bytes(ISSUE_FILE_LEN))
        self.update(Area.RETURN, 0, bytes(RETURN_FILE_LEN))
        self._verify(Area.ISSUE, bytes(ISSUE_FILE_LEN))
        self._verify(Area.RETURN, bytes(RETURN_FILE_LEN))

    def _verify(self, area: Area, expected: bytes) -> None:
        if self.read(area) != expected:
            raise WriteVerifyError(
                f"the {area.value} file did not read back as written", reader=self.t.reader
            )


class CpuMedium(CardMedium):
    kind = "cpu"
    DF = 0x5047
    FILES: ClassVar[dict[Area, tuple[int, int]]] = {
        Area.ISSUE: (0x0001, ISSUE_FILE_LEN),
        Area.RETURN: (0x0002, RETURN_FILE_LEN),
    }

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self._selected: Area | None = None

    @classmethod
    def probe(cls, t: Transport) -> bool:
        """True when the card holds the gateway's DF."""
        if status_word(t, bytes.fromhex("00A40000023F00")) != SW_OK:
            return False
        return status_word(t, bytes.fromhex("00A4000002") + cls.DF.to_bytes(2, "big")) == SW_OK

    def _select(self, area: Area) -> int:
        fid, size = self.FILES[area]
        if self._selected is not area:
            for f in (0x3F00, self.DF, fid):
                command(
                    self.t, bytes.fromhex("00A4000002") + f.to_bytes(2, "big"), f"SELECT {f:04X}"
                )
            self._selected = area
        return size

    def read(self, area: Area) -> bytes:
        size = self._select(area)
        out = b""
        while len(out) < size:
            n = min(MAX_CHUNK, size - len(out))
            apdu = bytes([0x00, 0xB0, len(out) >> 8, len(out) & 0xFF, n])
            chunk = command(self.t, apdu, f"READ BINARY {area.value}")
            if not chunk:
                raise UnknownCardError(f"the {area.value} file is shorter than {size} bytes")
            out += chunk
        if len(out) != size:
            raise UnknownCardError(f"the {area.value} file is not {size} bytes")
        return out

    def update(self, area: Area, offset: int, data: bytes) -> None:
        self._select(area)
        for start in range(0, len(data), MAX_CHUNK):
            chunk = data[start : start + MAX_CHUNK]
            at = offset + start
            apdu = bytes([0x00, 0xD6, at >> 8, at & 0xFF, len(chunk)]) + chunk
            command(self.t, apdu, f"UPDATE BINARY {area.value}")


SLE4442_HISTORICAL = (bytes.fromhex("A2131091"), bytes.fromhex("92231091"))


def is_sle4442_atr(atr: bytes) -> bool:
    """ACS readers report a synchronous card by an ATR made of the chip's 4-byte header."""
    return len(atr) == 6 and atr[:2] == b"\x3b\x04" and atr[2:] in SLE4442_HISTORICAL


class Sle4442Medium(CardMedium):
    """SLE4442 on an ACS reader. Addresses below 0x20 (chip and application header) are left."""

    kind = "sle4442"
    ADDRESS: ClassVar[dict[Area, tuple[int, int]]] = {
        Area.ISSUE: (0x20, ISSUE_FILE_LEN),
        Area.RETURN: (0x80, RETURN_FILE_LEN),
    }
    FULL_COUNTER = 0b111

    def __init__(self, transport: Transport, psc: bytes) -> None:
        super().__init__(transport)
        self._psc = psc
        self._unlocked = False
        command(self.t, bytes.fromhex("FFA400000106"), "select card type SLE4442")

    def read(self, area: Area) -> bytes:
        address, size = self.ADDRESS[area]
        return command(self.t, bytes([0xFF, 0xB0, 0x00, address, size]), "read memory")

    def error_counter(self) -> int:
        return command(self.t, bytes.fromhex("FFB1000004"), "read error counter")[0] & 0b111

    def unlock(self) -> None:
        """Present the PSC once. Refuses when the card already shows a wrong try.

        An SLE4442 locks for ever on its third wrong PSC. Any earlier failure (here or in another
        program) shows in the error counter, and then the gateway does not try at all: a person
        must find out why the PSC is wrong before a second attempt is spent.
        """
        if self._unlocked:
            return
        counter = self.error_counter()
        if counter == 0:
            raise CardLockedError("the card is locked after three wrong PSCs", reader=self.t.reader)
        if counter != self.FULL_COUNTER:
            tries = bin(counter).count("1")
            raise WrongPscError(
                f"the card shows an earlier wrong PSC ({tries} of 3 tries left): not presenting "
                "the PSC again",
                reader=self.t.reader,
                tries_left=tries,
            )
        _data, sw = self.t.transmit(bytes.fromhex("FF20000003") + self._psc)
        if sw != 0x9000 | self.FULL_COUNTER:
            tries = bin(sw & 0b111).count("1") if sw >> 8 == 0x90 else 0
            raise WrongPscError(
                f"the card refused the PSC ({tries} of 3 tries left); not trying again",
                reader=self.t.reader,
                tries_left=tries,
            )
        self._unlocked = True

    def update(self, area: Area, offset: int, data: bytes) -> None:
        self.unlock()
        address = self.ADDRESS[area][0] + offset
        for start in range(0, len(data), MAX_CHUNK):
            chunk = data[start : start + MAX_CHUNK]
            at = address + start
            command(self.t, bytes([0xFF, 0xD0, 0x00, at, len(chunk)]) + chunk, "write memory")
