"""Cards that move no money: read any card and clear a card (F3.2), and the tool cards of the
manual's additional tools: reset (F7.1), settings (F7.2), query (F7.3), relay (F7.4).

A tool card is written on a blank card (new serial) or over an earlier tool card (its serial
kept); the return file is blanked, so a query card shows only what the next meter writes and a
reset card is not refused as "already used" by the meter it reset before. Anything else in the
reader (a user card, a refund card) is refused with E521: clearing is a deliberate step.

Clearing refuses a card that still carries something not settled (E526): a purchase sold but not
loaded, a refund read-out not yet paid, a meter-change card between its two meters, or a card
whose write did not finish. Those are money; a blank card would lose them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.cards import (
    CardContent,
    IssueCard,
    MeterChangeCard,
    MeterOutcome,
    QueryCard,
    RefundCard,
    RelayCard,
    RelayCommand,
    ResetCard,
    ReturnArea,
    SettingsCard,
    UserCard,
)
from gateway.cards.format import ZERO_NUMBER
from gateway.cards.session import CardRead
from gateway.services import card_records
from gateway.services.actor import Actor
from gateway.services.card_desk import (
    CardDesk,
    CardProbe,
    CardWriteResult,
    purchase_loaded,
    return_json,
)
from gateway.services.card_records import meter_number
from gateway.services.errors import ServiceError
from gateway.store import customers, meters, oplog
from gateway.store.cards import CardKind
from gateway.store.conn import Conn
from gateway.store.meters import Meter

TOOL_CARDS = (SettingsCard, QueryCard, ResetCard, RelayCard)


@dataclass(frozen=True)
class CardView:
    """【读电卡（IC卡）】: any card, and which account of this site it belongs to."""

    read: CardRead
    account_id: int | None = None
    current: bool = False  # the account's latest user card
    purchase_loaded: bool | None = None  # user cards only

    @property
    def content(self) -> CardContent | None:
        return self.read.content

    def to_json(self) -> dict[str, Any]:
        content = self.read.content
        data: dict[str, Any] = {
            "reader": self.read.reader,
            "medium": self.read.medium,
            "blank": self.read.blank,
            "account_id": self.account_id,
            "current": self.current,
            "purchase_loaded": self.purchase_loaded,
        }
        if content is not None:
            data["card_type"] = content.issue.card_type.name.lower()
            data["card_serial"] = content.issue.serial
            data["meter_number"] = content.issue.meter_number
            data["customer_number"] = content.issue.customer_number
            data["return"] = None if content.ret is None else return_json(content.ret)
            data["return_damaged"] = content.ret_damaged
        if self.read.state_grid is not None:
            data["state_grid"] = True
        return data


class ToolCards(CardDesk):
    # ---- F3.2 ----------------------------------------------------------------------------------
    async def read_card(self, actor: Actor) -> CardView:
        """Read whatever card is in the reader (State Grid cards too). Errors name the problem:
        E410 tampered or another site's, E411 unfinished write, E406 unknown card."""
        actor.require("cards.read")
        async with self.lock:
            read = await self.reader.read()
        return await self.db.write(_view_and_log, actor, read)

    async def clear_card(self, actor: Actor) -> int | None:
        """【清电卡（IC卡）】: blank the card; returns the serial it had (None: unknown). A blank
        card is left as it is."""
        actor.require("cards.read")
        async with self.lock:
            probe = await self.probe()
            if probe.blank:
                return None
            await self.db.read(_check_clearable, probe)
            trusted = probe.content is not None or probe.incomplete
            await self.reader.clear(expect_serial=probe.serial if trusted else None)
            await self.db.write(_record_clear, actor, probe)
            return probe.serial

    # ---- F7.1 .. F7.4 --------------------------------------------------------------------------
    async def make_reset_card(self, actor: Actor, meter_id: int) -> CardWriteResult:
        """【复位卡（IC卡）】: super reset of one meter (its prepaid state cleared)."""
        actor.require("meters.reset")
        meter = await self.db.read(meters.get, meter_id)
        await self.db.read(_check_resettable, meter)
        number = meter_number(meter)
        return await self._write_tool(
            actor,
            lambda serial: ResetCard(serial, number, ZERO_NUMBER, self.now()),
            CardKind.RESET,
            meter,
        )

    async def make_settings_card(
        self,
        actor: Actor,
        *,
        meter_id: int | None = None,
        alarm1_fen: int | None = None,
        alarm2_fen: int | None = None,
        overdraft_limit_fen: int | None = None,
        hoarding_limit_fen: int | None = None,
        close_allowed_fen: int | None = None,
        price_1e4: int | None = None,
    ) -> CardWriteResult:
        """【设置卡（IC卡）】: None leaves a parameter unchanged; no meter = any meter (E415 for
        values out of range, alarm 2 above alarm 1)."""
        actor.require("tools.cards")
        values = (alarm1_fen, alarm2_fen, overdraft_limit_fen, hoarding_limit_fen,
                  close_allowed_fen, price_1e4)  # fmt: skip
        if all(v is None for v in values):
            raise ServiceError("E502", "set at least one parameter", field="alarm1")
        meter = None if meter_id is None else await self.db.read(meters.get, meter_id)
        number = ZERO_NUMBER if meter is None else meter_number(meter)

        def make(serial: int) -> SettingsCard:
            return SettingsCard(serial, number, ZERO_NUMBER, self.now(), *values)

        make(1)  # bad values fail here, before a serial is taken or the card touched
        return await self._write_tool(actor, make, CardKind.SETTINGS, meter)

    async def make_query_card(self, actor: Actor, meter_id: int | None = None) -> CardWriteResult:
        """【查询卡（IC卡）】: the meter writes its full state on it; read_card shows it."""
        actor.require("tools.cards")
        meter = None if meter_id is None else await self.db.read(meters.get, meter_id)
        number = ZERO_NUMBER if meter is None else meter_number(meter)
        return await self._write_tool(
            actor,
            lambda serial: QueryCard(serial, number, ZERO_NUMBER, self.now()),
            CardKind.QUERY,
            meter,
        )

    async def make_relay_card(
        self, actor: Actor, meter_id: int, command: RelayCommand
    ) -> CardWriteResult:
        """【强制拉合闸卡（IC卡）】: trip (1A) or close (1B) one meter's relay."""
        actor.require("relay.control")
        meter = await self.db.read(meters.get, meter_id)
        number = meter_number(meter)
        command = RelayCommand(command)
        return await self._write_tool(
            actor,
            lambda serial: RelayCard(serial, number, ZERO_NUMBER, self.now(), command=command),
            CardKind.RELAY,
            meter,
            detail={"command": command.name.lower()},
        )

    async def _write_tool(
        self,
        actor: Actor,
        make: Callable[[int], IssueCard],
        kind: CardKind,
        meter: Meter | None,
        *,
        detail: dict[str, Any] | None = None,
    ) -> CardWriteResult:
        async with self.lock:
            probe = await self.probe()
            serial = await self.db.read(_tool_serial, probe)
            if serial is None:
                serial = await self.db.write(card_records.next_serial)
            card = make(serial)
            written = await self.reader.write(card, require_blank=True)
            await self.db.write(_record_tool, actor, kind, serial, meter, detail or {})
            return CardWriteResult(serial, str(kind), written)


