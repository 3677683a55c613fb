"""Every frame of reference/dlt645.md decodes to its stated meaning and re-encodes to its bytes."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.dlt645 import Frame, SecurityError, SerrFlag
from gateway.dlt645 import commands as c
from gateway.dlt645.values import Quantity


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_read_address_broadcast() -> None:
    assert c.read_address().to_bytes(preamble=False) == h("68 AA AA AA AA AA AA 68 13 00 DF 16")


def test_read_address_reply() -> None:
    reply = Frame.from_bytes(h("68 01 00 00 00 00 00 68 93 06 34 33 33 33 33 33 9D 16"))
    assert c.parse_read_address(reply) == "000000000001"
    assert reply.to_bytes(preamble=False) == h(
        "68 01 00 00 00 00 00 68 93 06 34 33 33 33 33 33 9D 16"
    )


def test_read_meter_number_request_and_reply() -> None:
    request = c.read_data("002241020208", 0x04000402)
    assert request.to_bytes() == h("FE FE FE FE 68 08 02 02 41 22 00 68 11 04 35 37 33 37 2A 16")
    raw = h("68 08 02 02 41 22 00 68 91 0A 35 37 33 37 3B 35 35 74 55 33 51 16")
    reply = c.parse_read(request, Frame.from_bytes(raw))
    assert reply.di == 0x04000402
    assert reply.value() == "002241020208"
    built = c.reply_to(request, "002241020208", h("02 04 00 04 08 02 02 41 22 00"))
    assert built.to_bytes(preamble=False) == raw


def test_read_address_reply_from_real_meter() -> None:
    reply = Frame.from_bytes(h("68 08 02 02 41 22 00 68 93 06 3B 35 35 74 55 33 79 16"))
    assert c.parse_read_address(reply) == "002241020208"


def test_real_capture_status_query_and_one_byte_vendor_error() -> None:
    request = c.status_query("260305510012", "44332211")
    assert request.to_bytes(preamble=False) == h(
        "68 12 00 51 05 03 26 68 03 08 32 35 B4 3A 44 55 66 77 37 16"
    )
    reply = Frame.from_bytes(h("68 12 00 51 05 03 26 68 C3 01 35 5A 16"))
    with pytest.raises(SecurityError) as info:
        c.check_reply(request, reply)
    assert info.value.serr is None
    assert info.value.err is not None and int(info.value.err) == 0x02


def test_broadcast_time_set() -> None:
    frame = c.broadcast_time(dt.datetime(2026, 8, 15, 12, 34, 56))
    assert frame.to_bytes(preamble=False) == h(
        "68 99 99 99 99 99 99 68 08 06 89 67 45 48 3B 59 85 16"
    )
    assert c.parse_bcd_datetime(Frame.from_bytes(frame.to_bytes()).data) == dt.datetime(
        2026, 8, 15, 12, 34, 56
    )


def test_read_remaining_money_request() -> None:
    frame = c.read_data("000000000001", 0x00900200)
    assert frame.to_bytes(preamble=False) == h("68 01 00 00 00 00 00 68 11 04 33 35 C3 33 44 16")


def test_relay_trip_level_02() -> None:
    frame = c.relay(
        "000000000001",
        c.RelayAction.TRIP,
        dt.datetime(2099, 12, 31, 23, 59, 59),
        c.Password(0x02, "000000"),
        "00000000",
    )
    assert frame.to_bytes(preamble=False) == h(
        "68 01 00 00 00 00 00 68 1C 10 35 33 33 33 33 33 33 33 4D 33 8C 8C 56 64 45 CC FA 16"
    )


def test_serr_repeated_recharge() -> None:
    request = c.recharge("000000000001", "00000000", c.RechargePayload(1000, 3, "1"))
    reply = Frame.from_bytes(h("68 01 00 00 00 00 00 68 C3 02 35 33 FE 16"))
    with pytest.raises(SecurityError) as info:
        c.check_reply(request, reply)
    assert info.value.serr == SerrFlag.REPEATED_RECHARGE
    assert info.value.repeated_recharge
    assert "REPEATED_RECHARGE" in str(info.value)


def test_energy_value_bytes() -> None:
    # 123456.78 kWh = BCD 12 34 56 78, sent 78 56 34 12 (+33 each)
    request = c.read_data("1", 0x00010000)
    reply = c.reply_to(request, "000000000001", h("00 00 01 00 78 56 34 12"))
    assert reply.to_bytes(preamble=False)[14:18] == h("AB 89 67 45")
    value = c.parse_read(request, Frame.from_bytes(reply.to_bytes())).value()
    assert value == Quantity(12345678, 2, "kWh")
    assert str(value) == "123456.78"
