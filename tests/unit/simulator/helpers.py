"""Shared helpers for the simulator's unit tests: a fixed clock and one-line frame exchanges."""

from __future__ import annotations

import datetime as dt

from gateway.dlt645 import ErrFlag, Frame, SerrFlag, Value
from gateway.dlt645 import commands as cmd
from gateway.dlt645.dataids import lookup
from gateway.simulator import VirtualMeter

NOW = dt.datetime(2026, 8, 15, 12, 0, 0)
ADDR = "000000000001"
CUSTOMER = "000000000123"
FAR_FUTURE = dt.datetime(2099, 12, 31, 23, 59, 59)


def ask(meter: VirtualMeter, request: Frame, now: dt.datetime = NOW) -> Frame:
    """Send ``request`` and insist on a reply (through real bytes, both ways)."""
    wire = Frame.from_bytes(request.to_bytes())
    reply = meter.handle(wire, now)
    assert reply is not None, f"no reply to {request.describe()}"
    return Frame.from_bytes(reply.to_bytes())


def read(meter: VirtualMeter, key: int | str, now: dt.datetime = NOW) -> Value:
    request = cmd.read_data(meter.address, lookup(key).di)
    return cmd.parse_read(request, ask(meter, request, now)).value()


def err_of(reply: Frame) -> ErrFlag:
    assert reply.abnormal, f"expected an abnormal reply, got {reply.describe()}"
    return ErrFlag(reply.data[0])


def serr_of(reply: Frame) -> SerrFlag:
    assert reply.abnormal and len(reply.data) == 2, reply.describe()
    return SerrFlag(int.from_bytes(reply.data, "little"))


def recharge(
    meter: VirtualMeter, amount: int, count: int, customer: str = CUSTOMER, now: dt.datetime = NOW
) -> Frame:
    payload = cmd.RechargePayload(amount, count, customer)
    return ask(meter, cmd.recharge(meter.address, "44332211", payload), now)


def open_account(
    meter: VirtualMeter, amount: int, count: int, customer: str = CUSTOMER, now: dt.datetime = NOW
) -> Frame:
    payload = cmd.RechargePayload(amount, count, customer)
    return ask(meter, cmd.open_account(meter.address, "44332211", payload), now)


def relay(
    meter: VirtualMeter,
    action: cmd.RelayAction,
    valid_until: dt.datetime = FAR_FUTURE,
    password: cmd.Password | None = None,
    now: dt.datetime = NOW,
) -> Frame:
    request = cmd.relay(meter.address, action, valid_until, password or cmd.Password())
    return ask(meter, request, now)


def status_word_3(meter: VirtualMeter, now: dt.datetime = NOW) -> int:
    value = read(meter, 0x04000503, now)
    assert isinstance(value, int)
    return value


def opened_meter(**kwargs: object) -> VirtualMeter:
    """A money meter with an open account for CUSTOMER, 100.00 yuan, purchase count 1."""
    meter = VirtualMeter(ADDR, **kwargs)  # type: ignore[arg-type]
    reply = open_account(meter, 10_000, 1)
    assert not reply.abnormal
    return meter
