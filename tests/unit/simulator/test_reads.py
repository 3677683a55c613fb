"""11H/12H/13H/08H: what a virtual meter answers, byte for byte where the reference fixes it."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.dlt645 import TABLE, ErrFlag, Frame, Quantity
from gateway.dlt645 import commands as cmd
from gateway.dlt645 import dataids as ids
from gateway.simulator import VirtualMeter
from tests.unit.simulator.helpers import ADDR, NOW, ask, err_of, read, relay, status_word_3

ENERGY_ONLY = {0x00900100, 0x00900101, 0x04000F01, 0x04000F02, 0x04000F04}
MONEY_ONLY = {0x00900200, 0x00900201, 0x04001001, 0x04001002, 0x04001003}


def test_reference_vectors_read_meter_number_and_address() -> None:
    meter = VirtualMeter("002241020208")
    request = Frame.from_bytes(bytes.fromhex("FEFEFEFE 68 08020241 2200 68 11 04 35373337 2A 16"))
    reply = meter.handle(request, NOW)
    assert reply is not None
    assert reply.to_bytes(preamble=False) == bytes.fromhex(
        "68 08 02 02 41 22 00 68 91 0A 35 37 33 37 3B 35 35 74 55 33 51 16"
    )
    reply = meter.handle(Frame.from_bytes(bytes.fromhex("68 AAAAAAAAAAAA 68 13 00 DF 16")), NOW)
    assert reply is not None
    assert reply.to_bytes(preamble=False) == bytes.fromhex(
        "68 08 02 02 41 22 00 68 93 06 3B 35 35 74 55 33 79 16"
    )


def test_remaining_money_read_matches_reference_request() -> None:
    meter = VirtualMeter(ADDR, remaining=12_345)
    request = Frame.from_bytes(bytes.fromhex("68 010000000000 68 11 04 3335C333 44 16"))
    reply = meter.handle(request, NOW)
    assert reply is not None
    assert cmd.parse_read(request, reply).value() == Quantity(12_345, 2, "yuan")


@pytest.mark.parametrize("dataid", TABLE, ids=lambda d: f"{d.di:08X}")
@pytest.mark.parametrize("wallet", ["money", "energy"])
def test_every_table_di_is_answered_or_refused_by_wallet(dataid: ids.DataId, wallet: str) -> None:
    meter = VirtualMeter(ADDR, wallet=wallet, remaining=5_000)  # type: ignore[arg-type]
    request = cmd.read_data(ADDR, dataid.di)
    reply = ask(meter, request)
    foreign = MONEY_ONLY if wallet == "energy" else ENERGY_ONLY
    if dataid.di in foreign:
        assert err_of(reply) == ErrFlag.NO_SUCH_DATA
    else:
        assert not reply.abnormal
        cmd.parse_read(request, reply).value()  # decodes to the table's format


def test_values_follow_the_meter_state() -> None:
    meter = VirtualMeter(ADDR, wallet="energy", remaining=5_000, price_e4=5_123, load_w=2_200)
    meter.energy_cwh = 123_456
    meter.tariff_cwh = [1, 2, 3, 123_450]
    meter.overdraft = 7
    assert read(meter, "forward_active_total") == Quantity(123_456, 2, "kWh")
    assert read(meter, "forward_active_block") == tuple(
        Quantity(x, 2, "kWh") for x in (123_456, 1, 2, 3, 123_450)
    )
    assert read(meter, "remaining_energy") == Quantity(5_000, 2, "kWh")
    assert read(meter, "overdraft_energy") == Quantity(7, 2, "kWh")
    assert read(meter, "current_price") == Quantity(5_123, 4, "yuan/kWh")
    assert read(meter, "active_power_total") == Quantity(22_000, 4, "kW")  # 2.2000 kW
    assert read(meter, "current_a") == Quantity(10_000, 3, "A")  # 2200 W / 220 V
    assert read(meter, "voltage_a") == Quantity(2_200, 1, "V")
    assert read(meter, "meter_number") == ADDR
    assert read(meter, "date") == NOW.date()
    assert read(meter, "time") == NOW.time()


def test_open_relay_shows_no_load() -> None:
    meter = VirtualMeter(ADDR)
    relay(meter, cmd.RelayAction.TRIP)
    assert read(meter, "active_power_total") == Quantity(0, 4, "kW")
    assert read(meter, "current_a") == Quantity(0, 3, "A")


def test_unknown_di_is_err_02_on_the_wire() -> None:
    meter = VirtualMeter(ADDR)
    reply = ask(meter, cmd.read_data(ADDR, 0x12345678))
    assert reply.to_bytes(preamble=False) == Frame(ADDR, 0xD1, b"\x02").to_bytes(preamble=False)
    assert err_of(reply) == ErrFlag.NO_SUCH_DATA


def test_silent_for_other_addresses_broadcast_reads_and_other_meters_replies() -> None:
    meter = VirtualMeter(ADDR)
    assert meter.handle(cmd.read_data("000000000002", 0x00010000), NOW) is None
    assert meter.handle(cmd.read_data("999999999999", 0x00010000), NOW) is None
    own_reply = ask(meter, cmd.read_data(ADDR, 0x00010000))
    assert meter.handle(own_reply, NOW) is None  # a reply passing on the bus is not a request


def test_short_address_with_aa_padding_gets_full_address_reply() -> None:
    meter = VirtualMeter("000000000042")
    request = cmd.read_data("AAAAAAAAAA42", 0x00010000)
    reply = ask(meter, request)
    assert reply.address == "000000000042"
    assert not reply.abnormal
    assert meter.handle(cmd.read_data("AAAAAAAAAA43", 0x00010000), NOW) is None


def test_wildcards_never_reach_money_or_relay_commands() -> None:
    meter = VirtualMeter(ADDR, remaining=100)
    trip = cmd.relay("AAAAAAAAAAAA", cmd.RelayAction.TRIP, NOW, cmd.Password())
    assert meter.handle(trip, NOW) is None
    assert not meter.relay_open


def test_broadcast_time_set_moves_the_meter_clock_without_reply() -> None:
    meter = VirtualMeter(ADDR)
    request = Frame.from_bytes(bytes.fromhex("68 999999999999 68 08 06 89 67 45 48 3B 59 85 16"))
    assert meter.handle(request, NOW) is None
    assert read(meter, "date") == dt.date(2026, 8, 15)
    assert read(meter, "time") == dt.time(12, 34, 56)
    later = NOW + dt.timedelta(seconds=4)
    assert read(meter, "time", later) == dt.time(12, 35, 0)


def test_status_word_3_bits() -> None:
    meter = VirtualMeter(ADDR)
    assert status_word_3(meter) == 0b10 << 8  # money-prepaid, account not opened
    meter = VirtualMeter(ADDR, wallet="energy", remaining=100, alarm1=500)
    word = status_word_3(meter)
    assert word == (0b01 << 8) | ids.SW3_ACCOUNT_OPENED | ids.SW3_PRETRIP_ALARM
    relay(meter, cmd.RelayAction.TRIP)
    word = status_word_3(meter)
    assert word & ids.SW3_RELAY_OPEN and word & ids.SW3_RELAY_COMMAND_OPEN
    assert status_word_3(VirtualMeter(ADDR, wallet="none")) == 0


def _block_via_follow_ups(meter: VirtualMeter, di: int) -> tuple[bytes, int]:
    first = cmd.read_data(ADDR, di)
    reply = cmd.parse_read(first, ask(meter, first))
    data, frames, more = reply.raw, 1, reply.more
    while more:
        request = cmd.read_follow(ADDR, di, frames)
        part = cmd.parse_read(request, ask(meter, request))
        assert part.seq == frames
        data += part.raw
        frames += 1
        more = part.more
    return data, frames


@pytest.mark.parametrize(("di", "frames"), [(0x0001FF00, 3), (0x040005FF, 4)])
def test_split_blocks_come_in_follow_up_frames_equal_to_the_whole(di: int, frames: int) -> None:
    whole_meter = VirtualMeter(ADDR, remaining=100)
    split_meter = VirtualMeter(ADDR, remaining=100, split_blocks=True)
    for m in (whole_meter, split_meter):
        m.energy_cwh, m.tariff_cwh = 1_000, [100, 200, 300, 400]
    whole = cmd.parse_read(cmd.read_data(ADDR, di), ask(whole_meter, cmd.read_data(ADDR, di)))
    assert not whole.more
    data, count = _block_via_follow_ups(split_meter, di)
    assert count == frames
    assert data == whole.raw
    first = ask(split_meter, cmd.read_data(ADDR, di))
    assert first.control == 0xB1  # 91 | D5 "follow-up frames exist"


def test_follow_up_beyond_the_last_frame_is_err_02() -> None:
    meter = VirtualMeter(ADDR, split_blocks=True)
    ask(meter, cmd.read_data(ADDR, 0x0001FF00))
    assert err_of(ask(meter, cmd.read_follow(ADDR, 0x0001FF00, 3))) == ErrFlag.NO_SUCH_DATA
    assert err_of(ask(meter, cmd.read_follow(ADDR, 0x00010000, 1))) == ErrFlag.NO_SUCH_DATA
