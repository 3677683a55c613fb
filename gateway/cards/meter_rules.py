"""The meter side of the card protocol, as one pure function.

``apply_card(state, card, now)`` is what a prepaid meter does when a card of this system is
inserted: check it against its own identity and purchase count, change its prepaid state, and
fill in the card's return file. The simulator's card slot runs it; docs/cards.md states the same
rules for firmware. Refusals leave both the meter's money and the card untouched (only the
illegal-insert counter moves for a card that belongs to another meter, customer or card).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from gateway.cards.format import (
    MAX_FEN,
    ZERO_NUMBER,
    CardContent,
    MeterChangeCard,
    MeterOutcome,
    MeterStatus,
    QueryCard,
    RefundCard,
    RelayCard,
    RelayCommand,
    ResetCard,
    ReturnArea,
    SettingsCard,
    UserCard,
    UserCardKind,
    normalise_number,
)

_ILLEGAL = frozenset(
    {MeterOutcome.METER_MISMATCH, MeterOutcome.CUSTOMER_MISMATCH, MeterOutcome.CARD_MISMATCH}
)


@dataclass(frozen=True)
class MeterCardState:
    """The part of a prepaid meter's state that cards read and change (money in fen)."""

    meter_number: str
    customer_number: str = ZERO_NUMBER
    card_serial: int = 0
    account_opened: bool = False
    remaining_fen: int = 0
    overdraft_fen: int = 0
    purchase_count: int = 0
    total_purchased_fen: int = 0
    total_energy_ckwh: int = 0
    alarm1_fen: int = 2000
    alarm2_fen: int = 1000
    overdraft_limit_fen: int = 0
    hoarding_limit_fen: int = MAX_FEN
    close_allowed_fen: int = 0
    price_1e4: int = 0
    relay_open: bool = False
    illegal_inserts: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "meter_number", normalise_number(self.meter_number, "meter number")
        )
        object.__setattr__(
            self, "customer_number", normalise_number(self.customer_number, "customer number")
        )
        if self.remaining_fen < 0 or self.overdraft_fen < 0:
            raise ValueError("remaining and overdraft are kept as two non-negative amounts")

    @property
    def is_new(self) -> bool:
        """Fresh from the factory or super-reset: no account, no purchases, no customer."""
        return (
            not self.account_opened
            and self.purchase_count == 0
            and self.customer_number == ZERO_NUMBER
        )

    @property
    def status(self) -> MeterStatus:
        flags = MeterStatus(0)
        if self.account_opened:
            flags |= MeterStatus.ACCOUNT_OPENED
            if self.remaining_fen <= self.alarm1_fen:
                flags |= MeterStatus.ALARM1
            if self.remaining_fen <= self.alarm2_fen:
                flags |= MeterStatus.ALARM2
        if self.relay_open:
            flags |= MeterStatus.RELAY_OPEN
        if self.overdraft_fen:
            flags |= MeterStatus.IN_OVERDRAFT
        return flags

    def snapshot(self, outcome: MeterOutcome, now: datetime) -> ReturnArea:
        """The return file contents for this state."""
        return ReturnArea(
            outcome=outcome,
            meter_number=self.meter_number,
            customer_number=self.customer_number,
            purchase_count=self.purchase_count,
            remaining_fen=self.remaining_fen,
            overdraft_fen=self.overdraft_fen,
            total_purchased_fen=self.total_purchased_fen,
            total_energy_ckwh=self.total_energy_ckwh,
            alarm1_fen=self.alarm1_fen,
            alarm2_fen=self.alarm2_fen,
            overdraft_limit_fen=self.overdraft_limit_fen,
            hoarding_limit_fen=self.hoarding_limit_fen,
            close_allowed_fen=self.close_allowed_fen,
            price_1e4=self.price_1e4,
            status=self.status,
            written_at=now,
            illegal_inserts=self.illegal_inserts,
        )


@dataclass(frozen=True)
class CardApplication:
    """Result of inserting a card: the meter's new state, the card as it leaves the meter."""

    state: MeterCardState
    card: CardContent
    outcome: MeterOutcome
    credited_fen: int = 0

    @property
    def card_changed(self) -> bool:
        return self.outcome.written


def apply_card(state: MeterCardState, card: CardContent, now: datetime) -> CardApplication:
    """Apply an authenticated card (see format.decode_card) to a meter at time ``now``."""
    issue = card.issue
    if isinstance(issue, UserCard):
        return _user(state, card, issue, now)
    if isinstance(issue, SettingsCard):
        return _settings(state, card, issue, now)
    if isinstance(issue, QueryCard):
        if issue.meter_number not in (state.meter_number, ZERO_NUMBER):
            return _refuse(state, card, MeterOutcome.METER_MISMATCH)
        return _write(state, card, MeterOutcome.QUERIED, now)
    if isinstance(issue, RelayCard):
        if issue.meter_number != state.meter_number:
            return _refuse(state, card, MeterOutcome.METER_MISMATCH)
        after = dataclasses.replace(state, relay_open=issue.command is RelayCommand.TRIP)
        return _write(after, card, MeterOutcome.RELAY_SET, now)
    if isinstance(issue, ResetCard):
        return _reset(state, card, issue, now)
    if isinstance(issue, RefundCard):
        return _refund(state, card, issue, now)
    return _meter_change(state, card, issue, now)


