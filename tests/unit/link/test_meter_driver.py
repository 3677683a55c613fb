"""The meter driver against scripted meters: typed values, follow-ups, purchases, relay."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from gateway.dlt645 import Frame, Function, Quantity, SerrFlag
from gateway.dlt645 import commands as cmd
from gateway.dlt645 import values as v
from gateway.dlt645.dataids import di_from_wire
from gateway.dlt645.errors import UnknownDataIdError
from gateway.link import BadReplyError, Bus, BusTimeoutError
from gateway.link.timing import LineTiming
from gateway.meters import (
    EncryptionMachineMac,
    InvalidRequestError,
    MacUnavailableError,
    MeterDriver,
    MeterProfile,
    MeterRefusedError,
    ReadbackMismatchError,
    RechargeOutcome,
    RechargeOutcomeUnknownError,
    RechargeRefusedError,
    SoftwareKeyMac,
)
from gateway.meters.blocks import MEMBERS, members
from gateway.meters.mac import RechargeMacRequest, RelayCipherRequest
from tests.unit.link.fakes import FakeMeter, Script, SocketPairConnector, read_reply, reply_bytes

A1 = "000000000001"
NOW = dt.datetime(2026, 8, 15, 12, 0, 0)


def driver_for(
    meter: FakeMeter, profile: MeterProfile | None = None, window_ms: int = 1000, **kw: object
) -> MeterDriver:
    bus = Bus("t", timing=LineTiming(115200, window_ms), connector=SocketPairConnector(meter))
    return MeterDriver(bus, A1, profile=profile or MeterProfile(), clock=lambda: NOW, **kw)  # type: ignore[arg-type]


async def test_typed_values_from_the_table() -> None:
    meter = FakeMeter(registers={
        0x00010000: v.bcd_encode(12345678, 4),
        0x00900200: v.bcd_encode(10050, 4),
        0x03330201: v.bcd_encode(7, 2),
        0x02020100: v.signed_bcd_encode(-1500, 3),
        0x04000402: v.digits_encode("002241020208", 6),
        0x04000101: bytes([6]) + v.digits_encode("260815", 3),
    })  # fmt: skip
    d = driver_for(meter)
    assert await d.read("forward_active_total") == Quantity(12345678, 2, "kWh")
    assert str(await d.read(0x00900200)) == "100.50"
    assert await d.read("03330201") == 7
    assert await d.read("current_a") == Quantity(-1500, 3, "A")
    assert await d.read("meter_number") == "002241020208"
    assert await d.read("date") == dt.date(2026, 8, 15)
    many = await d.read_many(["remaining_money", "purchase_count"])
    assert many == {0x00900200: Quantity(10050, 2, "yuan"), 0x03330201: 7}
    await d.bus.close()


async def test_unknown_name_is_refused_before_sending() -> None:
    meter = FakeMeter()
    d = driver_for(meter)
    with pytest.raises(UnknownDataIdError):
        await d.read("no_such_thing")
    assert meter.received == []
    await d.bus.close()


async def test_non_bcd_value_is_a_bad_reply_never_a_value() -> None:
    d = driver_for(FakeMeter(registers={0x00900200: b"\x00\x1a\x00\x00"}))
    with pytest.raises(BadReplyError, match="not BCD"):
        await d.read("remaining_money")
    await d.bus.close()


async def test_err_reply_is_a_refusal_with_the_flag_name() -> None:
    d = driver_for(FakeMeter())
    with pytest.raises(MeterRefusedError) as caught:
        await d.read("remaining_money")
    assert caught.value.code == "E130" and "NO_SUCH_DATA" in str(caught.value)
    await d.bus.close()


def block_meter(split: bool) -> FakeMeter:
    values = [v.bcd_encode(100 * (i + 1), 4) for i in range(5)]  # total, t1..t4

    def handler(request: Frame) -> Script:
        di = di_from_wire(request.data)
        if request.function == Function.READ and di == 0x0001FF00:
            if not split:
                return reply_bytes(read_reply(request, A1, b"".join(values)))
            return reply_bytes(read_reply(request, A1, b"".join(values[:2]), more=True))
        if request.function == Function.READ_FOLLOW and di == 0x0001FF00:
            seq = request.data[4]
            chunk = values[2:4] if seq == 1 else values[4:]
            data = request.data[:4] + b"".join(chunk) + bytes([seq])
            return reply_bytes(cmd.reply_to(request, A1, data, more=seq == 1))
        if request.function == Function.READ and di in MEMBERS[0x0001FF00]:
            return reply_bytes(read_reply(request, A1, values[MEMBERS[0x0001FF00].index(di)]))
        return reply_bytes(cmd.error_reply(request, A1, cmd.ErrFlag.NO_SUCH_DATA))

    return FakeMeter(handler=handler)


EXPECTED_BLOCK = tuple(Quantity(100 * (i + 1), 2, "kWh") for i in range(5))


async def test_block_read_with_follow_up_frames() -> None:
    meter = block_meter(split=True)
    d = driver_for(meter)
    assert await d.read("forward_active_block") == EXPECTED_BLOCK
    assert [f.function for f in meter.received] == [0x11, 0x12, 0x12]
    assert [f.data[4] for f in meter.received[1:]] == [1, 2]
    await d.bus.close()


async def test_block_read_item_by_item_when_the_profile_says_so() -> None:
    meter = block_meter(split=False)
    d = driver_for(meter, MeterProfile(supports_block_reads=False))
    assert await d.read(0x0001FF00) == EXPECTED_BLOCK
    assert [di_from_wire(f.data) for f in meter.received] == list(MEMBERS[0x0001FF00])
    await d.bus.close()


async def test_block_read_falls_back_when_the_meter_has_no_block() -> None:
    values = {di: v.binary_encode(i, 2) for i, di in enumerate(MEMBERS[0x040005FF])}
    d = driver_for(FakeMeter(registers=values))
    assert await d.read("status_block") == tuple(range(7))
    await d.bus.close()


def test_every_block_has_as_many_members_as_values() -> None:
    from gateway.dlt645 import lookup

    for block in MEMBERS:
        assert len(members(lookup(block))) == lookup(block).count


def purchase_meter(
    answer: SerrFlag | None = None, one_byte: bool = False, silent: bool = False
) -> FakeMeter:
    def handler(request: Frame) -> Script:
        if silent:
            return []
        if answer is None:
            return reply_bytes(cmd.reply_to(request, A1, request.data[:4]))
        return reply_bytes(cmd.security_error_reply(request, A1, answer, one_byte=one_byte))

    return FakeMeter(handler=handler)


async def test_recharge_sends_the_count_and_amount_in_binary() -> None:
    meter = purchase_meter()
    d = driver_for(meter)
    assert await d.recharge(12345, 8, "42") is RechargeOutcome.APPLIED
    (sent,) = meter.received
    assert di_from_wire(sent.data) == cmd.DI_RECHARGE
    payload = cmd.RechargePayload.from_wire(sent.data[8:])
    assert (payload.amount_fen, payload.purchase_count, payload.customer_number) == (
        12345, 8, "000000000042",
    )  # fmt: skip
    await d.bus.close()


async def test_repeated_recharge_is_already_applied() -> None:
    d = driver_for(purchase_meter(SerrFlag.REPEATED_RECHARGE))
    assert await d.recharge(100, 8, "42") is RechargeOutcome.ALREADY_APPLIED
    await d.bus.close()


async def test_wrong_count_is_refused_with_the_serr_name() -> None:
    d = driver_for(purchase_meter(SerrFlag.PURCHASE_COUNT_ERROR))
    with pytest.raises(RechargeRefusedError) as caught:
        await d.recharge(100, 9, "42")
    assert caught.value.code == "E132" and "PURCHASE_COUNT_ERROR" in str(caught.value)
    await d.bus.close()


async def test_one_byte_repeated_is_unknown_not_a_guess() -> None:
    d = driver_for(purchase_meter(SerrFlag.REPEATED_RECHARGE, one_byte=True))
    with pytest.raises(RechargeOutcomeUnknownError):
        await d.recharge(100, 8, "42")
    d2 = driver_for(purchase_meter(SerrFlag.OVER_HOARDING_LIMIT, one_byte=True))
    with pytest.raises(RechargeRefusedError, match="OVER_HOARDING_LIMIT"):
        await d2.recharge(100, 8, "42")
    await d.bus.close()
    await d2.bus.close()


async def test_silent_meter_makes_the_outcome_unknown_and_is_never_retried() -> None:
    meter = purchase_meter(silent=True)
    d = driver_for(meter, window_ms=200)
    with pytest.raises(RechargeOutcomeUnknownError) as caught:
        await d.recharge(100, 8, "42")
    assert caught.value.code == "E133" and "E120" in str(caught.value)
    assert len(meter.received) == 1  # the bus has 2 retries configured: none used
    await d.bus.close()


async def test_a_purchase_that_never_left_is_not_unknown() -> None:
    meter = purchase_meter()
    bus = Bus("t", timing=LineTiming(9600, 100), connector=SocketPairConnector(meter, fail=True))
    d = MeterDriver(bus, A1)
    with pytest.raises(Exception) as caught:
        await d.recharge(100, 8, "42")
    assert caught.value.__class__.__name__ == "PortUnavailableError"
    await bus.close()


@pytest.mark.parametrize(
    ("amount", "count", "customer"),
    [(-1, 1, "1"), (2**31, 1, "1"), (1, -1, "1"), (1, 2**32, "1"), (1, 1, "12x"), (1, 1, "1" * 13)],
)
async def test_bad_purchase_input_sends_nothing(amount: int, count: int, customer: str) -> None:
    meter = purchase_meter()
    d = driver_for(meter)
    with pytest.raises(InvalidRequestError) as caught:
        await d.recharge(amount, count, customer)
    assert caught.value.code == "E135" and meter.received == []
    await d.bus.close()


async def test_bcd_layout_for_vendor_meters() -> None:
    meter = purchase_meter()
    d = driver_for(meter, MeterProfile(security_layout="bcd"))
    await d.open_account(12345, 1, "42")
    (sent,) = meter.received
    assert di_from_wire(sent.data) == cmd.DI_OPEN_ACCOUNT
    body = sent.data[8:]
    assert body[:4] == bytes.fromhex("45230100") and body[4:8] == bytes.fromhex("01000000")
    await d.bus.close()


async def test_software_key_macs_verify_on_the_meter_side() -> None:
    mac = SoftwareKeyMac(bytes(range(16)))
    meter = purchase_meter()
    d = driver_for(meter, mac=mac)
    await d.recharge(500, 3, "42")
    payload = cmd.RechargePayload.from_wire(meter.received[0].data[8:])
    request = RechargeMacRequest(A1, cmd.DI_RECHARGE, 500, 3, "000000000042")
    assert mac.verify_recharge(request, payload.mac1, payload.mac2)
    forged = RechargeMacRequest(A1, cmd.DI_RECHARGE, 50000, 3, "000000000042")
    assert not mac.verify_recharge(forged, payload.mac1, payload.mac2)
    other_meter = SoftwareKeyMac(bytes(range(16))).meter_key("000000000002")
    assert other_meter != mac.meter_key(A1)
    await d.bus.close()


def relay_meter(word_after: int, refuse: bool = False) -> FakeMeter:
    def handler(request: Frame) -> Script:
        if request.function == Function.RELAY:
            if refuse:
                return reply_bytes(cmd.error_reply(request, A1, cmd.ErrFlag.OTHER))
            return reply_bytes(cmd.reply_to(request, A1))
        return reply_bytes(read_reply(request, A1, v.binary_encode(word_after, 2)))

    return FakeMeter(handler=handler)


async def test_relay_trip_is_confirmed_by_status_word_3() -> None:
    meter = relay_meter(0x0050)
    d = driver_for(meter)
    result = await d.relay(cmd.RelayAction.TRIP, dt.timedelta(minutes=30))
    assert result.state.relay_open and result.state.command_open
    sent = meter.received[0]
    assert sent.data[8] == 0x1A
    assert cmd.parse_bcd_datetime(sent.data[10:16]) == NOW + dt.timedelta(minutes=30)
    await d.bus.close()


async def test_relay_read_back_that_disagrees_is_an_error() -> None:
    d = driver_for(relay_meter(0x0000))
    with pytest.raises(ReadbackMismatchError) as caught:
        await d.relay(cmd.RelayAction.TRIP)
    assert caught.value.code == "E131" and "still closed" in str(caught.value)
    await d.bus.close()


async def test_refused_relay_still_reads_back() -> None:
    meter = relay_meter(0x1000, refuse=True)  # keep-power on: trips are refused
    d = driver_for(meter)
    with pytest.raises(MeterRefusedError, match="keep-power on"):
        await d.relay(cmd.RelayAction.TRIP)
    assert [f.function for f in meter.received] == [0x1C, 0x11]
    await d.bus.close()


async def test_level98_relay_uses_the_mac_provider() -> None:
    mac = SoftwareKeyMac(b"k" * 16)
    meter = relay_meter(0x0050)
    d = driver_for(meter, MeterProfile(relay_form="level98"), mac=mac)
    await d.relay(cmd.RelayAction.TRIP, dt.timedelta(hours=1))
    sent = meter.received[0]
    assert len(sent.data) == 28 and sent.data[0] == 0x98
    action, until = mac.open_relay(A1, sent.data[8:24], sent.data[24:28])
    assert action == 0x1A and cmd.parse_bcd_datetime(until) == NOW + dt.timedelta(hours=1)
    await d.bus.close()


async def test_write_is_read_back() -> None:
    store: dict[int, bytes] = {}

    def handler(request: Frame) -> Script:
        di = di_from_wire(request.data)
        if request.function == Function.WRITE:
            store[di] = request.data[12:] if di != 0x04001001 else b"\x00\x00\x00\x00"
            return reply_bytes(cmd.reply_to(request, A1))
        return reply_bytes(read_reply(request, A1, store[di]))

    meter = FakeMeter(handler=handler)
    d = driver_for(meter, MeterProfile(password="123456", operator="44332211"))
    await d.write("alarm_money_2", "12.34")
    sent = meter.received[0]
    assert cmd.Password.from_wire(sent.data[4:8]) == cmd.Password(2, "123456")
    assert sent.data[8:12] == bytes.fromhex("11223344")
    with pytest.raises(ReadbackMismatchError):
        await d.write("alarm_money_1", "50.00")  # this meter silently ignores it
    with pytest.raises(InvalidRequestError):
        await d.write("alarm_money_1", "1.234")
    await d.bus.close()


async def test_time_sync_writes_date_then_time() -> None:
    meter = FakeMeter()
    d = driver_for(meter)
    await d.set_time(dt.datetime(2026, 8, 16, 23, 59, 58))
    date, time = meter.received
    assert di_from_wire(date.data) == 0x04000101 and date.data[12:] == bytes.fromhex("00160826")
    assert di_from_wire(time.data) == 0x04000102 and time.data[12:] == bytes.fromhex("585923")
    await d.bus.close()


async def test_reads_of_an_absent_meter_time_out() -> None:
    d = driver_for(FakeMeter(address="000000000009"), window_ms=100)
    with pytest.raises(BusTimeoutError):
        await d.read("remaining_money")
    await d.bus.close()


@pytest.fixture
async def machine(unused_tcp_port: int) -> AsyncIterator[str]:
    async def sign(request: web.Request) -> web.Response:
        body = await request.json()
        if body["op"] == "recharge":
            return web.json_response({"mac1": "01020304", "mac2": f"{body['count']:08X}"})
        return web.json_response({"ciphertext": "AB" * 16, "mac": "CDCDCDCD"})

    app = web.Application()
    app.router.add_post("/mac", sign)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    yield f"http://127.0.0.1:{unused_tcp_port}/mac"
    await runner.cleanup()


async def test_encryption_machine_client(machine: str) -> None:
    provider = EncryptionMachineMac(machine)
    macs = await provider.recharge_macs(RechargeMacRequest(A1, cmd.DI_RECHARGE, 1, 9, "1"))
    assert macs == (b"\x01\x02\x03\x04", b"\x00\x00\x00\x09")
    cipher, mac = await provider.relay_cipher(RelayCipherRequest(A1, cmd.RelayAction.TRIP, NOW))
    assert cipher == b"\xab" * 16 and mac == b"\xcd" * 4


async def test_encryption_machine_not_configured_is_a_clear_error() -> None:
    meter = purchase_meter()
    d = driver_for(meter, mac=EncryptionMachineMac(""))
    with pytest.raises(MacUnavailableError) as caught:
        await d.recharge(100, 1, "1")
    assert caught.value.code == "E134" and "not configured" in str(caught.value)
    assert meter.received == []
    await d.bus.close()