def _tool_serial(c: Conn, probe: CardProbe) -> int | None:
    """The serial to write a tool card with: None for a blank card (a new one), the card's own
    for a tool card or an unfinished write nobody owns; E521 for anything else."""
    if probe.blank:
        return None
    content = probe.content
    if content is not None and isinstance(content.issue, TOOL_CARDS):
        return content.issue.serial
    if (
        probe.incomplete
        and probe.serial is not None
        and card_records.vend_for_serial(c, probe.serial) is None
        and card_records.account_of_serial(c, probe.serial) is None
    ):
        return probe.serial
    what = "an unreadable card" if content is None else content.issue.card_type.name.lower()
    raise ServiceError("E521", f"the reader holds {what}")


def _check_resettable(c: Conn, meter: Meter) -> None:
    holder = customers.open_account_for_meter(c, meter.id)
    if holder is None or str(holder.wallet_model) != "meter":
        return
    sold = card_records.known_count(c, holder.id, meter.id)
    if sold:
        raise ServiceError(
            "E527", f"account {holder.id} on meter {meter.address} has {sold} purchase(s)"
        )


def _check_clearable(c: Conn, probe: CardProbe) -> None:
    if probe.serial is not None:
        pending = card_records.vend_for_serial(c, probe.serial)
        if pending is not None:
            raise ServiceError(
                "E526", f"card operation {pending.id} writes this card: finish or abandon it",
                vend_id=pending.id,
            )  # fmt: skip
    content = probe.content
    if content is None:
        return
    issue, ret = content.issue, content.ret
    account_id = card_records.account_of_serial(c, issue.serial)
    account = None if account_id is None else customers.get_account(c, account_id)
    if account is None or not account.is_open:
        return
    if isinstance(issue, UserCard) and not purchase_loaded(content):
        if card_records.current_serial(c, account.id) != issue.serial:
            return  # superseded: the reissued card carries the account's purchases now
        loaded = ret.purchase_count if ret is not None else 0
        if card_records.unloaded_sales(c, account.id, account.meter_id, loaded):
            raise ServiceError(
                "E526", f"purchase {issue.purchase_count} on this card is not in the meter yet"
            )
    if (
        isinstance(issue, RefundCard)
        and ret is not None
        and ret.outcome is MeterOutcome.REFUND_READ
    ):
        raise ServiceError("E526", "the meter has read out this refund card: settle it")
    if isinstance(issue, MeterChangeCard) and ret is not None:
        if ret.outcome is MeterOutcome.TRANSFERRED_OUT:
            raise ServiceError("E526", "the old meter has handed its value to this card")
        if ret.outcome is MeterOutcome.REPLACED and account.meter_id != _meter_id(c, ret):
            raise ServiceError("E526", "the new meter took over: make the replacement purchase")