def _refuse(state: MeterCardState, card: CardContent, outcome: MeterOutcome) -> CardApplication:
    if outcome in _ILLEGAL:
        state = dataclasses.replace(state, illegal_inserts=min(state.illegal_inserts + 1, 0xFF))
    return CardApplication(state, card, outcome)


def _write(
    state: MeterCardState,
    card: CardContent,
    outcome: MeterOutcome,
    now: datetime,
    *,
    shown: MeterCardState | None = None,
    credited_fen: int = 0,
) -> CardApplication:
    """New state ``state``; the return file shows ``shown`` (the state before, for read-outs)."""
    ret = (shown or state).snapshot(outcome, now)
    # A damaged return file (ret None, ret_damaged) counts as never written and is replaced.
    card = dataclasses.replace(card, ret=ret, ret_damaged=False)
    return CardApplication(state, card, outcome, credited_fen)


def _credit(state: MeterCardState, amount_fen: int) -> MeterCardState | None:
    """State after loading ``amount_fen`` (overdraft is repaid first); None if over the limit."""
    net = state.remaining_fen - state.overdraft_fen + amount_fen
    if net > min(state.hoarding_limit_fen, MAX_FEN):
        return None
    remaining, overdraft = (net, 0) if net >= 0 else (0, -net)
    return dataclasses.replace(
        state,
        remaining_fen=remaining,
        overdraft_fen=overdraft,
        total_purchased_fen=state.total_purchased_fen + amount_fen,
        relay_open=state.relay_open and remaining <= state.close_allowed_fen,
    )


def _user(
    state: MeterCardState, card: CardContent, issue: UserCard, now: datetime
) -> CardApplication:
    if issue.kind is UserCardKind.OPEN and not state.account_opened:
        if issue.meter_number not in (state.meter_number, ZERO_NUMBER):
            return _refuse(state, card, MeterOutcome.METER_MISMATCH)
        if not state.is_new:
            return _refuse(state, card, MeterOutcome.METER_NOT_NEW)
        if issue.purchase_count != 1:
            return _refuse(state, card, MeterOutcome.PURCHASE_COUNT_ERROR)
        opened = dataclasses.replace(
            state,
            account_opened=True,
            customer_number=issue.customer_number,
            card_serial=issue.serial,
        )
        return _load(opened, card, issue, now)
    if not state.account_opened:
        return _refuse(state, card, MeterOutcome.NOT_OPENED)
    allowed = (state.meter_number, ZERO_NUMBER) if issue.kind is UserCardKind.OPEN else ()
    if issue.meter_number != state.meter_number and issue.meter_number not in allowed:
        return _refuse(state, card, MeterOutcome.METER_MISMATCH)
    if issue.customer_number != state.customer_number:
        return _refuse(state, card, MeterOutcome.CUSTOMER_MISMATCH)
    if issue.kind is UserCardKind.REISSUE and issue.serial > state.card_serial:
        # Serials only grow, so an older card (or an older reissue card) can never win back.
        state = dataclasses.replace(state, card_serial=issue.serial)
    elif issue.serial != state.card_serial:
        return _refuse(state, card, MeterOutcome.CARD_MISMATCH)
    if issue.purchase_count >= state.purchase_count + 2:
        return _refuse(state, card, MeterOutcome.PURCHASE_COUNT_ERROR)
    if issue.purchase_count <= state.purchase_count:
        return _write(state, card, MeterOutcome.RETURN_WRITE_ONLY, now)
    return _load(state, card, issue, now)


def _load(
    state: MeterCardState, card: CardContent, issue: UserCard, now: datetime
) -> CardApplication:
    credited = _credit(state, issue.amount_fen)
    if credited is None:
        return _refuse(state, card, MeterOutcome.OVER_HOARDING_LIMIT)
    after = dataclasses.replace(credited, purchase_count=issue.purchase_count)
    return _write(after, card, MeterOutcome.CREDITED, now, credited_fen=issue.amount_fen)


