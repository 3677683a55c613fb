"""Typed errors of the DL/T 645 codec and of meters' abnormal replies."""

from __future__ import annotations

import enum


class Dlt645Error(Exception):
    """Base of every codec error."""

    code = "E100"


class FrameError(Dlt645Error):
    """Bytes that are not a valid frame. ``raw`` holds the offending bytes."""

    code = "E101"

    def __init__(self, message: str, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw


class ChecksumError(FrameError):
    code = "E102"


class EndByteError(FrameError):
    code = "E103"


class TruncatedFrameError(FrameError):
    code = "E104"


class ValueFormatError(Dlt645Error):
    """A value field that does not fit its format (non-BCD nibble, wrong length, out of range)."""

    code = "E105"


class UnknownDataIdError(Dlt645Error):
    code = "E106"


class ErrFlag(enum.IntFlag):
    """The ERR byte of an abnormal reply (C|C0H)."""

    OTHER = 0x01
    NO_SUCH_DATA = 0x02
    UNAUTHORISED = 0x04
    BAUD_NOT_CHANGEABLE = 0x08
    TOO_MANY_YEAR_ZONES = 0x10
    TOO_MANY_DAY_SLOTS = 0x20
    TOO_MANY_TARIFFS = 0x40


class SerrFlag(enum.IntFlag):
    """The two SERR bytes of an abnormal 03H (security) reply."""

    OTHER = 0x0001
    REPEATED_RECHARGE = 0x0002
    MAC_FAILED = 0x0004
    AUTH_FAILED = 0x0008
    CUSTOMER_MISMATCH = 0x0010
    PURCHASE_COUNT_ERROR = 0x0020
    OVER_HOARDING_LIMIT = 0x0040
    ADDRESS_ABNORMAL = 0x0080
    METER_SUSPENDED = 0x0100


def flag_names(flags: enum.IntFlag) -> str:
    names = [m.name for m in type(flags) if m.value & flags.value and m.name]
    unknown = flags.value & ~sum(m.value for m in type(flags))
    if unknown:
        names.append(f"0x{unknown:X}")
    return "|".join(names) if names else "NONE"


class MeterError(Dlt645Error):
    """A meter answered with an abnormal reply (ERR byte)."""

    code = "E110"

    def __init__(self, function: int, err: ErrFlag) -> None:
        super().__init__(f"meter refused function {function:02X}H: {flag_names(err)}")
        self.function = function
        self.err = err


class SecurityError(Dlt645Error):
    """A meter refused a 03H security command. ``serr`` is None for the 1-byte vendor variant."""

    code = "E111"

    def __init__(self, serr: SerrFlag | None, err: ErrFlag | None = None) -> None:
        detail = flag_names(serr) if serr is not None else f"ERR {flag_names(err or ErrFlag(0))}"
        super().__init__(f"meter refused security command: {detail}")
        self.serr = serr
        self.err = err

    @property
    def repeated_recharge(self) -> bool:
        return self.serr is not None and bool(self.serr & SerrFlag.REPEATED_RECHARGE)
