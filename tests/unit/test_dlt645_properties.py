"""Property tests of the codec: round trips for every command and DI format; the deframer never
raises and finds every valid frame in noise, whatever the chunking."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.dlt645 import Deframer, Frame, FrameError
from gateway.dlt645 import commands as c
from gateway.dlt645.dataids import TABLE, DataId, Kind, decode_value, encode_value
from gateway.dlt645.values import Quantity

addresses = st.text(alphabet="0123456789", min_size=12, max_size=12)
controls = st.integers(0, 255)
datas = st.binary(max_size=255)
frames = st.builds(Frame, addresses, controls, datas)
moments = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31, 23, 59, 59)).map(
    lambda m: m.replace(microsecond=0)
)
passwords = st.builds(
    c.Password,
    st.sampled_from([0x02, 0x04, 0x99]),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
)
operators = st.text(alphabet="0123456789ABCDEF", min_size=8, max_size=8)


@given(frames, st.booleans())
def test_frame_round_trip(frame: Frame, preamble: bool) -> None:
    assert Frame.from_bytes(frame.to_bytes(preamble=preamble)) == frame


def _value_for(d: DataId) -> st.SearchStrategy[object]:
    digits = d.length * 2
    if d.kind is Kind.NUMBER:
        n = st.integers(0, 10**digits - 1)
        return n.map(lambda x: Quantity(x, d.decimals, d.unit)) if d.decimals or d.unit else n
    if d.kind is Kind.SIGNED:
        limit = 10 ** (digits - 1) * 8 - 1
        return st.integers(-limit, limit).map(lambda x: Quantity(x, d.decimals, d.unit))
    if d.kind is Kind.DIGITS:
        return st.text(alphabet="0123456789", min_size=digits, max_size=digits)
    if d.kind is Kind.WORD:
        return st.integers(0, 2 ** (8 * d.length) - 1)
    if d.kind is Kind.DATE:
        return st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))
    return st.times().map(lambda t: t.replace(microsecond=0))


@st.composite
def di_and_value(draw: st.DrawFn) -> tuple[DataId, object]:
    d = draw(st.sampled_from(TABLE))
    one = _value_for(d)
    if d.count == 1:
        return d, draw(one)
    return d, tuple(draw(one) for _ in range(d.count))


@given(di_and_value(), addresses)
def test_every_di_format_round_trips_through_a_read(
    pair: tuple[DataId, object], address: str
) -> None:
    d, value = pair
    request = c.read_data(address, d.di)
    reply = c.reply_to(request, address, request.data[:4] + encode_value(d, value))
    parsed = c.parse_read(request, Frame.from_bytes(reply.to_bytes()))
    assert parsed.di == d.di
    assert decode_value(d, parsed.raw) == value


@given(addresses, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), addresses, operators)
def test_recharge_payload_round_trip(
    address: str, amount: int, count: int, customer: str, operator: str
) -> None:
    payload = c.RechargePayload(amount, count, customer, b"\x01\x02\x03\x04", b"\x05\x06\x07\x08")
    for build in (c.recharge, c.open_account):
        frame = Frame.from_bytes(build(address, operator, payload).to_bytes())
        assert frame.address == address
        assert c.operator_from_wire(frame.data[4:8]) == operator
        assert c.RechargePayload.from_wire(frame.data[8:]) == payload


@given(addresses, st.sampled_from(list(c.RelayAction)), moments, passwords, operators)
def test_relay_round_trip(
    address: str, action: c.RelayAction, until: dt.datetime, pw: c.Password, op: str
) -> None:
    frame = Frame.from_bytes(c.relay(address, action, until, pw, op).to_bytes())
    assert len(frame.data) == 16
    assert c.Password.from_wire(frame.data[0:4]) == pw
    assert c.operator_from_wire(frame.data[4:8]) == op
    assert frame.data[8] == action
    assert c.parse_bcd_datetime(frame.data[10:16]) == until


@given(moments)
def test_broadcast_time_round_trip(moment: dt.datetime) -> None:
    frame = Frame.from_bytes(c.broadcast_time(moment).to_bytes())
    assert c.parse_bcd_datetime(frame.data) == moment


@given(addresses, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), addresses)
def test_status_query_reply_round_trip(
    address: str, remaining: int, count: int, customer: str
) -> None:
    request = c.status_query(address, "00000000")
    status = c.WalletStatus(remaining, count, customer, b"\x00\x00\x00\x01")
    reply = c.reply_to(request, address, c.status_query_reply_data(status))
    assert c.parse_status_query(request, Frame.from_bytes(reply.to_bytes())) == status


@given(addresses, st.sampled_from(list(c.SerrFlag)), st.booleans())
def test_security_errors_decode_to_named_flags(
    address: str, serr: c.SerrFlag, one_byte: bool
) -> None:
    request = c.recharge(address, "0", c.RechargePayload(1, 1, "1"))
    reply = Frame.from_bytes(c.security_error_reply(request, address, serr, one_byte).to_bytes())
    try:
        c.check_reply(request, reply)
    except c.SecurityError as exc:
        if one_byte:
            assert exc.serr is None and exc.err is not None
        else:
            assert exc.serr == serr
            assert serr.name is not None and serr.name in str(exc)
    else:
        raise AssertionError("abnormal reply accepted")


@given(addresses, st.sampled_from(list(c.ErrFlag)))
def test_err_byte_decodes(address: str, err: c.ErrFlag) -> None:
    request = c.read_data(address, 0x00010000)
    reply = Frame.from_bytes(c.error_reply(request, address, err).to_bytes())
    try:
        c.parse_read(request, reply)
    except c.MeterError as exc:
        assert exc.err == err
    else:
        raise AssertionError("abnormal reply accepted")


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


@settings(max_examples=300)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=20))
def test_deframer_never_raises(noise: bytes, cuts: list[int]) -> None:
    deframer = Deframer()
    for chunk in _chunked(noise, cuts):
        for item in deframer.feed(chunk):
            assert isinstance(item, Frame | FrameError)


# Noise without 68 cannot start a false header; a false header is tested separately below.
noise_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\x68", b"\x69"))


@settings(max_examples=300)
@given(
    st.lists(st.tuples(noise_bytes, frames, st.booleans()), min_size=1, max_size=6),
    noise_bytes,
    st.lists(st.integers(0, 2000), max_size=30),
)
def test_deframer_finds_every_frame_in_noise(
    parts: list[tuple[bytes, Frame, bool]], tail: bytes, cuts: list[int]
) -> None:
    stream = b"".join(n + f.to_bytes(preamble=p) for n, f, p in parts) + tail
    deframer = Deframer()
    found = [
        item
        for chunk in _chunked(stream, cuts)
        for item in deframer.feed(chunk)
        if isinstance(item, Frame)
    ]
    assert found == [f for _, f, _ in parts]


def test_false_header_in_noise_does_not_hold_a_real_reply() -> None:
    real = c.reply_to(
        c.read_data("1", 0x00900200), "000000000001", bytes.fromhex("00029000 10000000")
    )
    # 68 .. 68 with L = 200: a candidate that would wait for 212 bytes that never come
    false_header = bytes.fromhex("68 11 22 33 44 55 66 68 91 C8")
    deframer = Deframer()
    assert deframer.feed(false_header + real.to_bytes()) == [real]


def test_bad_checksum_and_bad_end_are_reported_and_resynchronised() -> None:
    good = c.read_data("000000000001", 0x00010000).to_bytes(preamble=False)
    bad_cs = bytearray(good)
    bad_cs[-2] ^= 0xFF
    bad_end = bytearray(good)
    bad_end[-1] = 0x17
    deframer = Deframer()
    out = deframer.feed(bytes(bad_cs) + bytes(bad_end) + good)
    errors = [x for x in out if isinstance(x, FrameError)]
    frames_ = [x for x in out if isinstance(x, Frame)]
    assert len(errors) == 2
    assert [type(e).__name__ for e in errors] == ["ChecksumError", "EndByteError"]
    assert frames_ == [Frame.from_bytes(good)]
