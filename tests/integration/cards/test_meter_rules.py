"""The meter side of the card protocol: every outcome, money exact, a card credits once."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from gateway.cards import (
    CardContent,
    IssueCard,
    MeterCardState,
    MeterChangeCard,
    MeterOutcome,
    MeterStatus,
    QueryCard,
    RefundCard,
    RelayCard,
    RelayCommand,
    ResetCard,
    SettingsCard,
    UserCard,
    UserCardKind,
    apply_card,
)
from gateway.cards.meter_rules import CardApplication

T0 = datetime(2025, 3, 1, 10, 0, 0)
METER = "000012345678"
CUSTOMER = "42"
SERIAL = 1001


def user(
    count: int, amount: int, kind: UserCardKind = UserCardKind.PURCHASE, **kw: object
) -> UserCard:
    fields: dict[str, object] = {
        "serial": SERIAL,
        "meter_number": METER,
        "customer_number": CUSTOMER,
        "issued_at": T0,
        "kind": kind,
        "purchase_count": count,
        "amount_fen": amount,
    }
    fields.update(kw)
    return UserCard(**fields)  # type: ignore[arg-type]


def opened(**kw: object) -> MeterCardState:
    fields: dict[str, object] = {
        "meter_number": METER,
        "customer_number": CUSTOMER,
        "card_serial": SERIAL,
        "account_opened": True,
        "remaining_fen": 5_000,
        "purchase_count": 3,
    }
    fields.update(kw)
    return MeterCardState(**fields)  # type: ignore[arg-type]


def insert(state: MeterCardState, card: IssueCard | CardContent) -> CardApplication:
    content = card if isinstance(card, CardContent) else CardContent(card)
    return apply_card(state, content, T0)


def assert_refused(app: CardApplication, before: MeterCardState, card: CardContent) -> None:
    """A refusal moves no money and leaves the card exactly as it was."""
    assert app.card == card
    assert not app.card_changed
    assert dataclasses.replace(app.state, illegal_inserts=before.illegal_inserts) == before


# ---- user cards ------------------------------------------------------------------------------
def test_open_card_opens_a_new_meter_and_credits() -> None:
    new = MeterCardState(meter_number=METER)
    app = insert(new, user(1, 10_000, UserCardKind.OPEN))
    assert app.outcome is MeterOutcome.CREDITED and app.credited_fen == 10_000
    s = app.state
    assert (s.account_opened, s.customer_number, s.card_serial) == (True, "000000000042", SERIAL)
    assert (s.remaining_fen, s.purchase_count, s.total_purchased_fen) == (10_000, 1, 10_000)
    ret = app.card.ret
    assert ret is not None
    assert (ret.outcome, ret.remaining_fen, ret.purchase_count) == (
        MeterOutcome.CREDITED,
        10_000,
        1,
    )
    assert ret.meter_number == METER and MeterStatus.ACCOUNT_OPENED in ret.status
    assert app.card.purchase_loaded


def test_open_card_with_zero_meter_number_binds_to_whichever_new_meter() -> None:
    app = insert(
        MeterCardState(meter_number=METER), user(1, 100, UserCardKind.OPEN, meter_number="0")
    )
    assert app.outcome is MeterOutcome.CREDITED
    assert app.card.ret is not None and app.card.ret.meter_number == METER
    assert app.card.purchase_loaded


def test_open_card_on_a_meter_with_history_needs_a_super_reset() -> None:
    closed = MeterCardState(meter_number=METER, customer_number="7", purchase_count=4)
    card = CardContent(user(1, 100, UserCardKind.OPEN))
    app = insert(closed, card)
    assert app.outcome is MeterOutcome.METER_NOT_NEW
    assert_refused(app, closed, card)


def test_same_card_twice_credits_once() -> None:
    meter = opened()
    first = insert(meter, user(4, 2_500))
    assert first.outcome is MeterOutcome.CREDITED
    assert first.state.remaining_fen == 7_500 and first.state.purchase_count == 4
    second = insert(first.state, first.card)
    assert second.outcome is MeterOutcome.RETURN_WRITE_ONLY
    assert second.credited_fen == 0
    assert second.state == first.state
    assert second.card.ret is not None and second.card.ret.remaining_fen == 7_500


def test_a_damaged_return_file_is_rewritten_not_trusted() -> None:
    meter = opened()
    damaged = CardContent(user(3, 2_500), ret=None, ret_damaged=True)
    app = insert(meter, damaged)
    assert app.outcome is MeterOutcome.RETURN_WRITE_ONLY and app.state == meter
    assert not app.card.ret_damaged and app.card.ret is not None
    refused = insert(meter, CardContent(user(3, 2_500, customer_number="9"), ret_damaged=True))
    assert refused.card.ret_damaged  # a refusal leaves the card exactly as it came


def test_lower_count_only_return_writes() -> None:
    meter = opened(purchase_count=9)
    app = insert(meter, user(4, 2_500))
    assert app.outcome is MeterOutcome.RETURN_WRITE_ONLY
    assert app.state == meter
    assert app.card.ret is not None and app.card.ret.purchase_count == 9
    assert not app.card.purchase_loaded  # the vending side sees the card is stale


@pytest.mark.parametrize("count", [5, 6, 100])
def test_count_two_or_more_ahead_is_a_purchase_count_error(count: int) -> None:
    meter = opened()
    card = CardContent(user(count, 2_500))
    app = insert(meter, card)
    assert app.outcome is MeterOutcome.PURCHASE_COUNT_ERROR
    assert_refused(app, meter, card)


@pytest.mark.parametrize(
    ("change", "outcome"),
    [
        ({"meter_number": "000012345679"}, MeterOutcome.METER_MISMATCH),
        ({"meter_number": "0"}, MeterOutcome.METER_MISMATCH),  # wildcard is for open cards only
        ({"customer_number": "43"}, MeterOutcome.CUSTOMER_MISMATCH),
        ({"serial": SERIAL + 1}, MeterOutcome.CARD_MISMATCH),
    ],
)
def test_mismatches_are_refused_and_counted(
    change: dict[str, object], outcome: MeterOutcome
) -> None:
    meter = opened()
    card = CardContent(user(4, 2_500, **change))
    app = insert(meter, card)
    assert app.outcome is outcome
    assert_refused(app, meter, card)
    assert app.state.illegal_inserts == 1


def test_purchase_on_an_unopened_meter_is_refused() -> None:
    meter = MeterCardState(meter_number=METER)
    card = CardContent(user(1, 100))
    app = insert(meter, card)
    assert app.outcome is MeterOutcome.NOT_OPENED
    assert_refused(app, meter, card)


@pytest.mark.parametrize(
    ("remaining", "limit", "amount", "ok"),
    [
        (5_000, 10_000, 5_000, True),  # exactly at the limit
        (5_000, 10_000, 5_001, False),
        (99_999_000, 99_999_999, 999, True),  # 999 999.99 yuan
        (99_999_000, 99_999_999, 1_000, False),
    ],
)
def test_hoarding_limit(remaining: int, limit: int, amount: int, ok: bool) -> None:
    meter = opened(remaining_fen=remaining, hoarding_limit_fen=limit)
    card = CardContent(user(4, amount))
    app = insert(meter, card)
    if ok:
        assert app.outcome is MeterOutcome.CREDITED
        assert app.state.remaining_fen == remaining + amount
    else:
        assert app.outcome is MeterOutcome.OVER_HOARDING_LIMIT
        assert_refused(app, meter, card)


def test_purchase_repays_overdraft_first_and_recloses_only_above_close_allowed() -> None:
    meter = opened(remaining_fen=0, overdraft_fen=1_500, relay_open=True, close_allowed_fen=1_000)
    small = insert(meter, user(4, 2_000))
    assert (small.state.remaining_fen, small.state.overdraft_fen) == (500, 0)
    assert small.state.relay_open  # 5.00 yuan is not above the 10.00 close-allowed amount
    big = insert(meter, user(4, 3_000))
    assert (big.state.remaining_fen, big.state.relay_open) == (1_500, False)
    short = insert(meter, user(4, 1_000))
    assert (short.state.remaining_fen, short.state.overdraft_fen) == (0, 500)
    assert short.card.ret is not None and MeterStatus.IN_OVERDRAFT in short.card.ret.status


def test_reissue_card_takes_over_and_the_old_card_is_useless() -> None:
    meter = opened()
    reissue = user(3, 0, UserCardKind.REISSUE, serial=SERIAL + 5)
    app = insert(meter, reissue)
    assert app.outcome is MeterOutcome.RETURN_WRITE_ONLY
    assert app.state.card_serial == SERIAL + 5 and app.state.remaining_fen == 5_000
    old = insert(app.state, user(4, 2_500))
    assert old.outcome is MeterOutcome.CARD_MISMATCH and old.state.remaining_fen == 5_000
    # An older reissue card can never win the meter back.
    stale = insert(app.state, user(3, 0, UserCardKind.REISSUE, serial=SERIAL + 2))
    assert stale.outcome is MeterOutcome.CARD_MISMATCH


def test_reissue_card_carrying_an_unloaded_purchase_credits_it_once() -> None:
    meter = opened()
    app = insert(meter, user(4, 2_000, UserCardKind.REISSUE, serial=SERIAL + 1))
    assert app.outcome is MeterOutcome.CREDITED and app.state.remaining_fen == 7_000
    again = insert(app.state, app.card)
    assert again.outcome is MeterOutcome.RETURN_WRITE_ONLY and again.state.remaining_fen == 7_000


# ---- tool cards ------------------------------------------------------------------------------
HEAD = {"meter_number": METER, "customer_number": "0", "issued_at": T0}


def test_settings_card_sets_only_given_parameters() -> None:
    meter = opened(alarm1_fen=2000, price_1e4=5000)
    card = SettingsCard(serial=5, **HEAD, alarm1_fen=3000, overdraft_limit_fen=800)  # type: ignore[arg-type]
    app = insert(meter, card)
    assert app.outcome is MeterOutcome.SETTINGS_APPLIED
    assert (app.state.alarm1_fen, app.state.overdraft_limit_fen, app.state.price_1e4) == (
        3000,
        800,
        5000,
    )
    assert app.state.remaining_fen == meter.remaining_fen
    assert app.card.ret is not None and app.card.ret.alarm1_fen == 3000


def test_query_card_gets_the_full_state_from_any_meter_when_unaddressed() -> None:
    meter = opened(total_energy_ckwh=123_456, price_1e4=5880, remaining_fen=1_500)
    app = insert(meter, QueryCard(serial=5, meter_number="0", customer_number="0", issued_at=T0))
    assert app.outcome is MeterOutcome.QUERIED and app.state == meter
    ret = app.card.ret
    assert ret is not None
    assert (ret.total_energy_ckwh, ret.price_1e4, ret.remaining_fen) == (123_456, 5880, 1_500)
    assert MeterStatus.ALARM1 in ret.status  # 15.00 yuan is below the 20.00 alarm amount
    other = insert(meter, QueryCard(serial=5, **{**HEAD, "meter_number": "1"}))  # type: ignore[arg-type]
    assert other.outcome is MeterOutcome.METER_MISMATCH


@pytest.mark.parametrize("command", list(RelayCommand))
def test_relay_card(command: RelayCommand) -> None:
    meter = opened(relay_open=command is RelayCommand.CLOSE)
    app = insert(meter, RelayCard(serial=5, **HEAD, command=command))  # type: ignore[arg-type]
    assert app.outcome is MeterOutcome.RELAY_SET
    assert app.state.relay_open is (command is RelayCommand.TRIP)
    assert app.state.remaining_fen == meter.remaining_fen


def test_reset_card_clears_the_prepaid_state_once() -> None:
    meter = opened(remaining_fen=4_321, overdraft_fen=0, total_energy_ckwh=999)
    app = insert(meter, ResetCard(serial=5, **HEAD))  # type: ignore[arg-type]
    assert app.outcome is MeterOutcome.RESET
    s = app.state
    assert s.is_new and s.remaining_fen == 0 and s.card_serial == 0
    assert s.total_energy_ckwh == 999  # energy registers are not prepaid state
    assert app.card.ret is not None and app.card.ret.remaining_fen == 4_321  # what was cleared
    again = insert(s, app.card)
    assert again.outcome is MeterOutcome.ALREADY_USED and again.card == app.card
    wrong = insert(meter, ResetCard(serial=5, **{**HEAD, "meter_number": "0"}))  # type: ignore[arg-type]
    assert wrong.outcome is MeterOutcome.METER_MISMATCH


def test_refund_card_reads_out_and_closes_once() -> None:
    meter = opened(remaining_fen=3_456)
    card = RefundCard(serial=SERIAL, meter_number=METER, customer_number=CUSTOMER, issued_at=T0)
    app = insert(meter, card)
    assert app.outcome is MeterOutcome.REFUND_READ
    assert app.card.ret is not None and app.card.ret.remaining_fen == 3_456
    assert not app.state.account_opened and app.state.remaining_fen == 0 and app.state.relay_open
    again = insert(app.state, app.card)
    assert again.outcome is MeterOutcome.ALREADY_USED
    assert again.card.ret is not None and again.card.ret.remaining_fen == 3_456
    foreign = insert(meter, dataclasses.replace(card, serial=SERIAL + 1))
    assert foreign.outcome is MeterOutcome.CARD_MISMATCH and foreign.state.remaining_fen == 3_456


def test_refund_card_records_overdraft() -> None:
    meter = opened(remaining_fen=0, overdraft_fen=700)
    app = insert(
        meter, RefundCard(serial=SERIAL, meter_number=METER, customer_number=CUSTOMER, issued_at=T0)
    )
    assert app.card.ret is not None
    assert (app.card.ret.remaining_fen, app.card.ret.overdraft_fen) == (0, 700)
    assert app.state.overdraft_fen == 0


def test_meter_change_card_carries_the_state_to_the_new_meter() -> None:
    old = opened(remaining_fen=2_222, purchase_count=6)
    new = MeterCardState(meter_number="000087654321", hoarding_limit_fen=500_000)
    card = MeterChangeCard(
        serial=77,
        meter_number=METER,
        customer_number=CUSTOMER,
        issued_at=T0,
        new_meter_number="000087654321",
        user_card_serial=SERIAL,
    )
    early = insert(new, card)
    assert early.outcome is MeterOutcome.CHANGE_CARD_NOT_READ and early.state == new
    out = insert(old, card)
    assert out.outcome is MeterOutcome.TRANSFERRED_OUT
    assert out.state.remaining_fen == 0 and not out.state.account_opened
    assert out.card.ret is not None and out.card.ret.remaining_fen == 2_222
    assert insert(out.state, out.card).outcome is MeterOutcome.ALREADY_USED
    into = insert(new, out.card)
    assert into.outcome is MeterOutcome.REPLACED
    s = into.state
    assert (s.remaining_fen, s.purchase_count, s.card_serial, s.account_opened) == (
        2_222,
        6,
        SERIAL,
        True,
    )
    assert insert(s, into.card).outcome is MeterOutcome.ALREADY_USED
    # The customer's existing user card now works with the new meter.
    nxt = insert(s, user(7, 1_000, meter_number="000087654321"))
    assert nxt.outcome is MeterOutcome.CREDITED and nxt.state.remaining_fen == 3_222
    # Money is conserved across the change: nothing created, nothing lost.
    assert out.state.remaining_fen + into.state.remaining_fen == old.remaining_fen


def test_meter_change_card_into_a_used_meter_or_a_third_meter() -> None:
    old = opened(remaining_fen=2_222)
    card = MeterChangeCard(
        serial=77,
        meter_number=METER,
        customer_number=CUSTOMER,
        issued_at=T0,
        new_meter_number="000087654321",
        user_card_serial=SERIAL,
    )
    out = insert(old, card)
    used = MeterCardState(meter_number="000087654321", purchase_count=2, customer_number="9")
    assert insert(used, out.card).outcome is MeterOutcome.METER_NOT_NEW
    third = MeterCardState(meter_number="000011111111")
    assert insert(third, out.card).outcome is MeterOutcome.METER_MISMATCH


def test_every_outcome_is_covered() -> None:
    """Guard: a new outcome needs a test above (names listed here by hand)."""
    tested = {
        "CREDITED", "RETURN_WRITE_ONLY", "RESET", "SETTINGS_APPLIED", "RELAY_SET", "QUERIED",
        "REFUND_READ", "TRANSFERRED_OUT", "REPLACED", "PURCHASE_COUNT_ERROR", "METER_MISMATCH",
        "CUSTOMER_MISMATCH", "CARD_MISMATCH", "OVER_HOARDING_LIMIT", "NOT_OPENED",
        "METER_NOT_NEW", "ALREADY_USED", "CHANGE_CARD_NOT_READ",
    }  # fmt: skip
    assert {o.name for o in MeterOutcome} == tested
