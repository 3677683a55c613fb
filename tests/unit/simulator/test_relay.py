"""1CH: trip, close-allowed and the customer's button, direct close, alarm, keep-power."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.dlt645 import ErrFlag, Frame
from gateway.dlt645 import commands as cmd
from gateway.dlt645 import dataids as ids
from gateway.simulator import VirtualMeter
from tests.unit.simulator.helpers import ADDR, NOW, ask, err_of, relay, status_word_3

A = cmd.RelayAction
OPEN_BITS = ids.SW3_RELAY_OPEN | ids.SW3_RELAY_COMMAND_OPEN


def test_reference_trip_frame_opens_the_relay() -> None:
    meter = VirtualMeter(ADDR)
    raw = bytes.fromhex("68 010000000000 68 1C 10 35333333 33333333 4D 33 8C8C566445CC FA 16")
    reply = meter.handle(Frame.from_bytes(raw), NOW)
    assert reply is not None
    assert reply.to_bytes(preamble=False) == Frame(ADDR, 0x9C).to_bytes(preamble=False)
    assert meter.relay_open
    assert status_word_3(meter) & OPEN_BITS == OPEN_BITS


def test_close_allowed_waits_for_the_customers_button() -> None:
    meter = VirtualMeter(ADDR)
    relay(meter, A.TRIP)
    relay(meter, A.CLOSE_ALLOWED)
    word = status_word_3(meter)
    assert word & ids.SW3_RELAY_OPEN and not word & ids.SW3_RELAY_COMMAND_OPEN
    assert meter.relay_open
    assert meter.press_button()
    assert not meter.relay_open
    assert not status_word_3(meter) & OPEN_BITS
    assert not meter.press_button()  # nothing left to close


def test_button_does_nothing_after_a_remote_trip() -> None:
    meter = VirtualMeter(ADDR)
    relay(meter, A.TRIP)
    assert not meter.press_button()
    assert meter.relay_open


def test_auto_press_closes_on_the_next_tick() -> None:
    meter = VirtualMeter(ADDR, auto_press=True)
    relay(meter, A.TRIP)
    relay(meter, A.CLOSE_ALLOWED)
    meter.advance(dt.timedelta(0), NOW)
    assert not meter.relay_open


def test_direct_close() -> None:
    meter = VirtualMeter(ADDR)
    relay(meter, A.TRIP)
    assert not relay(meter, A.CLOSE_DIRECT).abnormal
    assert not meter.relay_open
    assert not status_word_3(meter) & OPEN_BITS


def test_keep_power_refuses_trips_and_restores_supply() -> None:
    meter = VirtualMeter(ADDR)
    relay(meter, A.TRIP)
    relay(meter, A.KEEP_POWER_ON)
    assert meter.keep_power and not meter.relay_open
    assert status_word_3(meter) & ids.SW3_KEEP_POWER
    assert err_of(relay(meter, A.TRIP)) == ErrFlag.OTHER
    assert not meter.relay_open
    relay(meter, A.KEEP_POWER_OFF)
    assert not relay(meter, A.TRIP).abnormal
    assert meter.relay_open


def test_expired_valid_until_is_refused_by_the_meter_clock() -> None:
    meter = VirtualMeter(ADDR)
    reply = relay(meter, A.TRIP, valid_until=NOW - dt.timedelta(seconds=1))
    assert err_of(reply) == ErrFlag.UNAUTHORISED
    assert not meter.relay_open
    # The meter's clock decides, not the host's: a meter running an hour slow still accepts.
    meter.clock_offset = -dt.timedelta(hours=1)
    assert not relay(meter, A.TRIP, valid_until=NOW - dt.timedelta(minutes=30)).abnormal


@pytest.mark.parametrize("password", [cmd.Password(2, "000001"), cmd.Password(4, "000000")])
def test_wrong_password_is_refused(password: cmd.Password) -> None:
    meter = VirtualMeter(ADDR)
    assert err_of(relay(meter, A.TRIP, password=password)) == ErrFlag.UNAUTHORISED
    assert not meter.relay_open


def test_alarm_on_and_off_show_in_status_word_3() -> None:
    meter = VirtualMeter(ADDR)
    relay(meter, A.ALARM_ON)
    assert status_word_3(meter) & ids.SW3_PRETRIP_ALARM
    relay(meter, A.ALARM_OFF)
    assert not status_word_3(meter) & ids.SW3_PRETRIP_ALARM


def _level98(action: cmd.RelayAction) -> Frame:
    plaintext = bytes([action, 0]) + cmd.bcd_datetime(dt.datetime(2099, 1, 1)) + bytes(8)
    return cmd.relay_encrypted(ADDR, "0", plaintext, b"\xde\xad\xbe\xef")


def test_level_98_form_with_the_null_cipher() -> None:
    meter = VirtualMeter(ADDR, password=cmd.Password(0x98, "000000"))
    assert not ask(meter, _level98(A.TRIP)).abnormal
    assert meter.relay_open
    # A genuine-style meter takes only the encrypted form.
    assert err_of(relay(meter, A.CLOSE_DIRECT, password=cmd.Password(0x98))) == ErrFlag.UNAUTHORISED
    assert meter.relay_open


def test_malformed_relay_commands_change_nothing() -> None:
    meter = VirtualMeter(ADDR)
    good = cmd.relay(ADDR, A.TRIP, dt.datetime(2099, 1, 1), cmd.Password())
    assert err_of(ask(meter, Frame(ADDR, 0x1C, good.data[:15]))) == ErrFlag.OTHER
    bad_action = good.data[:8] + b"\x55" + good.data[9:]
    assert err_of(ask(meter, Frame(ADDR, 0x1C, bad_action))) == ErrFlag.OTHER
    bad_date = good.data[:10] + b"\x99\x99\x99\x99\x99\x99"
    assert err_of(ask(meter, Frame(ADDR, 0x1C, bad_date))) == ErrFlag.OTHER
    assert not meter.relay_open
