"""03H remote prepaid commands as a meter answers them (2013 supplement, reference rules).

Acceptance of a recharge, in the order a meter checks:
1. identity authentication still valid (only when the meter is set to require it) → else SERR 0008;
2. account opened → else SERR 0001 (open the account first);
3. customer number matches → else SERR 0010;
4. count = meter count → SERR 0002 "repeated recharge": it already happened, nothing changes;
5. count ≠ meter count + 1 → SERR 0020;
6. remaining + amount − overdraft ≤ hoarding limit → else SERR 0040;
7. credit: pay off the overdraft first, then the balance; count + 1.

MACs are not checked: the simulator's ESAM accepts any (dummy) MAC, like the low-cost meters the
reference describes. For energy-type meters the 4-byte amount field is read as 0.01 kWh (the
vending side converts money to energy), and the status query reports remaining 0.01 kWh.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from gateway.dlt645 import Frame, SerrFlag, ValueFormatError
from gateway.dlt645 import commands as cmd
from gateway.dlt645.dataids import di_from_wire, di_to_wire

if TYPE_CHECKING:
    from gateway.simulator.meter import VirtualMeter

AUTH_VALIDITY = dt.timedelta(minutes=5)
_AUTH_PAYLOAD = 24  # ciphertext(8) + random1(8) + dispersion factor(8)
_NO_CUSTOMER = "000000000000"


def handle_security(m: VirtualMeter, request: Frame, now: dt.datetime) -> Frame:
    data = request.data
    if len(data) < 8:
        return _refuse(m, request, SerrFlag.OTHER)
    di = di_from_wire(data)
    payload = data[8:]
    if m.wallet == "none":
        return _refuse(m, request, SerrFlag.OTHER)
    if di == cmd.DI_IDENTITY_AUTH:
        return _identity_auth(m, request, payload, now)
    if di == cmd.DI_STATUS_QUERY:
        status = cmd.WalletStatus(m.remaining, m.purchase_count, m.customer_number, bytes(4))
        return cmd.reply_to(request, m.address, cmd.status_query_reply_data(status))
    if di in (cmd.DI_OPEN_ACCOUNT, cmd.DI_RECHARGE):
        try:
            purchase = cmd.RechargePayload.from_wire(payload)
        except ValueFormatError:
            return _refuse(m, request, SerrFlag.OTHER)
        if m.require_auth and not m.auth_valid(now):
            return _refuse(m, request, SerrFlag.AUTH_FAILED)
        if di == cmd.DI_OPEN_ACCOUNT:
            refusal = _open_account(m, purchase)
        else:
            refusal = _recharge(m, purchase)
        if refusal is not None:
            return _refuse(m, request, refusal)
        return cmd.reply_to(request, m.address, di_to_wire(di))
    return _refuse(m, request, SerrFlag.OTHER)


def _refuse(m: VirtualMeter, request: Frame, serr: SerrFlag) -> Frame:
    return cmd.security_error_reply(request, m.address, serr, one_byte=m.faults.one_byte_03h_errors)


def _identity_auth(m: VirtualMeter, request: Frame, payload: bytes, now: dt.datetime) -> Frame:
    if len(payload) != _AUTH_PAYLOAD:
        return _refuse(m, request, SerrFlag.AUTH_FAILED)
    # Any ciphertext is accepted: no utility keys exist here to check it against.
    m.auth_valid_until = m.meter_time(now) + AUTH_VALIDITY
    random2 = m.rng.randbytes(4)
    return cmd.reply_to(
        request, m.address, di_to_wire(cmd.DI_IDENTITY_AUTH) + random2 + m.esam_serial
    )


def _fits(m: VirtualMeter, amount: int) -> bool:
    return m.remaining + amount - m.overdraft <= m.hoarding_limit


def _open_account(m: VirtualMeter, p: cmd.RechargePayload) -> SerrFlag | None:
    if m.account_opened:
        if p.customer_number != m.customer_number:
            return SerrFlag.CUSTOMER_MISMATCH
        if p.purchase_count == m.purchase_count:
            return SerrFlag.REPEATED_RECHARGE  # a retried open that already succeeded
        return SerrFlag.OTHER  # already opened: the manual's E001, clear the meter first
    if p.purchase_count not in (0, 1):
        return SerrFlag.PURCHASE_COUNT_ERROR
    if not _fits(m, p.amount_fen):
        return SerrFlag.OVER_HOARDING_LIMIT
    m.account_opened = True
    m.customer_number = p.customer_number
    m.purchase_count = p.purchase_count
    m.credit(p.amount_fen)
    return None


def _recharge(m: VirtualMeter, p: cmd.RechargePayload) -> SerrFlag | None:
    if not m.account_opened:
        return SerrFlag.OTHER
    # A meter opened by a start-up balance has no customer yet: the first recharge names one.
    unnamed = m.customer_number == _NO_CUSTOMER
    if p.customer_number != m.customer_number and not unnamed:
        return SerrFlag.CUSTOMER_MISMATCH
    if p.purchase_count == m.purchase_count:
        return SerrFlag.REPEATED_RECHARGE
    if p.purchase_count != m.purchase_count + 1:
        return SerrFlag.PURCHASE_COUNT_ERROR
    if not _fits(m, p.amount_fen):
        return SerrFlag.OVER_HOARDING_LIMIT
    m.customer_number = p.customer_number
    m.purchase_count += 1
    m.credit(p.amount_fen)
    return None
