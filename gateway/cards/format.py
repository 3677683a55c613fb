"""The gateway's card format: typed cards <-> the bytes of the issue file and the return file.

Pure: no I/O, no clock. docs/cards.md is the byte-level specification; this module is its
reference implementation. Every card has two files (on a CPU card two EFs, on an SLE4442 two
memory ranges):

- the **issue file** (96 bytes), written by the gateway: header, a type-specific body, an issue
  MAC, and a commit byte written last so a torn write is recognisable;
- the **return file** (72 bytes), written by the meter: its state after (or, for read-out cards,
  before) applying the card, and a return MAC bound to the card serial.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from datetime import datetime

from gateway.cards.errors import (
    CardFormatError,
    CardMacError,
    IncompleteWriteError,
    ReturnNotWrittenError,
    UnknownCardError,
)
from gateway.cards.keys import ISSUE_LABEL, MAC_LEN, RETURN_LABEL, SiteKey

MAGIC = b"PGC1"
LAYOUT_VERSION = 0x01
ISSUE_FILE_LEN = 96
RETURN_FILE_LEN = 72
HEADER_LEN = 33  # magic .. body length byte
COMMIT_OFFSET = ISSUE_FILE_LEN - 1
COMMITTED = 0xC3
RETURN_WRITTEN = 0x52  # "R"
RETURN_MAC_OFFSET = 64
MAX_FEN = 99_999_999  # 999 999.99 yuan: what a meter's money register holds
MAX_U32 = 0xFFFF_FFFF
UNCHANGED = 0xFFFF_FFFF  # settings card: leave this parameter as it is
ZERO_NUMBER = "000000000000"


class CardType(enum.IntEnum):
    """Type codes, written as BCD-looking bytes so a hex dump reads like meter firmware tables."""

    OPEN = 0x01
    PURCHASE = 0x02
    REISSUE = 0x03
    RESET = 0x05
    QUERY = 0x06
    RELAY = 0x08
    SETTINGS = 0x09
    METER_CHANGE = 0x11
    REFUND = 0x14


class UserCardKind(enum.IntEnum):
    OPEN = CardType.OPEN.value
    PURCHASE = CardType.PURCHASE.value
    REISSUE = CardType.REISSUE.value


class RelayCommand(enum.IntEnum):
    """Same codes as DL/T 645 remote control (1AH trip, 1BH allow closing)."""

    TRIP = 0x1A
    CLOSE = 0x1B


class MeterOutcome(enum.IntEnum):
    """What a meter did with a card. Codes below 0x80 are written to the return file."""

    CREDITED = 0x01
    RETURN_WRITE_ONLY = 0x02
    RESET = 0x10
    SETTINGS_APPLIED = 0x11
    RELAY_SET = 0x12
    QUERIED = 0x13
    REFUND_READ = 0x14
    TRANSFERRED_OUT = 0x15
    REPLACED = 0x16
    # Refusals: the meter shows them on its display and leaves the card as it was.
    PURCHASE_COUNT_ERROR = 0x80
    METER_MISMATCH = 0x81
    CUSTOMER_MISMATCH = 0x82
    CARD_MISMATCH = 0x83
    OVER_HOARDING_LIMIT = 0x84
    NOT_OPENED = 0x85
    METER_NOT_NEW = 0x86
    ALREADY_USED = 0x87
    CHANGE_CARD_NOT_READ = 0x88

    @property
    def written(self) -> bool:
        return self.value < 0x80


class MeterStatus(enum.IntFlag):
    ACCOUNT_OPENED = 0x0001
    RELAY_OPEN = 0x0002
    ALARM1 = 0x0004
    ALARM2 = 0x0008
    IN_OVERDRAFT = 0x0010


# ---- field helpers ---------------------------------------------------------------------------
def normalise_number(value: str, what: str) -> str:
    """Meter and customer numbers: up to 12 decimal digits, stored left-padded with zeros."""
    digits = value.strip()
    if not digits.isdigit() or not digits.isascii() or len(digits) > 12:
        raise CardFormatError(f"{what} must be 1 to 12 digits, got {value!r}")
    return digits.zfill(12)


def _bcd(digits: str) -> bytes:
    return bytes.fromhex(digits)


def _unbcd(raw: bytes, what: str) -> str:
    text = raw.hex()
    if not text.isdigit():
        raise CardFormatError(f"{what}: not BCD ({raw.hex(' ')})")
    return text


def encode_time(when: datetime, *, seconds: bool = True) -> bytes:
    if not 2000 <= when.year <= 2099:
        raise CardFormatError(f"date {when:%Y-%m-%d} is outside 2000..2099")
    fields = [when.year % 100, when.month, when.day, when.hour, when.minute]
    if seconds:
        fields.append(when.second)
    return bytes(int(str(v), 16) for v in fields)


def decode_time(raw: bytes) -> datetime:
    text = _unbcd(raw, "time")
    parts = [int(text[i : i + 2]) for i in range(0, len(text), 2)] + [0]
    try:  # naive local time: meters keep local time
        return datetime(2000 + parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
    except ValueError as exc:
        raise CardFormatError(f"time {raw.hex()}: {exc}") from None


def _check_range(value: int, low: int, high: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CardFormatError(f"{what} must be an integer in {low}..{high}, got {value!r}")


def _u32_or_unchanged(value: int | None) -> bytes:
    return struct.pack(">I", UNCHANGED if value is None else value)


def _optional(value: int) -> int | None:
    return None if value == UNCHANGED else value


# ---- the cards -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Header:
    """Fields every card carries. ``serial`` identifies the physical card for its whole life."""

    serial: int
    meter_number: str
    customer_number: str
    issued_at: datetime

    def __post_init__(self) -> None:
        _check_range(self.serial, 0, 2**64 - 1, "card serial")
        object.__setattr__(
            self, "meter_number", normalise_number(self.meter_number, "meter number")
        )
        object.__setattr__(
            self, "customer_number", normalise_number(self.customer_number, "customer number")
        )
        encode_time(self.issued_at)


@dataclass(frozen=True)
class UserCard(_Header):
    """A purchase for one meter: open (first purchase), daily purchase, or reissue."""

    kind: UserCardKind = UserCardKind.PURCHASE
    purchase_count: int = 0
    amount_fen: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_range(self.purchase_count, 0, 0xFFFF, "purchase count")
        _check_range(self.amount_fen, 0, MAX_FEN, "amount (fen)")

    @property
    def card_type(self) -> CardType:
        return CardType(self.kind.value)

    def body(self) -> bytes:
        return struct.pack(">HI", self.purchase_count, self.amount_fen)


@dataclass(frozen=True)
class SettingsCard(_Header):
    """Meter parameters; ``None`` leaves a parameter unchanged. A zero meter number = any meter."""

    alarm1_fen: int | None = None
    alarm2_fen: int | None = None
    overdraft_limit_fen: int | None = None
    hoarding_limit_fen: int | None = None
    close_allowed_fen: int | None = None
    price_1e4: int | None = None  # 0.0001 yuan/kWh

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("alarm1_fen", "alarm2_fen", "overdraft_limit_fen", "hoarding_limit_fen"):
            value = getattr(self, name)
            if value is not None:
                _check_range(value, 0, MAX_FEN, name)
        if self.close_allowed_fen is not None:
            _check_range(self.close_allowed_fen, 0, MAX_FEN, "close_allowed_fen")
        if self.price_1e4 is not None:
            _check_range(self.price_1e4, 0, MAX_U32 - 1, "price")
        if (
            self.alarm1_fen is not None
            and self.alarm2_fen is not None
            and self.alarm2_fen > self.alarm1_fen
        ):
            raise CardFormatError("alarm amount 2 must not be above alarm amount 1")

    @property
    def card_type(self) -> CardType:
        return CardType.SETTINGS

    def body(self) -> bytes:
        return b"".join(
            _u32_or_unchanged(v)
            for v in (
                self.alarm1_fen,
                self.alarm2_fen,
                self.overdraft_limit_fen,
                self.hoarding_limit_fen,
                self.close_allowed_fen,
                self.price_1e4,
            )
        )


@dataclass(frozen=True)
class QueryCard(_Header):
    """The meter writes its full state on it. A zero meter number = any meter."""

    @property
    def card_type(self) -> CardType:
        return CardType.QUERY

    def body(self) -> bytes:
        return b""


@dataclass(frozen=True)
class ResetCard(_Header):
    """Super reset: the named meter clears its prepaid state."""

    @property
    def card_type(self) -> CardType:
        return CardType.RESET

    def body(self) -> bytes:
        return b""


@dataclass(frozen=True)
class RelayCard(_Header):
    command: RelayCommand = RelayCommand.TRIP

    @property
    def card_type(self) -> CardType:
        return CardType.RELAY

    def body(self) -> bytes:
        return bytes([self.command.value])


@dataclass(frozen=True)
class RefundCard(_Header):
    """The meter writes out its remaining money and closes the account. Same serial as the
    customer's user card (it is that card, rewritten)."""

    @property
    def card_type(self) -> CardType:
        return CardType.REFUND

    def body(self) -> bytes:
        return b""


