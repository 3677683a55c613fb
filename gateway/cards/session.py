"""Card operations as blocking calls: one PC/SC connection per operation, medium detected from
the card itself. gateway.cards.reader runs these in a thread; nothing else should call them from
the event loop.

A fresh context and connection per operation costs a few milliseconds and means a pcscd restart
or a card swap between two operations can never leave a stale handle behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from gateway.cards.config import CardReaderConfig
from gateway.cards.errors import (
    CardError,
    CardMacError,
    CardReadOnlyError,
    IncompleteWriteError,
    NotANewCardError,
    NotAUserCardError,
    UnknownCardError,
    WrongCardError,
)
from gateway.cards.format import (
    RETURN_FILE_LEN,
    CardContent,
    IssueCard,
    ReturnArea,
    UserCard,
    decode_card,
    decode_issue,
    encode_issue,
    encode_return,
    is_blank,
)
from gateway.cards.keys import SiteKey
from gateway.cards.media import Area, CardMedium, CpuMedium, Sle4442Medium, is_sle4442_atr
from gateway.cards.pcsc import PcscCard, PcscContext, select_reader
from gateway.cards.statgrid import StateGridCard, read_state_grid
from gateway.cards.statgrid import probe as probe_state_grid

MediumKind = Literal["cpu", "sle4442", "state_grid"]


@dataclass(frozen=True)
class CardRead:
    """What is on the card in the reader. ``content`` is None for a blank card."""

    reader: str
    medium: MediumKind
    atr: bytes
    content: CardContent | None
    state_grid: StateGridCard | None = None

    @property
    def blank(self) -> bool:
        return self.content is None and self.state_grid is None


class BlockingCardReader:
    """The card operations of one configured reader, each self-contained and blocking."""

    def __init__(self, config: CardReaderConfig, key: SiteKey) -> None:
        self.config = config
        self.key = key

    def readers(self) -> list[str]:
        with PcscContext() as ctx:
            return ctx.readers()

    def reader_name(self) -> str:
        with PcscContext() as ctx:
            return select_reader(ctx.readers(), self.config.reader)

    @contextmanager
    def _connected(self) -> Iterator[PcscCard]:
        with PcscContext() as ctx:
            reader = select_reader(ctx.readers(), self.config.reader)
            card = ctx.connect(reader, self.config.connect_retry_ms / 1000)
            try:
                yield card
            finally:
                card.disconnect()

    def _medium(self, card: PcscCard) -> CardMedium | StateGridCard:
        atr = card.atr
        backend = self.config.backend
        if is_sle4442_atr(atr):
            if backend == "cpu":
                raise UnknownCardError("an SLE4442 memory card, but this site uses CPU cards")
            return Sle4442Medium(card, self.config.psc)
        if backend == "sle4442":
            raise UnknownCardError(f"not an SLE4442 memory card (ATR {atr.hex(' ')})")
        if CpuMedium.probe(card):
            return CpuMedium(card)
        if probe_state_grid(card):
            return read_state_grid(card)
        raise UnknownCardError(f"a CPU card without this system's files (ATR {atr.hex(' ')})")

    # ---- reading -----------------------------------------------------------------------------
    def read(self) -> CardRead:
        """Read and authenticate whatever card is in the reader."""
        with self._connected() as card:
            medium = self._medium(card)
            if isinstance(medium, StateGridCard):
                return CardRead(card.reader, "state_grid", card.atr, None, medium)
            content = decode_card(medium.read(Area.ISSUE), medium.read(Area.RETURN), self.key)
            return CardRead(card.reader, _kind(medium), card.atr, content)

    def read_user_card(self) -> CardContent:
        """The user card in the reader, or E004 for anything that is not one."""
        try:
            read = self.read()
        except UnknownCardError as exc:
            raise NotAUserCardError(f"not a user card: {exc}", reader=exc.reader) from exc
        if read.state_grid is not None:
            raise NotAUserCardError("a State Grid card, not a user card of this system")
        if read.content is None:
            raise NotAUserCardError("the card is blank")
        if not isinstance(read.content.issue, UserCard):
            name = read.content.issue.card_type.name.lower().replace("_", "-")
            raise NotAUserCardError(f"this is a {name} card, not a user card")
        return read.content

    # ---- writing -----------------------------------------------------------------------------
    def write(
        self,
        issue: IssueCard,
        *,
        require_blank: bool = False,
        expect_serial: int | None = None,
    ) -> CardContent:
        """Write an issue file and return the card as read back.

        ``require_blank``: the card must be blank (or hold an unfinished write of this same
        serial), else E002; its return file is blanked too. ``expect_serial``: the card must hold
        that serial (the card read earlier in this workflow), else E408. Without either, the
        card's return file is kept, so a purchase does not hide whether the last one was loaded.
        """
        with self._connected() as card:
            medium = self._writable(card)
            current = _current_serial(medium.read(Area.ISSUE), self.key, strict=not require_blank)
            if require_blank and current not in (None, issue.serial):
                raise NotANewCardError(
                    "the card is not blank: clear it first (F3.2)", reader=card.reader
                )
            if expect_serial is not None and current != expect_serial:
                raise WrongCardError(
                    f"the card holds serial {current}, expected {expect_serial}",
                    reader=card.reader,
                )
            if require_blank and not is_blank(medium.read(Area.RETURN)):
                medium.update(Area.RETURN, 0, bytes(RETURN_FILE_LEN))
            medium.write_issue(encode_issue(issue, self.key))
            return self._read_back(medium)

    def write_return(self, ret: ReturnArea, *, expect_serial: int) -> CardContent:
        """The meter's half: fill the return file of the card with serial ``expect_serial``."""
        with self._connected() as card:
            medium = self._writable(card)
            issue = decode_issue(medium.read(Area.ISSUE), self.key)
            if issue is None or issue.serial != expect_serial:
                found = None if issue is None else issue.serial
                raise WrongCardError(
                    f"the card holds serial {found}, expected {expect_serial}", reader=card.reader
                )
            medium.write_return(encode_return(ret, issue.serial, self.key))
            return self._read_back(medium)

    def clear(self, *, expect_serial: int | None = None) -> None:
        """Blank the card (F3.2). State Grid cards are refused; a tampered card can be cleared
        only without ``expect_serial``."""
        with self._connected() as card:
            medium = self._writable(card)
            if expect_serial is not None:
                current = _current_serial(medium.read(Area.ISSUE), self.key, strict=True)
                if current != expect_serial:
                    raise WrongCardError(
                        f"the card holds serial {current}, expected {expect_serial}",
                        reader=card.reader,
                    )
            medium.clear()

    def _writable(self, card: PcscCard) -> CardMedium:
        medium = self._medium(card)
        if isinstance(medium, StateGridCard):
            raise CardReadOnlyError("State Grid cards are never written", reader=card.reader)
        return medium

    def _read_back(self, medium: CardMedium) -> CardContent:
        content = decode_card(medium.read(Area.ISSUE), medium.read(Area.RETURN), self.key)
        if content is None:
            raise CardError("the card reads as blank right after a write", reader=medium.t.reader)
        return content


def _kind(medium: CardMedium) -> MediumKind:
    return "sle4442" if isinstance(medium, Sle4442Medium) else "cpu"


def _current_serial(raw: bytes, key: SiteKey, *, strict: bool) -> int | None:
    """Serial on the card: None when blank; an unfinished write counts with its serial.

    ``strict``: a card that fails authentication raises; otherwise it counts as "not blank"
    with serial -1, so that require_blank reports E002 (clear it first) rather than a MAC error.
    """
    try:
        issue = decode_issue(raw, key)
    except IncompleteWriteError as exc:
        return exc.serial
    except (CardMacError, UnknownCardError):
        if strict:
            raise
        return -1
    return None if issue is None else issue.serial
