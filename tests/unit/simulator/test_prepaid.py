"""03H: the acceptance rules that make a sale happen exactly once."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.dlt645 import Frame, SecurityError, SerrFlag
from gateway.dlt645 import commands as cmd
from gateway.dlt645 import dataids as ids
from gateway.simulator import Faults, VirtualMeter
from gateway.simulator.consumption import MAX_BALANCE
from tests.unit.simulator.helpers import (
    ADDR,
    CUSTOMER,
    NOW,
    ask,
    open_account,
    opened_meter,
    read,
    recharge,
    relay,
    serr_of,
    status_word_3,
)


def _wallet(meter: VirtualMeter) -> tuple[int, int, int, int]:
    return meter.remaining, meter.overdraft, meter.purchase_count, meter.cumulative_purchased


def test_recharge_with_count_n_plus_1_credits_once_and_replay_is_repeated_recharge() -> None:
    meter = opened_meter()
    reply = recharge(meter, 5_000, 2)
    assert not reply.abnormal
    assert reply.data == ids.di_to_wire(cmd.DI_RECHARGE)
    assert _wallet(meter) == (15_000, 0, 2, 15_000)
    assert read(meter, "remaining_money").scaled == 15_000  # type: ignore[union-attr]
    assert read(meter, "purchase_count") == 2

    replay = recharge(meter, 5_000, 2)
    # The reference's vector for SERR 0002, byte for byte.
    assert replay.to_bytes(preamble=False) == bytes.fromhex("68 010000000000 68 C3 02 35 33 FE 16")
    assert _wallet(meter) == (15_000, 0, 2, 15_000)


@pytest.mark.parametrize("count", [0, 3, 7])
def test_wrong_purchase_count_is_refused_and_changes_nothing(count: int) -> None:
    meter = opened_meter()
    assert serr_of(recharge(meter, 5_000, count)) == SerrFlag.PURCHASE_COUNT_ERROR
    assert _wallet(meter) == (10_000, 0, 1, 10_000)


def test_hoarding_limit_counts_balance_amount_and_overdraft() -> None:
    meter = opened_meter(hoarding_limit=20_000)
    assert serr_of(recharge(meter, 10_001, 2)) == SerrFlag.OVER_HOARDING_LIMIT
    assert _wallet(meter) == (10_000, 0, 1, 10_000)
    assert not recharge(meter, 10_000, 2).abnormal  # exactly at the limit is allowed
    assert meter.remaining == 20_000


def test_hoarding_check_subtracts_the_overdraft() -> None:
    meter = opened_meter(hoarding_limit=20_000)
    meter.remaining, meter.overdraft = 0, 300
    assert not recharge(meter, 20_300, 2).abnormal
    assert (meter.remaining, meter.overdraft) == (20_000, 0)


def test_customer_number_mismatch_is_refused() -> None:
    meter = opened_meter()
    assert serr_of(recharge(meter, 5_000, 2, customer="000000000999")) == SerrFlag.CUSTOMER_MISMATCH
    assert _wallet(meter) == (10_000, 0, 1, 10_000)


def test_recharge_before_the_account_is_opened_is_refused() -> None:
    meter = VirtualMeter(ADDR)
    assert serr_of(recharge(meter, 5_000, 1)) == SerrFlag.OTHER
    assert _wallet(meter) == (0, 0, 0, 0)


@pytest.mark.parametrize("count", [0, 1])
def test_open_account_accepts_count_0_or_1(count: int) -> None:
    meter = VirtualMeter(ADDR)
    assert not open_account(meter, 3_000, count).abnormal
    assert meter.account_opened
    assert meter.customer_number == CUSTOMER
    assert _wallet(meter) == (3_000, 0, count, 3_000)
    assert status_word_3(meter) & ids.SW3_ACCOUNT_OPENED
    assert read(meter, "customer_number") == CUSTOMER


def test_open_account_with_count_2_is_a_count_error() -> None:
    meter = VirtualMeter(ADDR)
    assert serr_of(open_account(meter, 3_000, 2)) == SerrFlag.PURCHASE_COUNT_ERROR
    assert not meter.account_opened


def test_open_account_twice() -> None:
    meter = opened_meter()
    # A retried open that already happened reads as done, and credits nothing.
    assert serr_of(open_account(meter, 10_000, 1)) == SerrFlag.REPEATED_RECHARGE
    # A different customer, or an open on a meter in use: refused (the manual's E001).
    assert serr_of(open_account(meter, 10_000, 1, customer="1")) == SerrFlag.CUSTOMER_MISMATCH
    recharge(meter, 100, 2)
    assert serr_of(open_account(meter, 10_000, 1)) == SerrFlag.OTHER
    assert _wallet(meter) == (10_100, 0, 2, 10_100)


def test_start_up_balance_without_customer_takes_the_first_recharges_customer() -> None:
    meter = VirtualMeter(ADDR, remaining=1_000)
    assert meter.account_opened
    assert serr_of(recharge(meter, 500, 5)) == SerrFlag.PURCHASE_COUNT_ERROR
    assert meter.customer_number == "000000000000"  # a refused recharge changes nothing
    assert not recharge(meter, 500, 1).abnormal
    assert meter.customer_number == CUSTOMER
    assert serr_of(recharge(meter, 500, 2, customer="7")) == SerrFlag.CUSTOMER_MISMATCH


def test_recharge_pays_overdraft_first_then_recloses_a_credit_trip() -> None:
    meter = opened_meter(overdraft_limit=500, close_allowed=1_000)
    meter.remaining, meter.overdraft = 0, 500
    meter.advance(dt.timedelta(seconds=1), NOW)
    assert meter.relay_open and meter.relay.reason == "credit"
    recharge(meter, 1_200, 2)  # 5.00 repays the overdraft, 7.00 remains: not above 10.00
    assert (meter.remaining, meter.overdraft) == (700, 0)
    assert meter.relay_open
    recharge(meter, 400, 3)  # 11.00 > close-allowed 10.00: the meter closes the relay
    assert meter.remaining == 1_100
    assert not meter.relay_open


def test_recharge_does_not_undo_a_remote_trip() -> None:
    meter = opened_meter()
    relay(meter, cmd.RelayAction.TRIP)
    recharge(meter, 5_000, 2)
    assert meter.relay_open


def test_status_query_reports_wallet_count_and_customer() -> None:
    meter = opened_meter()
    request = cmd.status_query(ADDR, "44332211")
    status = cmd.parse_status_query(request, ask(meter, request))
    assert (status.remaining_fen, status.purchase_count, status.customer_number) == (
        10_000,
        1,
        CUSTOMER,
    )


def test_identity_auth_reply_and_validity_window() -> None:
    meter = VirtualMeter(ADDR, require_auth=True)
    payload = cmd.RechargePayload(1_000, 1, CUSTOMER)
    refused = ask(meter, cmd.open_account(ADDR, "0", payload))
    assert serr_of(refused) == SerrFlag.AUTH_FAILED
    request = cmd.identity_auth(ADDR, "0", b"\x11" * 8, b"\x22" * 8, b"\x33" * 8)
    auth = cmd.parse_identity_auth(request, ask(meter, request))
    assert len(auth.random2) == 4
    assert auth.esam_serial == bytes.fromhex("0000000000000001")
    assert status_word_3(meter) & ids.SW3_AUTH_VALID
    assert not ask(meter, cmd.open_account(ADDR, "0", payload)).abnormal
    later = NOW + dt.timedelta(minutes=5, seconds=1)
    assert not status_word_3(meter, later) & ids.SW3_AUTH_VALID
    expired = ask(meter, cmd.recharge(ADDR, "0", cmd.RechargePayload(1, 2, CUSTOMER)), later)
    assert serr_of(expired) == SerrFlag.AUTH_FAILED
    assert meter.purchase_count == 1


def test_one_byte_03h_error_vendor_variant() -> None:
    meter = opened_meter(faults=Faults(one_byte_03h_errors=True))
    request = cmd.recharge(ADDR, "0", cmd.RechargePayload(5_000, 1, CUSTOMER))
    reply = ask(meter, request)
    assert reply.to_bytes(preamble=False) == Frame(ADDR, 0xC3, b"\x02").to_bytes(preamble=False)
    with pytest.raises(SecurityError) as caught:
        cmd.check_reply(request, reply)
    assert caught.value.serr is None


def test_energy_meter_amounts_are_hundredths_of_kwh() -> None:
    meter = VirtualMeter(ADDR, wallet="energy")
    open_account(meter, 2_500, 1)  # 25.00 kWh
    assert read(meter, "remaining_energy").scaled == 2_500  # type: ignore[union-attr]
    request = cmd.status_query(ADDR, "0")
    assert cmd.parse_status_query(request, ask(meter, request)).remaining_fen == 2_500


def test_malformed_and_unsupported_03h_commands() -> None:
    meter = opened_meter()
    short = Frame(ADDR, 0x03, ids.di_to_wire(cmd.DI_RECHARGE) + bytes(8 + 10))
    assert serr_of(ask(meter, short)) == SerrFlag.OTHER
    unknown = Frame(ADDR, 0x03, ids.di_to_wire(0x07010300) + bytes(4))
    assert serr_of(ask(meter, unknown)) == SerrFlag.OTHER
    plain = VirtualMeter(ADDR, wallet="none")
    assert serr_of(ask(plain, cmd.status_query(ADDR, "0"))) == SerrFlag.OTHER
    assert _wallet(meter) == (10_000, 0, 1, 10_000)


def test_balance_never_exceeds_the_register() -> None:
    meter = opened_meter()
    assert serr_of(recharge(meter, MAX_BALANCE, 2)) == SerrFlag.OVER_HOARDING_LIMIT
