"""Everything a money operation needs to know about one account, read in one snapshot."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.billing import Tariff, tariff_from_json_dict
from gateway.billing.tariff import period_start
from gateway.services.errors import ServiceError
from gateway.siteclock import SiteClock
from gateway.store import customers, ledger, meters, metertypes, tariffs
from gateway.store.clock import to_text
from gateway.store.conn import Conn
from gateway.store.customers import Account, Customer
from gateway.store.meters import Meter
from gateway.store.metertypes import MeterType
from gateway.store.tariffs import PriceVersion


@dataclass(frozen=True)
class AccountContext:
    account: Account
    customer: Customer
    meter: Meter
    meter_type: MeterType
    version: PriceVersion
    tariff: Tariff
    balance: ledger.Balance
    period_energy_cwh: int  # energy sold in the tariff's current settlement period (tiers)

    @property
    def energy_wallet(self) -> bool:
        return str(self.account.value_kind) == "energy"

    @property
    def gateway_wallet(self) -> bool:
        return str(self.account.wallet_model) == "gateway"

    @property
    def meter_customer_number(self) -> str:
        return meter_customer_number(self.customer)


def meter_customer_number(customer: Customer) -> str:
    """The 12-digit customer number written into the meter (03H, cards).

    A numeric customer number of up to 12 digits is used as it is; any other (letters, longer)
    maps to the customer's database id, so the meter still holds a stable number.
    """
    number = customer.number.strip()
    if number.isdigit() and len(number) <= 12:
        return number.rjust(12, "0")
    return str(customer.id).rjust(12, "0")


def _period_energy(c: Conn, account_id: int, since_utc: dt.datetime) -> int:
    value = c.scalar(
        "SELECT coalesce(sum(energy_cwh), 0) FROM ledger "
        "WHERE account_id = ? AND kind = 'sale' AND created_at >= ?",
        (account_id, to_text(since_utc)),
    )
    return int(value or 0)


def load(
    c: Conn,
    account_id: int,
    clock: SiteClock,
    *,
    require_open: bool = True,
    version_id: int | None = None,
    period_use: bool = True,
) -> AccountContext:
    """Read the account's context; ``clock`` places the settlement period in site-local time.

    The energy sold in the settlement period is summed only when it can change a price: for a
    tiered tariff, and unless the caller says it will not convert money (``period_use=False``:
    the writes that book a vend priced earlier). The sum reads every sale of the period, the
    most expensive read here.
    """
    now = clock.now()
    account = customers.get_account(c, account_id)
    if require_open and not account.is_open:
        raise ServiceError("E503", f"account {account_id} is {account.status}")
    customer = customers.get_customer(c, account.customer_id)
    meter = meters.get(c, account.meter_id)
    meter_type = metertypes.get(c, meter.type_id)
    version = (
        tariffs.get_version(c, version_id)
        if version_id is not None
        else tariffs.version_at(c, account.price_type_id, now)
    )
    if version is None:
        raise ServiceError("E502", f"price type {account.price_type_id} has no version in force")
    tariff = tariff_from_json_dict(version.tariff)
    ladder = tariff.ladder
    period_energy = 0
    if ladder is not None and period_use:
        since = clock.from_local(
            period_start(ladder.settlement, ladder.start_month, clock.to_local(now))
        )
        period_energy = _period_energy(c, account_id, since)
    return AccountContext(
        account,
        customer,
        meter,
        meter_type,
        version,
        tariff,
        ledger.balance(c, account_id),
        period_energy,
    )
