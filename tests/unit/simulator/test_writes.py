"""14H writes, 15H address, 16H freeze, 17H baud, 18H password, 1AH meter clear."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.dlt645 import ErrFlag, Frame, Quantity
from gateway.dlt645 import commands as cmd
from gateway.dlt645.dataids import encode_value, lookup
from gateway.simulator import VirtualMeter
from tests.unit.simulator.helpers import (
    ADDR,
    NOW,
    ask,
    err_of,
    open_account,
    opened_meter,
    read,
    recharge,
)

PW = cmd.Password()


def write(meter: VirtualMeter, key: str, value: object, password: cmd.Password = PW) -> Frame:
    dataid = lookup(key)
    return ask(meter, cmd.write_data(ADDR, dataid.di, encode_value(dataid, value), password))


@pytest.mark.parametrize(
    ("key", "attr"),
    [
        ("alarm_money_1", "alarm1"),
        ("alarm_money_2", "alarm2"),
        ("overdraft_limit", "overdraft_limit"),
        ("hoarding_limit", "hoarding_limit"),
        ("close_allowed_amount", "close_allowed"),
    ],
)
def test_money_limits_are_written_and_read_back(key: str, attr: str) -> None:
    meter = VirtualMeter(ADDR)
    assert not write(meter, key, Quantity(12_345, 2, "yuan")).abnormal
    assert getattr(meter, attr) == 12_345
    assert read(meter, key) == Quantity(12_345, 2, "yuan")


def test_energy_limits_only_on_energy_meters() -> None:
    energy = VirtualMeter(ADDR, wallet="energy")
    assert not write(energy, "alarm_energy_1", Quantity(500, 2, "kWh")).abnormal
    assert energy.alarm1 == 500
    money = VirtualMeter(ADDR)
    assert err_of(write(money, "alarm_energy_1", Quantity(500, 2, "kWh"))) == ErrFlag.NO_SUCH_DATA
    assert err_of(write(energy, "alarm_money_1", Quantity(5, 2, "yuan"))) == ErrFlag.NO_SUCH_DATA
    assert money.alarm1 == 2_000


def test_wrong_password_read_only_and_unknown_di() -> None:
    meter = VirtualMeter(ADDR)
    bad = cmd.Password(2, "123456")
    assert err_of(write(meter, "alarm_money_1", Quantity(1, 2), bad)) == ErrFlag.UNAUTHORISED
    assert meter.alarm1 == 2_000
    assert err_of(write(meter, "comm_address", "000000000009")) == ErrFlag.UNAUTHORISED
    unknown = cmd.write_data(ADDR, 0x12345678, b"\x00", PW)
    assert err_of(ask(meter, unknown)) == ErrFlag.NO_SUCH_DATA
    not_bcd = cmd.write_data(ADDR, 0x04001001, b"\xaa\x00\x00\x00", PW)
    assert err_of(ask(meter, not_bcd)) == ErrFlag.OTHER
    assert meter.alarm1 == 2_000


def test_customer_number_price_date_and_time() -> None:
    meter = VirtualMeter(ADDR)
    write(meter, "customer_number", "000000004711")
    write(meter, "current_price", Quantity(6_180, 4))
    write(meter, "date", dt.date(2027, 1, 2))
    write(meter, "time", dt.time(3, 4, 5))
    assert meter.customer_number == "000000004711"
    assert meter.price_e4 == 6_180
    assert meter.meter_time(NOW) == dt.datetime(2027, 1, 2, 3, 4, 5)
    assert read(meter, "date") == dt.date(2027, 1, 2)


def test_write_address_needs_the_wildcard() -> None:
    meter = VirtualMeter(ADDR)
    assert err_of(ask(meter, Frame(ADDR, 0x15, bytes.fromhex("090000000000")))) == ErrFlag.OTHER
    reply = ask(meter, cmd.write_address("000000000009"))
    assert reply.control == 0x95 and reply.address == "000000000009"
    assert meter.handle(cmd.read_data(ADDR, 0x00010000), NOW) is None
    assert read(meter, "comm_address") == "000000000009"


def test_freeze_addressed_and_broadcast() -> None:
    meter = VirtualMeter(ADDR)
    meter.energy_cwh = 777
    assert ask(meter, cmd.freeze(ADDR)).control == 0x96
    assert meter.frozen_cwh == 777
    assert meter.last_freeze == NOW
    assert meter.handle(cmd.freeze("999999999999"), NOW + dt.timedelta(hours=1)) is None
    assert meter.last_freeze == NOW + dt.timedelta(hours=1)


def test_change_baud() -> None:
    meter = VirtualMeter(ADDR)
    reply = ask(meter, cmd.change_baud(ADDR, 9600))
    assert (reply.control, reply.data) == (0x97, b"\x20")
    assert meter.baud == 9600
    assert err_of(ask(meter, Frame(ADDR, 0x17, b"\x28"))) == ErrFlag.BAUD_NOT_CHANGEABLE
    assert meter.baud == 9600


def test_change_password() -> None:
    meter = VirtualMeter(ADDR)
    new = cmd.Password(2, "654321")
    data = bytes.fromhex("02 0C 00 04") + PW.to_wire() + new.to_wire()
    assert not ask(meter, Frame(ADDR, 0x18, data)).abnormal
    assert meter.password == new
    assert err_of(write(meter, "alarm_money_1", Quantity(1, 2))) == ErrFlag.UNAUTHORISED
    assert not write(meter, "alarm_money_1", Quantity(1, 2), new).abnormal


def test_meter_clear_only_for_opened_meters() -> None:
    fresh = VirtualMeter(ADDR)
    assert err_of(ask(fresh, cmd.meter_clear(ADDR, PW))) == ErrFlag.OTHER
    meter = opened_meter(alarm1=3_000)
    recharge(meter, 100, 2)
    meter.energy_cwh = 5_000
    assert err_of(ask(meter, cmd.meter_clear(ADDR, cmd.Password(2, "1")))) == ErrFlag.UNAUTHORISED
    assert meter.purchase_count == 2
    assert ask(meter, cmd.meter_clear(ADDR, PW)).control == 0x9A
    assert (meter.remaining, meter.purchase_count, meter.energy_cwh) == (0, 0, 0)
    assert not meter.account_opened
    assert meter.customer_number == "000000000000"
    assert meter.alarm1 == 3_000  # parameters survive a clear
    assert not open_account(meter, 500, 1).abnormal  # and the meter can be opened again