@dataclass(frozen=True)
class MeterChangeCard(_Header):
    """Header meter number = the old meter. In the old meter: read out and close; in the new
    meter: take over remaining, overdraft, purchase count and the user card serial."""

    new_meter_number: str = ZERO_NUMBER
    user_card_serial: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(
            self, "new_meter_number", normalise_number(self.new_meter_number, "new meter number")
        )
        _check_range(self.user_card_serial, 0, 2**64 - 1, "user card serial")
        if self.new_meter_number == self.meter_number:
            raise CardFormatError("old and new meter numbers are the same")

    @property
    def card_type(self) -> CardType:
        return CardType.METER_CHANGE

    def body(self) -> bytes:
        return _bcd(self.new_meter_number) + struct.pack(">Q", self.user_card_serial)


IssueCard = (
    UserCard | SettingsCard | QueryCard | ResetCard | RelayCard | RefundCard | MeterChangeCard
)


@dataclass(frozen=True)
class ReturnArea:
    """What a meter wrote back: its identity and prepaid state, and what it did with the card."""

    outcome: MeterOutcome
    meter_number: str
    customer_number: str
    purchase_count: int
    remaining_fen: int
    overdraft_fen: int
    total_purchased_fen: int
    total_energy_ckwh: int  # 0.01 kWh
    alarm1_fen: int
    alarm2_fen: int
    overdraft_limit_fen: int
    hoarding_limit_fen: int
    close_allowed_fen: int
    price_1e4: int
    status: MeterStatus
    written_at: datetime  # minute resolution
    illegal_inserts: int = 0

    def __post_init__(self) -> None:
        if not self.outcome.written:
            raise CardFormatError(f"outcome {self.outcome.name} is never written to a card")
        object.__setattr__(
            self, "meter_number", normalise_number(self.meter_number, "meter number")
        )
        object.__setattr__(
            self, "customer_number", normalise_number(self.customer_number, "customer number")
        )
        _check_range(self.purchase_count, 0, 0xFFFF, "purchase count")
        for name in (
            "remaining_fen",
            "overdraft_fen",
            "total_purchased_fen",
            "total_energy_ckwh",
            "alarm1_fen",
            "alarm2_fen",
            "overdraft_limit_fen",
            "hoarding_limit_fen",
            "close_allowed_fen",
            "price_1e4",
        ):
            _check_range(getattr(self, name), 0, MAX_U32, name)
        _check_range(self.illegal_inserts, 0, 0xFF, "illegal insert count")
        object.__setattr__(self, "written_at", self.written_at.replace(second=0, microsecond=0))
        encode_time(self.written_at)


