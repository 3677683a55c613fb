"""Recognising DTUs from their first bytes, and stripping their heartbeats from replies."""

from __future__ import annotations

from gateway.dlt645 import Frame
from gateway.dlt645 import commands as cmd
from gateway.link.dtu_registration import (
    AsciiIdRecogniser,
    FrameRecogniser,
    HeartbeatFilter,
    recognisers_for,
)

A1 = "000000000001"


def heartbeat_frame(address: str, dtu_id: bytes = b"") -> bytes:
    return Frame(address, 0x91, b"\x80\x80\x80\x80" + dtu_id).to_bytes()


def test_ascii_id_with_terminator() -> None:
    found = AsciiIdRecogniser().identify(b"DTU0001\r\nFE")
    assert found is not None
    assert (found.dtu_id, found.consumed, found.heartbeat) == ("DTU0001", 9, b"DTU0001\r\n")


def test_ascii_id_split_across_reads_waits_for_the_end() -> None:
    recogniser = AsciiIdRecogniser()
    assert recogniser.identify(b"DTU00") is None
    assert recogniser.identify(b"DTU0001\n") is not None


def test_bare_known_id_without_terminator() -> None:
    recogniser = AsciiIdRecogniser(["13800138000"])
    found = recogniser.identify(b"13800138000")
    assert found is not None and found.dtu_id == "13800138000"
    assert recogniser.identify(b"1380013800") is None


def test_ascii_recogniser_leaves_frames_alone() -> None:
    assert AsciiIdRecogniser().identify(heartbeat_frame(A1, b"DTU1")) is None


def test_frame_registration_with_id_after_di_80808080() -> None:
    raw = heartbeat_frame(A1, b"DTU0001")
    found = FrameRecogniser().identify(raw + b"\x68")
    assert found is not None
    assert (found.dtu_id, found.meter_address, found.consumed) == ("DTU0001", A1, len(raw))


def test_frame_registration_by_known_meter_address() -> None:
    frame = cmd.reply_to(cmd.read_data(A1, 0x00010000), A1, b"\x00\x00\x01\x00\x00\x00\x00\x00")
    assert FrameRecogniser([A1]).identify(frame.to_bytes()) is not None
    assert FrameRecogniser(["000000000002"]).identify(frame.to_bytes()) is None


def test_frame_registration_survives_noise_and_bad_checksums() -> None:
    good = heartbeat_frame(A1)
    bad = bytearray(good)
    bad[-2] ^= 1
    found = FrameRecogniser().identify(b"\x00AT\r\n" + bytes(bad) + good)
    assert found is not None and found.meter_address == A1 and found.dtu_id is None


def test_recognisers_in_configured_order() -> None:
    names = [r.name for r in recognisers_for(["frame", "ascii"], ["D"], [A1])]
    assert names == ["frame", "ascii"]


def test_heartbeat_filter_strips_packets_split_anywhere() -> None:
    packet = b"DTU0001\r\n"
    reply = cmd.reply_to(cmd.read_data(A1, 0x00010000), A1, b"\x00\x00\x01\x00\x12\x34\x00\x00")
    stream = packet + reply.to_bytes()[:10] + packet + reply.to_bytes()[10:] + packet
    for cut in range(1, len(stream)):
        filt = HeartbeatFilter(packet)
        first, n1 = filt(stream[:cut])
        second, n2 = filt(stream[cut:])
        assert first + second == reply.to_bytes()
        assert n1 + n2 == 3


def test_heartbeat_filter_never_holds_back_the_end_of_a_frame() -> None:
    filt = HeartbeatFilter(b"DTU0001\r\n")
    raw = cmd.reply_to(cmd.read_address(), A1, b"\x01\x00\x00\x00\x00\x00").to_bytes()
    assert filt(raw) == (raw, 0)
