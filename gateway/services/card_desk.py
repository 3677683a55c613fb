"""What every card workflow shares: the database, the clock, the gateway's card reader, one lock.

One operation at a time at the gateway's reader: a workflow reads the card, decides, and writes
it, and nothing else may touch the card in between (the reader service locks single calls
only). Sales also take the meter's vending lock, so a comm sale cannot take the purchase count a
card is being written for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from gateway.billing import BillingError, money_to_energy
from gateway.cards import CardContent, CardReaderService, ReturnArea, UserCard
from gateway.cards.errors import (
    CardError,
    CardMacError,
    IncompleteWriteError,
    ReaderNotFoundError,
    UnknownCardError,
)
from gateway.cards.format import ZERO_NUMBER
from gateway.cards.session import CardRead
from gateway.services.actor import Actor
from gateway.services.context import AccountContext, load
from gateway.services.errors import ServiceError
from gateway.services.vending import MAX_AMOUNT_FEN, SaleResult, Vending, result_of
from gateway.siteclock import SiteClock
from gateway.store.database import Database
from gateway.store.vends import Vend


@dataclass(frozen=True)
class CardSaleResult(SaleResult):
    """A sale (or reissue) on a card: the comm result plus the card's serial."""

    card_serial: int = 0

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "card_serial": self.card_serial}


def sale_result(vend: Vend, *, repeated: bool = False) -> CardSaleResult:
    base = result_of(vend, repeated=repeated)
    return CardSaleResult(**base.__dict__, card_serial=int(vend.request.get("card_serial", 0)))


@dataclass(frozen=True)
class CardWriteResult:
    """A card written without money moving (tool cards, refund card, meter-change card)."""

    card_serial: int
    card_kind: str  # the card_issues kind: settings, query, reset, relay, refund, meter_change
    card: CardContent
    repeated: bool = False  # the card already was exactly this card: nothing written

    def to_json(self) -> dict[str, Any]:
        return {
            "card_serial": self.card_serial,
            "card_kind": self.card_kind,
            "card_type": self.card.issue.card_type.name.lower(),
            "repeated": self.repeated,
        }


@dataclass(frozen=True)
class CardProbe:
    """What is in the reader, including cards that do not authenticate.

    ``serial`` is the card's serial when it can be trusted: an authenticated card, or an
    unfinished write (whose serial the gateway wrote itself a moment ago).
    """

    read: CardRead | None
    serial: int | None
    incomplete: bool = False
    error: CardError | None = None  # why the card could not be read (foreign, tampered, torn)

    @property
    def content(self) -> CardContent | None:
        return None if self.read is None else self.read.content

    @property
    def blank(self) -> bool:
        return self.read is not None and self.read.blank


@dataclass(frozen=True)
class UserCardView:
    """【读用户卡】: the user card in the reader and what the gateway knows about it."""

    card: CardContent
    account_id: int | None  # the account it was issued for (None: not issued here)
    current: bool  # the account's latest card (False: superseded by a reissue)
    purchase_loaded: bool  # a meter loaded the card's purchase (see docs/cards.md section 11)
    unfinished_vend_id: int | None = None  # a card write of this card that did not finish

    def to_json(self) -> dict[str, Any]:
        issue, ret = self.card.issue, self.card.ret
        assert isinstance(issue, UserCard)
        return {
            "card_serial": issue.serial,
            "card_type": issue.card_type.name.lower(),
            "meter_number": issue.meter_number,
            "customer_number": issue.customer_number,
            "purchase_count": issue.purchase_count,
            "amount": issue.amount_fen,
            "account_id": self.account_id,
            "current": self.current,
            "purchase_loaded": self.purchase_loaded,
            "return": None if ret is None else return_json(ret),
            "return_damaged": self.card.ret_damaged,
            "unfinished_vend_id": self.unfinished_vend_id,
        }


def return_json(ret: ReturnArea) -> dict[str, Any]:
    """A meter's write-back for the UI and the API (JSON types only)."""
    data = dataclasses.asdict(ret)
    data["outcome"] = ret.outcome.name.lower()
    data["status"] = int(ret.status)
    data["written_at"] = ret.written_at.isoformat()
    return data