@dataclass(frozen=True)
class CardContent:
    """Everything on an issued card: the gateway's part and the meter's part (if any)."""

    issue: IssueCard
    ret: ReturnArea | None = None
    # A return file was written but does not authenticate: torn by a card pulled out of the
    # meter, or edited. It counts as "no return data"; a meter rewrites it on the next insert.
    ret_damaged: bool = False

    def require_return(self) -> ReturnArea:
        """The meter's write-back, for workflows that settle money on it (refund, replacement)."""
        if self.ret_damaged:
            raise CardMacError(
                "the return-write area does not verify: insert the card in the meter again"
            )
        if self.ret is None:
            raise ReturnNotWrittenError("no meter has written this card yet")
        return self.ret

    @property
    def purchase_loaded(self) -> bool:
        """Vending check: did a meter load this user card's purchase?

        True when the return file was written by the card's meter for this customer with the
        card's purchase count. A new sale on a card whose last purchase is not loaded is refused.
        """
        card, ret = self.issue, self.ret
        if not isinstance(card, UserCard) or ret is None:
            return False
        return (
            ret.purchase_count == card.purchase_count
            and ret.customer_number == card.customer_number
            and card.meter_number in (ret.meter_number, ZERO_NUMBER)
        )


# ---- issue file ------------------------------------------------------------------------------
def encode_issue(card: IssueCard, key: SiteKey, *, committed: bool = True) -> bytes:
    """The 96-byte issue file. ``committed=False`` gives the image written first (see docs)."""
    body = card.body()
    head = (
        MAGIC
        + bytes([LAYOUT_VERSION, card.card_type.value])
        + struct.pack(">Q", card.serial)
        + _bcd(card.meter_number)
        + _bcd(card.customer_number)
        + encode_time(card.issued_at)
        + bytes([len(body)])
    )
    signed = head + body
    raw = signed + key.mac(ISSUE_LABEL, signed)
    raw += bytes(ISSUE_FILE_LEN - 1 - len(raw))
    return raw + bytes([COMMITTED if committed else 0x00])


