"""For any sequence of purchases, use, credits and refunds: money in = money out + balance.

Two account models are driven only through the billing API, as the services will drive it:
the gateway wallet (money) and an energy-type meter (kWh bought with the carried remainder,
refunded first in first out). After every step the books must balance to the fen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.billing import (
    AccountState,
    BillingError,
    EnforcementSettings,
    FriendlyCredit,
    FriendlyWindow,
    Lot,
    apply_charge,
    apply_purchase,
    emergency_available,
    energy_refund,
    lots_from_conversion,
    money_refund,
    money_to_energy,
    take_emergency_credit,
)
from tests.unit.billing.examples import TIERED

NIGHT = dt.datetime(2024, 3, 5, 23)
NOON = dt.datetime(2024, 3, 5, 12)
WALLET = EnforcementSettings(
    alarm1=2_000,
    alarm2=1_000,
    overdraft_limit=500,
    hoarding_limit=200_000,
    emergency_credit=1_000,
    emergency_threshold=0,
    friendly=FriendlyCredit((FriendlyWindow(frozenset(range(1, 8)), dt.time(18), dt.time(9)),)),
)

wallet_ops = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(0, 150_000)),
        st.tuples(st.just("use"), st.integers(0, 5_000), st.booleans()),
        st.tuples(st.just("emergency"), st.just(0)),
        st.tuples(st.just("refund"), st.integers(0, 1_000)),
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(ops=wallet_ops)
def test_gateway_wallet_books_balance(ops: list[tuple[object, ...]]) -> None:
    state = AccountState()
    money_in = money_out = used = fees = 0
    for op in ops:
        kind, value = op[0], op[1]
        assert isinstance(value, int)
        if kind == "buy":
            try:
                allocation = apply_purchase(state, value, WALLET)
            except BillingError as exc:
                assert exc.code == "E250"  # refused: nothing changed, nothing taken
                continue
            parts = (
                allocation.to_friendly_debt
                + allocation.to_emergency
                + allocation.to_overdraft
                + allocation.to_balance
            )
            assert parts == value
            state = allocation.state
            money_in += value
        elif kind == "use":
            charge = apply_charge(state, value, WALLET, NIGHT if op[2] else NOON)
            assert charge.from_balance + charge.to_friendly_debt == value
            state = charge.state
            used += value
        elif kind == "emergency":
            if emergency_available(state, WALLET):
                state = take_emergency_credit(state, WALLET)
        else:
            refund = money_refund(
                max(0, state.balance),
                overdraft=max(0, -state.balance),
                debts=state.friendly_debt + state.emergency_owed,
                fees=value,
            )
            money_out += refund.payout
            money_in += refund.owed  # the customer settles what is owed
            fees += value
            state = AccountState()
        assert money_in == money_out + used + fees + state.net


@dataclass
class EnergyAccount:
    meter: int = 0  # centi-kWh on the meter
    lots: list[Lot] = field(default_factory=list)  # loaded purchases, oldest first
    pending: list[int] = field(default_factory=list)  # fen of sales not yet loaded
    pending_lots: list[Lot] = field(default_factory=list)
    remainder: int = 0
    period_use: int = 0
    used_value: int = 0  # fen of energy the meter has used, first in first out


energy_ops = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(0, 60_000)),
        st.tuples(st.just("load"), st.just(0)),
        st.tuples(st.just("use"), st.integers(0, 30_000)),
        st.tuples(st.just("refund"), st.integers(0, 1_000)),
    ),
    max_size=30,
)


@settings(max_examples=300)
@given(ops=energy_ops)
def test_energy_meter_books_balance(ops: list[tuple[str, int]]) -> None:
    account = EnergyAccount()
    money_in = money_out = fees = 0
    for kind, value in ops:
        if kind == "buy":
            sale = money_to_energy(
                value, TIERED, period_use=account.period_use, previous_remainder=account.remainder
            )
            account.remainder = sale.remainder
            account.period_use = sale.period_use_after
            account.pending.append(sale.cost)
            account.pending_lots.extend(lots_from_conversion(f"sale-{len(account.lots)}", sale))
            assert sum(lot.cost for lot in lots_from_conversion("x", sale)) == sale.cost
            money_in += value
        elif kind == "load":
            account.meter += sum(lot.energy for lot in account.pending_lots)
            account.lots.extend(account.pending_lots)
            account.pending, account.pending_lots = [], []
        elif kind == "use":
            before = energy_refund(account.meter, account.lots).valuation.remaining_value
            account.meter -= min(value, account.meter)
            after = energy_refund(account.meter, account.lots).valuation.remaining_value
            assert after <= before
            account.used_value += before - after
        else:
            refund = energy_refund(
                account.meter,
                account.lots,
                remainder=account.remainder,
                unloaded=sum(account.pending),
                fees=value,
            )
            money_out += refund.payout
            money_in += refund.owed
            fees += value
            account = EnergyAccount(used_value=account.used_value)
        on_meter = energy_refund(account.meter, account.lots).valuation.remaining_value
        balance = on_meter + account.remainder + sum(account.pending)
        assert money_in == money_out + fees + account.used_value + balance
