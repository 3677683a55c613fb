"""The menu and keypad state machine: keys in, a view and at most one effect out. No I/O.

Menu map (docs/panel.md has the picture):
  status --OK--> main menu: status, alarms, meter lookup, network, silence buzzer, [quick top-up]
  meter lookup -> number entry -> meter screen --OK--> meter menu:
      read now, relay on, relay off (relay PIN), [top up]
  [ ] = 4x4 matrix keypad only. While an effect runs every key is ignored (no double sale).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gateway.panel import errors
from gateway.panel.backend import MeterInfo, RelayState, TopUpRequest, VendStatus
from gateway.panel.config import KeypadKind
from gateway.panel.effects import (
    AckAlarmsEffect,
    CountOutcome,
    Effect,
    FailedOutcome,
    LookupEffect,
    MeterOutcome,
    Outcome,
    ReadNowEffect,
    RelayEffect,
    RelayOutcome,
    SilenceEffect,
    TopUpEffect,
    TopUpOutcome,
)
from gateway.panel.errors import Message
from gateway.panel.fonts import PanelFont
from gateway.panel.keys import Key
from gateway.panel.screens import content_rows, message_lines, message_text_rows, network_rows
from gateway.panel.state import PanelState
from gateway.panel.units import format_fen, parse_amount_fen
from gateway.panel.views import (
    DONE_MARK,
    AlarmsView,
    BusyView,
    ConfirmTopUpView,
    EntryPurpose,
    EntryView,
    MenuItem,
    MenuView,
    MessageView,
    MeterView,
    NetworkView,
    StatusView,
    View,
)

_MAX_LEN = {
    EntryPurpose.LOOKUP: 20,
    EntryPurpose.TOPUP_METER: 20,
    EntryPurpose.TOPUP_AMOUNT: 10,
    EntryPurpose.RELAY_PIN: 8,
    EntryPurpose.TOPUP_PIN: 8,
}
_CYCLE = "0123456789" + DONE_MARK


def _is_number(value: str) -> bool:
    return value.isdigit() and 1 <= len(value) <= 20


def _is_pin(value: str) -> bool:
    return value.isdigit() and 4 <= len(value) <= 8


class PanelMachine:
    def __init__(
        self,
        *,
        keypad: KeypadKind,
        font: PanelFont,
        relay_enabled: bool,
        topup_enabled: bool,
        topup_max_fen: int,
        new_key: Callable[[], str],
    ) -> None:
        self._nav = keypad != "matrix4x4"
        self._font = font
        self._relay_enabled = relay_enabled
        self._topup_enabled = topup_enabled
        self._topup_max_fen = topup_max_fen
        self._new_key = new_key
        self._view: View = StatusView()
        self._meter: MeterInfo | None = None
        self._pending: Effect | None = None
        self._retry: Effect | None = None
        self._after: View = StatusView()
        self._relay_close = False
        self._draft_meter = ""
        self._draft_amount = 0
        self._draft_pin = ""
        self._draft_key = ""
        self.main_items: tuple[MenuItem, ...] = (
            MenuItem.STATUS,
            MenuItem.ALARMS,
            MenuItem.LOOKUP,
            MenuItem.NETWORK,
            MenuItem.SILENCE,
            *((MenuItem.TOPUP,) if topup_enabled else ()),
        )
        self.meter_items: tuple[MenuItem, ...] = (
            MenuItem.READ_NOW,
            MenuItem.RELAY_ON,
            MenuItem.RELAY_OFF,
            *((MenuItem.METER_TOPUP,) if topup_enabled else ()),
        )

    @property
    def view(self) -> View:
        return self._view

    @property
    def busy(self) -> bool:
        return self._pending is not None

    @property
    def pending(self) -> Effect | None:
        return self._pending

    def home(self) -> None:
        """Back to the status screen after idle; drops half-typed PINs and drafts."""
        if self.busy or (isinstance(self._view, MessageView) and self._view.can_retry):
            return
        self._clear_draft()
        self._view = StatusView()

    # -- keys ------------------------------------------------------------------------------

    def press(self, key: Key, state: PanelState) -> Effect | None:
        if self.busy:
            return None
        view = self._view
        match view:
            case StatusView():
                if key is Key.OK:
                    self._view = self._main_menu()
                elif key.digit is not None and not self._nav:
                    self._view = EntryView(EntryPurpose.LOOKUP, key.digit)
                return None
            case MenuView():
                return self._press_menu(view, key)
            case AlarmsView():
                return self._press_alarms(view, key, state)
            case NetworkView():
                total = len(network_rows(state, self._font))
                self._view = NetworkView(self._scroll(view.first, key, total))
                if key in (Key.BACK, Key.DELETE):
                    self._view = self._main_menu(MenuItem.NETWORK)
                return None
            case EntryView():
                return self._press_entry(view, key)
            case MeterView():
                if key is Key.OK:
                    self._view = MenuView(view.info.meter_no, self.meter_items)
                elif key in (Key.BACK, Key.DELETE):
                    self._view = self._main_menu(MenuItem.LOOKUP)
                elif key.digit is not None and not self._nav:
                    self._view = EntryView(EntryPurpose.LOOKUP, key.digit)
                return None
            case ConfirmTopUpView():
                if key is Key.OK:
                    request = TopUpRequest(
                        meter_no=view.meter_no,
                        amount_fen=view.amount_fen,
                        operator_pin=self._draft_pin,
                        idempotency_key=self._draft_key,
                    )
                    return self._start(TopUpEffect(request))
                if key in (Key.BACK, Key.DELETE):
                    self._clear_draft()
                    self._view = self._menu_for_context()
                return None
            case MessageView():
                return self._press_message(view, key, state)
            case BusyView():
                return None

    def _scroll(self, first: int, key: Key, total: int) -> int:
        visible = content_rows(self._font)
        if key is Key.DOWN:
            return min(first + 1, max(0, total - visible))
        if key is Key.UP:
            return max(first - 1, 0)
        return first

    def _main_menu(self, selected: MenuItem = MenuItem.STATUS) -> MenuView:
        return MenuView(None, self.main_items, self.main_items.index(selected))

    def _menu_for_context(self) -> MenuView:
        if self._meter is not None:
            return MenuView(self._meter.meter_no, self.meter_items)
        return self._main_menu()

    def _entry(self, purpose: EntryPurpose, value: str = "") -> EntryView:
        return EntryView(purpose, value, "0" if self._nav else None)

    def _press_menu(self, view: MenuView, key: Key) -> Effect | None:
        n = len(view.items)
        if key is Key.UP:
            self._view = dataclasses.replace(view, selected=(view.selected - 1) % n)
        elif key is Key.DOWN:
            self._view = dataclasses.replace(view, selected=(view.selected + 1) % n)
        elif key is Key.OK:
            return self._select(view.items[view.selected])
        elif key.digit is not None and 1 <= int(key.digit) <= n:
            return self._select(view.items[int(key.digit) - 1])
        elif key in (Key.BACK, Key.DELETE):
            if view.meter_no is not None and self._meter is not None:
                self._view = MeterView(self._meter)
            else:
                self._view = StatusView()
        return None

    def _select(self, item: MenuItem) -> Effect | None:
        meter = self._meter
        match item:
            case MenuItem.STATUS:
                self._view = StatusView()
            case MenuItem.ALARMS:
                self._view = AlarmsView()
            case MenuItem.LOOKUP:
                self._view = self._entry(EntryPurpose.LOOKUP)
            case MenuItem.NETWORK:
                self._view = NetworkView()
            case MenuItem.SILENCE:
                return self._start(SilenceEffect())
            case MenuItem.TOPUP:
                self._clear_draft()
                self._view = self._entry(EntryPurpose.TOPUP_METER)
            case MenuItem.READ_NOW if meter is not None:
                return self._start(ReadNowEffect(meter.meter_no))
            case MenuItem.RELAY_ON | MenuItem.RELAY_OFF if meter is not None:
                self._relay_close = item is MenuItem.RELAY_ON
                if not self._relay_enabled:
                    # Still goes to the executor, which refuses it and logs the attempt.
                    return self._start(RelayEffect(meter.meter_no, self._relay_close, ""))
                self._view = self._entry(EntryPurpose.RELAY_PIN)
            case MenuItem.METER_TOPUP if meter is not None:
                self._clear_draft()
                self._draft_meter = meter.meter_no
                self._view = self._entry(EntryPurpose.TOPUP_AMOUNT)
            case _:
                pass
        return None

    def _press_alarms(self, view: AlarmsView, key: Key, state: PanelState) -> Effect | None:
        last = max(0, len(state.alarms) - 1)
        if key is Key.DOWN:
            self._view = AlarmsView(min(view.selected + 1, last))
        elif key is Key.UP:
            self._view = AlarmsView(max(min(view.selected, last) - 1, 0))
        elif key is Key.OK and state.unacknowledged_ids():
            return self._start(AckAlarmsEffect())
        elif key in (Key.BACK, Key.DELETE):
            self._view = self._main_menu(MenuItem.ALARMS)
        return None

    def _press_entry(self, view: EntryView, key: Key) -> Effect | None:
        limit = _MAX_LEN[view.purpose]
        if self._nav:
            assert view.cursor is not None
            pos = _CYCLE.index(view.cursor)
            if key is Key.UP:
                self._view = dataclasses.replace(view, cursor=_CYCLE[(pos + 1) % len(_CYCLE)])
            elif key is Key.DOWN:
                self._view = dataclasses.replace(view, cursor=_CYCLE[(pos - 1) % len(_CYCLE)])
            elif key is Key.OK and view.cursor == DONE_MARK:
                return self._submit(view)
            elif key is Key.OK and len(view.value) < limit:
                self._view = dataclasses.replace(view, value=view.value + view.cursor)
            elif key in (Key.BACK, Key.DELETE):
                self._erase(view)
            return None
        if key.digit is not None and len(view.value) < limit:
            self._view = dataclasses.replace(view, value=view.value + key.digit)
        elif (
            key is Key.STAR
            and view.purpose is EntryPurpose.TOPUP_AMOUNT
            and "*" not in view.value
            and len(view.value) < limit
        ):
            self._view = dataclasses.replace(view, value=view.value + "*")
        elif key is Key.DELETE:
            self._erase(view)
        elif key is Key.BACK:
            self._cancel_entry(view)
        elif key is Key.OK:
            return self._submit(view)
        return None

    def _erase(self, view: EntryView) -> None:
        if view.value:
            self._view = dataclasses.replace(view, value=view.value[:-1])
        else:
            self._cancel_entry(view)

    def _cancel_entry(self, view: EntryView) -> None:
        if view.purpose is EntryPurpose.LOOKUP:
            self._view = self._main_menu(MenuItem.LOOKUP)
        elif view.purpose is EntryPurpose.RELAY_PIN:
            self._view = self._menu_for_context()
        else:
            from_meter = self._meter is not None and self._draft_meter == self._meter.meter_no
            self._clear_draft()
            self._view = self._menu_for_context() if from_meter else self._main_menu()

    def _submit(self, view: EntryView) -> Effect | None:
        value = view.value
        match view.purpose:
            case EntryPurpose.LOOKUP:
                if not _is_number(value):
                    self._refuse(errors.bad_number(), view)
                    return None
                return self._start(LookupEffect(value))
            case EntryPurpose.RELAY_PIN:
                if not value or self._meter is None:
                    return None
                return self._start(RelayEffect(self._meter.meter_no, self._relay_close, value))
            case EntryPurpose.TOPUP_METER:
                if not _is_number(value):
                    self._refuse(errors.bad_number(), view)
                    return None
                self._draft_meter = value
                self._view = self._entry(EntryPurpose.TOPUP_AMOUNT)
            case EntryPurpose.TOPUP_AMOUNT:
                try:
                    self._draft_amount = parse_amount_fen(value, self._topup_max_fen)
                except errors.PanelError as exc:
                    self._refuse(exc, view)
                    return None
                self._view = self._entry(EntryPurpose.TOPUP_PIN)
            case EntryPurpose.TOPUP_PIN:
                if not _is_pin(value):
                    self._refuse(errors.bad_pin_format(), self._entry(view.purpose))
                    return None
                self._draft_pin = value
                # A fresh key per confirmation: a retry after an unknown outcome reuses it,
                # a new sale after a definite failure does not.
                self._draft_key = self._new_key()
                self._view = ConfirmTopUpView(self._draft_meter, self._draft_amount)
        return None

    def _refuse(self, error: errors.PanelError, back_to: View) -> None:
        """Show a validation error; OK or back returns to `back_to` (no effect is started)."""
        self._after = back_to
        self._view = MessageView(error.message, ok=False)

    def _press_message(self, view: MessageView, key: Key, state: PanelState) -> Effect | None:
        if key in (Key.UP, Key.DOWN):
            total = len(message_lines(view.message, state.language, self._font))
            visible = message_text_rows(view, self._font)
            first = view.first + (1 if key is Key.DOWN else -1)
            self._view = dataclasses.replace(view, first=max(0, min(first, total - visible)))
        elif key is Key.OK and view.can_retry and self._retry is not None:
            return self._start(self._retry)
        elif key in (Key.OK, Key.BACK, Key.DELETE):
            self._retry = None
            self._view = self._after
        return None

    def _clear_draft(self) -> None:
        self._draft_meter = ""
        self._draft_amount = 0
        self._draft_pin = ""
        self._draft_key = ""

    # -- effects ---------------------------------------------------------------------------

    def _start(self, effect: Effect) -> Effect:
        self._pending = effect
        self._view = BusyView()
        return effect

    def complete(self, outcome: Outcome) -> None:
        """The outcome of the pending effect: decide what to show next."""
        effect = self._pending
        self._pending = None
        self._retry = None
        if effect is None:
            return
        match outcome:
            case FailedOutcome():
                self._failed(effect, outcome)
            case MeterOutcome():
                self._meter = outcome.info
                self._view = MeterView(outcome.info)
            case RelayOutcome():
                self._relay_done(outcome.relay)
            case TopUpOutcome():
                self._topup_done(effect, outcome)
            case CountOutcome() if isinstance(effect, AckAlarmsEffect):
                msg = Message(
                    f"已确认{outcome.count}条告警", f"{outcome.count} alarms acknowledged"
                )
                self._show(msg, ok=True, after=AlarmsView())
            case CountOutcome():
                self._show(
                    Message("已消音", "Buzzer silenced"),
                    ok=True,
                    after=self._main_menu(MenuItem.SILENCE),
                )

    def _show(
        self, message: Message, *, ok: bool, after: View, retry: Effect | None = None
    ) -> None:
        self._after = after
        self._retry = retry
        self._view = MessageView(message, ok=ok, can_retry=retry is not None)

    def _failed(self, effect: Effect, outcome: FailedOutcome) -> None:
        after: View
        match effect:
            case LookupEffect():
                after = self._entry(EntryPurpose.LOOKUP, effect.number)
            case ReadNowEffect() | RelayEffect():
                after = self._menu_for_context()
            case TopUpEffect():
                # A definite refusal (wrong operator PIN, meter not open ...): type the PIN again;
                # confirming then makes a new key because nothing was sold.
                after = self._entry(EntryPurpose.TOPUP_PIN)
            case AckAlarmsEffect():
                after = AlarmsView()
            case SilenceEffect():
                after = self._main_menu(MenuItem.SILENCE)
        self._show(outcome.message, ok=False, after=after, retry=effect if outcome.retry else None)

    def _relay_done(self, relay: RelayState) -> None:
        if self._meter is not None:
            self._meter = dataclasses.replace(self._meter, relay=relay)
        after: View = MeterView(self._meter) if self._meter is not None else StatusView()
        if relay is RelayState.CLOSED:
            msg = Message("已合闸送电", "Relay on: supply on")
        elif relay is RelayState.OPEN:
            msg = Message("已拉闸断电", "Relay off: supply off")
        else:
            msg = Message("继电器状态未知,请抄表确认", "Relay state unknown: read the meter")
        self._show(msg, ok=relay is not RelayState.UNKNOWN, after=after)

    def _topup_done(self, effect: Effect, outcome: TopUpOutcome) -> None:
        r = outcome.result
        amount = format_fen(r.amount_fen)
        if r.status is VendStatus.UNCERTAIN:
            self._show(errors.outcome_unknown().message, ok=False, after=StatusView(), retry=effect)
            return
        if r.status is VendStatus.CONFIRMED:
            msg = Message(
                f"充值成功 {amount}\n表 {r.meter_no}\n收据 {r.receipt_no}",
                f"Sold {amount}\nMtr {r.meter_no}\nReceipt {r.receipt_no}",
            )
        else:
            msg = Message(
                f"已受理 {amount}\n表在线后送达\n收据 {r.receipt_no}",
                f"Accepted {amount}\nsent when online\nReceipt {r.receipt_no}",
            )
        self._clear_draft()
        self._show(msg, ok=True, after=StatusView())