def is_blank(raw: bytes) -> bool:
    return raw == bytes(len(raw)) or raw == b"\xff" * len(raw)


def peek_serial(raw: bytes) -> int | None:
    """The serial of an issue file with our magic, without checking anything else."""
    if len(raw) >= 14 and raw[:4] == MAGIC:
        return int.from_bytes(raw[6:14], "big")
    return None


_BODY_LEN = {
    CardType.OPEN: 6,
    CardType.PURCHASE: 6,
    CardType.REISSUE: 6,
    CardType.SETTINGS: 24,
    CardType.QUERY: 0,
    CardType.RESET: 0,
    CardType.RELAY: 1,
    CardType.REFUND: 0,
    CardType.METER_CHANGE: 14,
}


def decode_issue(raw: bytes, key: SiteKey) -> IssueCard | None:
    """Parse and authenticate an issue file; None for a blank card.

    Raises IncompleteWriteError (``serial`` attribute set) for a torn write, CardMacError for
    anything not MAC'd by this site's key, UnknownCardError for bytes that are not this format.
    """
    if len(raw) != ISSUE_FILE_LEN:
        raise UnknownCardError(f"issue file is {len(raw)} bytes, expected {ISSUE_FILE_LEN}")
    if is_blank(raw):
        return None
    if raw[:4] != MAGIC:
        raise UnknownCardError("the card holds data of another format")
    if raw[4] != LAYOUT_VERSION:
        raise UnknownCardError(f"card layout version {raw[4]} is not supported")
    try:
        card_type = CardType(raw[5])
    except ValueError:
        raise CardMacError(f"unknown card type code 0x{raw[5]:02X}") from None
    n = raw[32]
    if n != _BODY_LEN[card_type]:
        raise CardMacError(f"body length {n} does not fit card type {card_type.name}")
    signed, mac = raw[: HEADER_LEN + n], raw[HEADER_LEN + n : HEADER_LEN + n + MAC_LEN]
    if raw[COMMIT_OFFSET] != COMMITTED:
        serial = peek_serial(raw)
        raise IncompleteWriteError(
            f"the write of card serial {serial} did not finish", serial=serial
        )
    if not key.check(ISSUE_LABEL, signed, mac):
        raise CardMacError("issue MAC does not verify under this site's key")
    return _parse_issue(card_type, signed)


def _parse_issue(card_type: CardType, signed: bytes) -> IssueCard:
    head = (
        int.from_bytes(signed[6:14], "big"),
        _unbcd(signed[14:20], "meter number"),
        _unbcd(signed[20:26], "customer number"),
        decode_time(signed[26:32]),
    )
    body = signed[HEADER_LEN:]
    if card_type in (CardType.OPEN, CardType.PURCHASE, CardType.REISSUE):
        count, amount = struct.unpack(">HI", body)
        kind = UserCardKind(card_type.value)
        return UserCard(*head, kind=kind, purchase_count=count, amount_fen=amount)
    if card_type is CardType.SETTINGS:
        v = [_optional(x) for x in struct.unpack(">6I", body)]
        return SettingsCard(*head, v[0], v[1], v[2], v[3], v[4], v[5])
    if card_type is CardType.RELAY:
        try:
            command = RelayCommand(body[0])
        except ValueError:
            raise CardFormatError(f"relay command 0x{body[0]:02X} unknown") from None
        return RelayCard(*head, command=command)
    if card_type is CardType.METER_CHANGE:
        return MeterChangeCard(
            *head,
            new_meter_number=_unbcd(body[:6], "new meter number"),
            user_card_serial=int.from_bytes(body[6:14], "big"),
        )
    if card_type is CardType.QUERY:
        return QueryCard(*head)
    if card_type is CardType.RESET:
        return ResetCard(*head)
    return RefundCard(*head)