def _settings(
    state: MeterCardState, card: CardContent, issue: SettingsCard, now: datetime
) -> CardApplication:
    if issue.meter_number not in (state.meter_number, ZERO_NUMBER):
        return _refuse(state, card, MeterOutcome.METER_MISMATCH)
    changes = {
        name: value
        for name in (
            "alarm1_fen",
            "alarm2_fen",
            "overdraft_limit_fen",
            "hoarding_limit_fen",
            "close_allowed_fen",
            "price_1e4",
        )
        if (value := getattr(issue, name)) is not None
    }
    after = dataclasses.replace(state, **changes)
    return _write(after, card, MeterOutcome.SETTINGS_APPLIED, now)


def _already_read_out(state: MeterCardState, card: CardContent, outcome: MeterOutcome) -> bool:
    """Read-out cards are one-shot per meter: a second insert must not overwrite the record."""
    return (
        card.ret is not None
        and card.ret.outcome is outcome
        and card.ret.meter_number == state.meter_number
    )


def _reset(
    state: MeterCardState, card: CardContent, issue: ResetCard, now: datetime
) -> CardApplication:
    if issue.meter_number != state.meter_number:
        return _refuse(state, card, MeterOutcome.METER_MISMATCH)
    if _already_read_out(state, card, MeterOutcome.RESET):
        return _refuse(state, card, MeterOutcome.ALREADY_USED)
    after = dataclasses.replace(
        state,
        customer_number=ZERO_NUMBER,
        card_serial=0,
        account_opened=False,
        remaining_fen=0,
        overdraft_fen=0,
        purchase_count=0,
    )
    return _write(after, card, MeterOutcome.RESET, now, shown=state)


def _close_account(state: MeterCardState) -> MeterCardState:
    return dataclasses.replace(
        state, account_opened=False, remaining_fen=0, overdraft_fen=0, relay_open=True
    )


def _refund(
    state: MeterCardState, card: CardContent, issue: RefundCard, now: datetime
) -> CardApplication:
    if issue.meter_number != state.meter_number:
        return _refuse(state, card, MeterOutcome.METER_MISMATCH)
    if _already_read_out(state, card, MeterOutcome.REFUND_READ):
        return _refuse(state, card, MeterOutcome.ALREADY_USED)
    if not state.account_opened:
        return _refuse(state, card, MeterOutcome.NOT_OPENED)
    if issue.customer_number != state.customer_number:
        return _refuse(state, card, MeterOutcome.CUSTOMER_MISMATCH)
    if issue.serial != state.card_serial:
        return _refuse(state, card, MeterOutcome.CARD_MISMATCH)
    return _write(_close_account(state), card, MeterOutcome.REFUND_READ, now, shown=state)


def _meter_change(
    state: MeterCardState, card: CardContent, issue: MeterChangeCard, now: datetime
) -> CardApplication:
    ret = card.ret
    if state.meter_number == issue.meter_number:  # the old meter: read out and close
        if ret is not None and ret.outcome in (
            MeterOutcome.TRANSFERRED_OUT,
            MeterOutcome.REPLACED,
        ):
            return _refuse(state, card, MeterOutcome.ALREADY_USED)
        if not state.account_opened:
            return _refuse(state, card, MeterOutcome.NOT_OPENED)
        if issue.customer_number != state.customer_number:
            return _refuse(state, card, MeterOutcome.CUSTOMER_MISMATCH)
        if issue.user_card_serial != state.card_serial:
            return _refuse(state, card, MeterOutcome.CARD_MISMATCH)
        return _write(_close_account(state), card, MeterOutcome.TRANSFERRED_OUT, now, shown=state)
    if state.meter_number != issue.new_meter_number:
        return _refuse(state, card, MeterOutcome.METER_MISMATCH)
    # The new meter: take over what the old meter wrote (authenticated by its return MAC).
    if ret is not None and ret.outcome is MeterOutcome.REPLACED:
        return _refuse(state, card, MeterOutcome.ALREADY_USED)
    if (
        ret is None
        or ret.outcome is not MeterOutcome.TRANSFERRED_OUT
        or ret.meter_number != issue.meter_number
    ):
        return _refuse(state, card, MeterOutcome.CHANGE_CARD_NOT_READ)
    if ret.customer_number != issue.customer_number:
        return _refuse(state, card, MeterOutcome.CUSTOMER_MISMATCH)
    if not state.is_new:
        return _refuse(state, card, MeterOutcome.METER_NOT_NEW)
    if ret.remaining_fen - ret.overdraft_fen > min(state.hoarding_limit_fen, MAX_FEN):
        return _refuse(state, card, MeterOutcome.OVER_HOARDING_LIMIT)
    after = dataclasses.replace(
        state,
        account_opened=True,
        customer_number=issue.customer_number,
        card_serial=issue.user_card_serial,
        purchase_count=ret.purchase_count,
        remaining_fen=ret.remaining_fen,
        overdraft_fen=ret.overdraft_fen,
        relay_open=ret.remaining_fen <= state.close_allowed_fen,
    )
    return _write(after, card, MeterOutcome.REPLACED, now)