def _meter_id(c: Conn, ret: ReturnArea) -> int | None:
    row = c.one(
        "SELECT id FROM meters WHERE meter_number = ? OR address = ?",
        (ret.meter_number, ret.meter_number),
    )
    return None if row is None else int(row["id"])


def _record_clear(c: Conn, actor: Actor, probe: CardProbe) -> None:
    serial = probe.serial
    if serial is None:
        oplog.append(
            c,
            "card.clear",
            operator_id=actor.operator_id,
            operator_name=actor.name,
            target="card:unknown",
            detail={"reason": str(probe.error) if probe.error else "unreadable card"},
        )
        return
    content = probe.content
    card_records.record_card(
        c,
        actor,
        kind=CardKind.CLEAR,
        action="card.clear",
        serial=serial,
        account_id=card_records.account_of_serial(c, serial),
        detail={
            "was": "unfinished write" if content is None else content.issue.card_type.name.lower()
        },
        event_kind=_event_kind(content),
        event_action="voided",
    )


def _event_kind(content: CardContent | None) -> str | None:
    if content is None:
        return None
    issue = content.issue
    for types, name in (
        (UserCard, "user"),
        (SettingsCard, "settings"),
        (QueryCard, "query"),
        (ResetCard, "reset"),
        (RelayCard, "relay"),
        (RefundCard, "refund"),
        (MeterChangeCard, "meter_change"),
    ):
        if isinstance(issue, types):
            return name
    return None


def _record_tool(
    c: Conn, actor: Actor, kind: CardKind, serial: int, meter: Meter | None, detail: dict[str, Any]
) -> None:
    card_records.record_card(
        c,
        actor,
        kind=kind,
        action=f"card.{kind}",
        serial=serial,
        meter_address=None if meter is None else meter.address,
        detail=detail,
    )


def _view_and_log(c: Conn, actor: Actor, read: CardRead) -> CardView:
    content = read.content
    view = CardView(read)
    if content is not None:
        serial = content.issue.serial
        account_id = card_records.account_of_serial(c, serial)
        current = account_id is not None and card_records.current_serial(c, account_id) == serial
        loaded = purchase_loaded(content) if isinstance(content.issue, UserCard) else None
        view = CardView(read, account_id, current, loaded)
    oplog.append(
        c,
        "card.read",
        operator_id=actor.operator_id,
        operator_name=actor.name,
        target="card:blank" if content is None else f"card:{content.issue.serial}",
        detail={"medium": read.medium,
                "card_type": None if content is None else content.issue.card_type.name.lower(),
                "outcome": None if content is None or content.ret is None
                else content.ret.outcome.name.lower()},
    )  # fmt: skip
    return view