# ---- return file -----------------------------------------------------------------------------
_RETURN_STRUCT = struct.Struct(">BB6s6sHIIIIIIIIII H5sB")


def encode_return(ret: ReturnArea, card_serial: int, key: SiteKey) -> bytes:
    """The 72-byte return file a meter writes; its MAC binds it to ``card_serial``."""
    signed = _RETURN_STRUCT.pack(
        RETURN_WRITTEN,
        ret.outcome.value,
        _bcd(ret.meter_number),
        _bcd(ret.customer_number),
        ret.purchase_count,
        ret.remaining_fen,
        ret.overdraft_fen,
        ret.total_purchased_fen,
        ret.total_energy_ckwh,
        ret.alarm1_fen,
        ret.alarm2_fen,
        ret.overdraft_limit_fen,
        ret.hoarding_limit_fen,
        ret.close_allowed_fen,
        ret.price_1e4,
        ret.status.value,
        encode_time(ret.written_at, seconds=False),
        ret.illegal_inserts,
    )
    return signed + key.mac(RETURN_LABEL, struct.pack(">Q", card_serial) + signed)


def decode_return(raw: bytes, card_serial: int, key: SiteKey) -> ReturnArea | None:
    """Parse and authenticate a return file; None when no meter has written it yet."""
    if len(raw) != RETURN_FILE_LEN:
        raise UnknownCardError(f"return file is {len(raw)} bytes, expected {RETURN_FILE_LEN}")
    if raw[0] != RETURN_WRITTEN:
        return None
    signed, mac = raw[:RETURN_MAC_OFFSET], raw[RETURN_MAC_OFFSET:]
    if not key.check(RETURN_LABEL, struct.pack(">Q", card_serial) + signed, mac):
        raise CardMacError("return-write MAC does not verify: not written by a meter of this site")
    f = _RETURN_STRUCT.unpack(signed)
    try:
        outcome = MeterOutcome(f[1])
    except ValueError:
        raise CardFormatError(f"unknown meter outcome 0x{f[1]:02X}") from None
    return ReturnArea(
        outcome=outcome,
        meter_number=_unbcd(f[2], "meter number"),
        customer_number=_unbcd(f[3], "customer number"),
        purchase_count=f[4],
        remaining_fen=f[5],
        overdraft_fen=f[6],
        total_purchased_fen=f[7],
        total_energy_ckwh=f[8],
        alarm1_fen=f[9],
        alarm2_fen=f[10],
        overdraft_limit_fen=f[11],
        hoarding_limit_fen=f[12],
        close_allowed_fen=f[13],
        price_1e4=f[14],
        status=MeterStatus(f[15]),
        written_at=decode_time(f[16]),
        illegal_inserts=f[17],
    )


def decode_card(issue_raw: bytes, return_raw: bytes, key: SiteKey) -> CardContent | None:
    """Both files of a card; None for a blank card. Errors as in decode_issue; a return file
    that does not authenticate is reported in ``ret_damaged``, not raised."""
    issue = decode_issue(issue_raw, key)
    if issue is None:
        return None
    try:
        return CardContent(issue, decode_return(return_raw, issue.serial, key))
    except CardMacError:
        return CardContent(issue, None, ret_damaged=True)


def encode_card(content: CardContent, key: SiteKey) -> tuple[bytes, bytes]:
    """(issue file, return file) images for a card; an unwritten return file is all zeros."""
    ret = (
        bytes(RETURN_FILE_LEN)
        if content.ret is None
        else encode_return(content.ret, content.issue.serial, key)
    )
    return encode_issue(content.issue, key), ret
