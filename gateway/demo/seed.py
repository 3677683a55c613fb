"""Seed a database with a small, realistic site: what the demo and the end-to-end tests start from.

Everything goes through the store's repositories, so a seeded site is exactly what an operator
would have typed into the master-data pages (F1.2, F1.3, F5.1, F5.6, F2.1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.billing.tariff import FlatTariff, Ladder, TieredTariff
from gateway.store import customers, meters, metertypes, network, siteinfo, tariffs
from gateway.store.conn import Conn
from gateway.store.customers import AccountLimits, CustomerSpec, NewAccount
from gateway.store.meters import MeterSpec
from gateway.store.metertypes import MeterProfile, MeterTypeSpec, Protocol, ValueKind, WalletModel
from gateway.store.network import BoxSpec, CommMode
from gateway.store.siteinfo import Organisation

EPOCH = dt.datetime(2020, 1, 1)
EPOCH_UTC = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class SeededMeter:
    address: str
    meter_id: int
    kind: str  # money | energy | gateway
    account_id: int | None
    customer_number: str | None


@dataclass(frozen=True)
class SeededSite:
    line_id: int
    box_id: int
    type_ids: dict[str, int]  # money | energy | gateway → meter type id
    price_type_ids: dict[str, int]  # flat | tiered → price type id
    meters: tuple[SeededMeter, ...]


def address(n: int) -> str:
    return str(n).rjust(12, "0")


def seed_site(
    c: Conn,
    *,
    bus: str,
    money_meters: int = 4,
    energy_meters: int = 2,
    gateway_meters: int = 2,
    spare_meters: int = 2,
    accounts: bool = True,
    first: int = 1,
) -> SeededSite:
    """A line, a box on ``bus``, three meter types, two tariffs, meters and customers.

    Meters are numbered from ``first``: money-wallet, energy-wallet, gateway-wallet, then spares
    (new meters without an account: the targets for open-account and replacement).
    """
    siteinfo.save_organisation(
        c,
        Organisation(
            name="演示供电服务站 Demo Power Supply Station",
            address="示范路 1 号 1 Demo Road",
            phone="0571-00000000",
        ),
    )
    line = network.create_line(c, "一号线路 Line 1", "演示线路 demo feeder")
    box = network.create_box(
        c,
        BoxSpec(
            line_id=line.id,
            name="A01 表箱 box A01",
            comm_mode=CommMode.RS485,
            meter_count=money_meters + energy_meters + gateway_meters + spare_meters,
            bus=bus,
            baud=2400,
            parity="E",
        ),
    )
    money_type = metertypes.create(
        c,
        MeterTypeSpec(
            name="DDSY666 单相费控(金额)",
            protocol=Protocol.DLT645_2007,
            wallet_model=WalletModel.METER,
            value_kind=ValueKind.MONEY,
            phases=1,
            profile=MeterProfile(alarm1_fen=2000, alarm2_fen=1000, hoarding_limit_fen=99_999_999),
        ),
    )
    energy_type = metertypes.create(
        c,
        MeterTypeSpec(
            name="DDSY666 单相费控(电量)",
            protocol=Protocol.DLT645_2007,
            wallet_model=WalletModel.METER,
            value_kind=ValueKind.ENERGY,
            phases=1,
        ),
    )
    gateway_type = metertypes.create(
        c,
        MeterTypeSpec(
            name="DDZY 远程费控(网关钱包)",
            protocol=Protocol.DLT645_2007,
            wallet_model=WalletModel.GATEWAY,
            value_kind=ValueKind.MONEY,
            phases=1,
            profile=MeterProfile(
                alarm1_fen=2000, alarm2_fen=1000, overdraft_limit_fen=500, close_allowed_fen=0
            ),
        ),
    )
    flat = tariffs.create_type(c, "一般工商业 Flat", "0.6500 元/kWh")
    tariffs.add_version(c, flat.id, FlatTariff("flat", 1, EPOCH, 6500).to_json_dict(), EPOCH_UTC)
    tiered = tariffs.create_type(c, "居民阶梯 Residential tiers", "0.5600/0.6100/0.8600")
    tariffs.add_version(
        c,
        tiered.id,
        TieredTariff("tiered", 1, EPOCH, Ladder((23000, 40000)), (5600, 6100, 8600)).to_json_dict(),
        EPOCH_UTC,
    )
    plan = (
        [("money", money_type.id)] * money_meters
        + [("energy", energy_type.id)] * energy_meters
        + [("gateway", gateway_type.id)] * gateway_meters
    )
    seeded: list[SeededMeter] = []
    n = first
    for index, (kind, type_id) in enumerate(plan):
        meter = meters.create(
            c, MeterSpec(address=address(n), type_id=type_id, meter_number=address(n),
                         box_id=box.id, position=index + 1),
        )  # fmt: skip
        account_id = number = None
        if accounts:
            number = str(100000 + n)
            customer = customers.create_customer(
                c,
                CustomerSpec(
                    number=number,
                    name=_NAMES[index % len(_NAMES)],
                    phone=f"1380000{n:04d}",
                    address=f"示范小区 {n} 号 Demo Estate No. {n}",
                ),
            )
            price = tiered.id if kind == "energy" else flat.id
            account = customers.open_account(
                c,
                NewAccount(
                    customer_id=customer.id,
                    meter_id=meter.id,
                    price_type_id=price,
                    limits=AccountLimits(),
                ),
            )
            account_id = account.id
        seeded.append(SeededMeter(meter.address, meter.id, kind, account_id, number))
        n += 1
    for index in range(spare_meters):
        meter = meters.create(
            c, MeterSpec(address=address(n), type_id=money_type.id, meter_number=address(n),
                         box_id=box.id, position=len(plan) + index + 1),
        )  # fmt: skip
        seeded.append(SeededMeter(meter.address, meter.id, "money", None, None))
        n += 1
    return SeededSite(
        line.id,
        box.id,
        {"money": money_type.id, "energy": energy_type.id, "gateway": gateway_type.id},
        {"flat": flat.id, "tiered": tiered.id},
        tuple(seeded),
    )


_NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴霞")