def purchase_loaded(card: CardContent) -> bool:
    """The card's purchase is in its meter: the return file says so (docs/cards.md section 11),
    or the meter was already further on (a comm sale moved its count) when it wrote back."""
    issue, ret = card.issue, card.ret
    if card.purchase_loaded:
        return True
    return (
        isinstance(issue, UserCard)
        and ret is not None
        and ret.customer_number == issue.customer_number
        and issue.meter_number in (ret.meter_number, ZERO_NUMBER)
        and ret.purchase_count > issue.purchase_count
    )


class CardDesk:
    """State and helpers of the card workflows (the mixins of CardWorkflows use these)."""

    def __init__(
        self,
        db: Database,
        clock: SiteClock,
        vending: Vending,
        reader: CardReaderService | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.vending = vending  # its per-meter locks keep card and comm sales apart
        self._reader = reader
        self.lock = asyncio.Lock()

    def use_reader(self, reader: CardReaderService | None) -> None:
        """Attach the gateway's card reader (the runtime does this from ``[cards]``)."""
        self._reader = reader

    @property
    def reader(self) -> CardReaderService:
        if self._reader is None:
            raise ReaderNotFoundError("no card reader is configured for the gateway ([cards])")
        return self._reader

    def now(self) -> dt.datetime:
        """Site-local time to the second: what cards carry."""
        return self.clock.local_now().replace(microsecond=0)

    async def probe(self) -> CardProbe:
        """Read the card; unreadable-but-present cards come back as a probe, not an error.

        Errors that mean there is no card to look at (no reader, no card, pcscd down) raise.
        """
        try:
            read = await self.reader.read()
        except IncompleteWriteError as exc:
            return CardProbe(None, exc.serial, incomplete=True, error=exc)
        except (CardMacError, UnknownCardError) as exc:
            return CardProbe(None, None, error=exc)
        content = read.content
        return CardProbe(read, None if content is None else content.issue.serial)

    async def context(self, account_id: int) -> AccountContext:
        """An open meter-wallet account: the only kind a card can carry purchases for."""
        ctx = await self.db.read(load, account_id, self.clock)
        if ctx.gateway_wallet:
            raise ServiceError(
                "E512", "the gateway holds this account's money: sell without a card"
            )
        return ctx

    @staticmethod
    def check_amount(amount_fen: int, *, allow_zero: bool = False) -> None:
        low = 0 if allow_zero else 1
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
            raise ServiceError("E502", "the amount must be whole fen", field="amount")
        if not low <= amount_fen <= MAX_AMOUNT_FEN:
            raise ServiceError(
                "E502", f"amount must be between {low} and {MAX_AMOUNT_FEN} fen", field="amount"
            )

    @staticmethod
    def convert(ctx: AccountContext, amount_fen: int) -> tuple[int, int | None]:
        """(energy, remainder) for an energy account; (0, None) for a money account."""
        if not ctx.energy_wallet or amount_fen == 0:
            return 0, None
        try:
            conversion = money_to_energy(
                amount_fen,
                ctx.tariff,
                period_use=ctx.period_energy_cwh,
                previous_remainder=ctx.balance.remainder_fen,
            )
        except BillingError as exc:
            raise ServiceError("E502", str(exc), field="amount") from exc
        if conversion.energy <= 0:
            raise ServiceError("E502", "the amount buys no energy at this price", field="amount")
        return conversion.energy, conversion.remainder

    @staticmethod
    def check_hoarding(ctx: AccountContext, before: int, load_value: int) -> None:
        """Money meters refuse a balance over the hoarding limit: refuse it here, before the
        customer pays for a card the meter would not take."""
        limit = ctx.account.limits.hoarding_limit_fen or ctx.meter_type.profile.hoarding_limit_fen
        if limit and not ctx.energy_wallet and before + load_value > limit:
            raise ServiceError(
                "E508",
                f"the meter held {before} fen at its last write-back; limit {limit} fen",
                field="amount",
            )


def require_any(actor: Actor, *permissions: str) -> None:
    """For steps several workflows share (reading a user card)."""
    if not any(p in actor.permissions for p in permissions):
        actor.require(permissions[0])
