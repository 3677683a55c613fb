"""Fault switches and the shared line (sans IO): what bytes go back, and how late."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.dlt645 import ChecksumError, Deframer, Frame
from gateway.dlt645 import commands as cmd
from gateway.simulator import Faults, VirtualMeter
from gateway.simulator.endpoint import SimulatedBus, collide, registration_packet, wire_us
from tests.unit.simulator.helpers import ADDR, CUSTOMER, NOW, opened_meter

READ_ENERGY = cmd.read_data(ADDR, 0x00010000)


def _reply(meter: VirtualMeter) -> Frame:
    reply = meter.handle(READ_ENERGY, NOW)
    assert reply is not None
    return reply


def test_no_faults_gives_the_plain_frame() -> None:
    meter = VirtualMeter(ADDR)
    reply = _reply(meter)
    assert meter.faults.encode(reply) == reply.to_bytes()


def test_no_preamble_and_bad_checksum() -> None:
    reply = _reply(VirtualMeter(ADDR))
    raw = Faults(no_preamble=True).encode(reply)
    assert raw == reply.to_bytes(preamble=False)
    raw = Faults(bad_checksum=True).encode(reply)
    assert raw is not None
    with pytest.raises(ChecksumError):
        Frame.from_bytes(raw)


def test_garbled_replies_never_decode_to_the_original() -> None:
    reply = _reply(VirtualMeter(ADDR))
    faults = Faults(garble=True, seed=7)
    for _ in range(200):
        raw = faults.encode(reply)
        assert raw is not None and raw != reply.to_bytes()
        assert reply not in Deframer().feed(raw)


def test_drop_rate_is_seeded_and_bounded() -> None:
    reply = _reply(VirtualMeter(ADDR))
    assert all(Faults(drop_rate_pct=100).encode(reply) is None for _ in range(20))
    a, b = Faults(drop_rate_pct=30, seed=1), Faults(drop_rate_pct=30, seed=1)
    pattern = [a.encode(reply) is None for _ in range(100)]
    assert pattern == [b.encode(reply) is None for _ in range(100)]
    assert 10 < sum(pattern) < 50


def test_fault_settings_are_validated() -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        Faults(drop_rate_pct=101)
    faults = Faults()
    faults.set("garble")
    faults.set("drop", 25)
    assert faults.garble and faults.drop_rate_pct == 25 and faults.active
    with pytest.raises(ValueError, match="unknown fault"):
        faults.set("lightning")
    with pytest.raises(ValueError, match="needs a value"):
        faults.set("delay")
    with pytest.raises(ValueError, match=r"0\.\.100"):
        faults.set("drop", 200)
    assert faults.drop_rate_pct == 25


def test_silent_meter_neither_answers_nor_processes() -> None:
    meter = opened_meter()
    meter.faults.silent = True
    payload = cmd.RechargePayload(500, 2, CUSTOMER)
    assert meter.handle(cmd.recharge(ADDR, "0", payload), NOW) is None
    assert meter.purchase_count == 1


def test_dropped_reply_still_credits_the_recharge() -> None:
    meter = opened_meter(faults=Faults(drop_rate_pct=100))
    bus = SimulatedBus([meter], clock=lambda: NOW)
    payload = cmd.RechargePayload(500, 2, CUSTOMER)
    assert bus.answer(cmd.recharge(ADDR, "0", payload)) is None
    assert (meter.purchase_count, meter.remaining) == (2, 10_500)
    assert bus.stats.dropped == 1


def test_reply_delay_is_reply_window_plus_wire_time_of_both_frames() -> None:
    meter = VirtualMeter(ADDR, faults=Faults(extra_delay_ms=5))
    bus = SimulatedBus([meter], baud=2400, reply_delay_ms=20, clock=lambda: NOW)
    answer = bus.answer(READ_ENERGY)
    assert answer is not None
    wire_bytes = len(READ_ENERGY.to_bytes()) + len(answer.raw)
    assert answer.delay_us == 25_000 + wire_us(wire_bytes, 2400)
    assert wire_us(wire_bytes, 2400) == -(-wire_bytes * 11 * 1_000_000 // 2400)
    quick = SimulatedBus([VirtualMeter(ADDR)], wire_timing=False, reply_delay_ms=0)
    answer = quick.answer(READ_ENERGY)
    assert answer is not None and answer.delay_us == 0


def test_baud_change_reply_is_timed_at_the_old_rate() -> None:
    meter = VirtualMeter(ADDR)
    bus = SimulatedBus([meter], baud=2400, reply_delay_ms=0, clock=lambda: NOW)
    request = cmd.change_baud(ADDR, 9600)
    answer = bus.answer(request)
    assert answer is not None
    assert answer.delay_us == wire_us(len(request.to_bytes()) + len(answer.raw), 2400)
    answer = bus.answer(READ_ENERGY)
    assert answer is not None
    assert answer.delay_us == wire_us(len(READ_ENERGY.to_bytes()) + len(answer.raw), 9600)


def test_read_address_one_meter_answers_several_collide() -> None:
    one = SimulatedBus([VirtualMeter("000000000007")], clock=lambda: NOW)
    answer = one.answer(cmd.read_address())
    assert answer is not None
    assert cmd.parse_read_address(Frame.from_bytes(answer.raw)) == "000000000007"
    many = SimulatedBus([VirtualMeter(f"00000000000{i}") for i in (1, 3)], clock=lambda: NOW)
    answer = many.answer(cmd.read_address())
    assert answer is not None
    assert not [x for x in Deframer().feed(answer.raw) if isinstance(x, Frame)]
    assert many.stats.collisions == 1


def test_a_collision_never_forms_a_valid_frame() -> None:
    frame = Frame(ADDR, 0x93, bytes(6)).to_bytes()
    assert not [x for x in Deframer().feed(collide([frame, frame])) if isinstance(x, Frame)]


def test_broadcast_reaches_every_meter_and_gets_no_answer() -> None:
    meters = [VirtualMeter(f"00000000000{i}") for i in (1, 2)]
    bus = SimulatedBus(meters, clock=lambda: NOW)
    assert bus.answer(cmd.broadcast_time(dt.datetime(2026, 1, 1))) is None
    assert all(m.meter_time(NOW) == dt.datetime(2026, 1, 1) for m in meters)
    assert bus.stats.requests == 1 and bus.stats.replies == 0


def test_bus_clock_drives_consumption() -> None:
    now = [NOW]
    meter = VirtualMeter(ADDR)
    bus = SimulatedBus([meter], clock=lambda: now[0])
    now[0] += dt.timedelta(hours=2)
    bus.advance()
    assert meter.energy_cwh == 200
    now[0] -= dt.timedelta(hours=1)  # the host clock stepped back: nothing is un-consumed
    bus.advance()
    now[0] += dt.timedelta(minutes=30)
    bus.advance()
    assert meter.energy_cwh == 250


def test_registration_packets() -> None:
    assert registration_packet("DTU0001", "ascii", ADDR) == b"DTU0001\r\n"
    frame = Frame.from_bytes(registration_packet("DTU0001", "frame", ADDR))
    assert (frame.address, frame.control) == (ADDR, 0x91)
    assert frame.data == bytes.fromhex("80808080") + b"DTU0001"
    with pytest.raises(ValueError, match="printable ASCII"):
        registration_packet("站点1", "ascii", ADDR)
