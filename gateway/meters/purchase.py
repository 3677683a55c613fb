"""Meter-wallet purchases over 03H: open account and recharge, sent once, answers classified.

The meter's purchase count makes a purchase idempotent: the caller sends count n+1; the meter
answers "done", "repeated recharge" (n+1 was already credited: done before), or a refusal.
Anything unclear after the request may have reached the meter is "outcome unknown", and the
caller must read the count before doing anything else. The bus never retries these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.dlt645 import Frame, Function
from gateway.dlt645 import commands as cmd
from gateway.dlt645 import values as v
from gateway.dlt645.errors import (
    ErrFlag,
    FrameError,
    MeterError,
    SecurityError,
    SerrFlag,
    ValueFormatError,
    flag_names,
)
from gateway.link.bus import Bus
from gateway.link.errors import LinkError
from gateway.link.priority import Priority
from gateway.meters.errors import (
    InvalidRequestError,
    RechargeOutcomeUnknownError,
    RechargeRefusedError,
)
from gateway.meters.mac import MacProvider, RechargeMacRequest
from gateway.meters.profile import MeterProfile

_U32 = 0xFFFFFFFF
_MAX_AMOUNT = 0x7FFFFFFF


class RechargeOutcome(enum.Enum):
    APPLIED = "applied"  # the meter accepted this purchase now
    ALREADY_APPLIED = "already_applied"  # SERR "repeated recharge": it was credited before


@dataclass(frozen=True, slots=True)
class PurchaseOrder:
    di: int  # 070101FF open account or 070102FF recharge
    amount: int  # fen (money wallet) or 0.01 kWh (energy wallet)
    count: int  # the purchase count the meter must accept (its count + 1)
    customer: str


async def purchase(
    bus: Bus,
    address: str,
    profile: MeterProfile,
    mac: MacProvider,
    order: PurchaseOrder,
    *,
    priority: Priority = Priority.OPERATOR,
) -> RechargeOutcome:
    """Send one 03H open account or recharge, once, and classify the answer."""
    di, amount, count, customer = order.di, order.amount, order.count, order.customer
    if not 0 <= amount <= _MAX_AMOUNT:
        raise InvalidRequestError(f"amount {amount} out of range", address=address)
    if not 0 <= count <= _U32:
        raise InvalidRequestError(f"purchase count {count} out of range", address=address)
    if len(customer) > 12 or not customer.isdigit():
        raise InvalidRequestError(
            f"customer number {customer!r} must be up to 12 digits", address=address
        )
    customer = customer.rjust(12, "0")
    macs = await mac.recharge_macs(RechargeMacRequest(address, di, amount, count, customer))
    request = purchase_frame(address, profile, PurchaseOrder(di, amount, count, customer), macs)
    what = "open account" if di == cmd.DI_OPEN_ACCOUNT else "recharge"
    try:
        reply = await bus.request(request, priority=priority, retry=False)
    except LinkError as exc:
        if not exc.request_sent:
            raise  # never reached the line: certainly not credited
        raise RechargeOutcomeUnknownError(
            f"meter {address}: {what} of {amount} with count {count} sent, no clear "
            f"answer ({exc.code} {exc})",
            address=address,
        ) from exc
    try:
        cmd.check_reply(request, reply)
    except SecurityError as exc:
        return _refusal(exc, address, what, count)
    except (MeterError, FrameError) as exc:
        raise RechargeOutcomeUnknownError(
            f"meter {address}: {what} answered with {exc}", address=address
        ) from exc
    return RechargeOutcome.APPLIED


def _refusal(exc: SecurityError, address: str, what: str, count: int) -> RechargeOutcome:
    if exc.serr is not None:
        if exc.repeated_recharge:
            return RechargeOutcome.ALREADY_APPLIED
        names = flag_names(exc.serr)
        raise RechargeRefusedError(
            f"meter {address} refused {what} with count {count}: SERR {names}",
            address=address,
            serr_names=names,
        ) from exc
    # The 1-byte vendor variant: the byte reads as SERR's low byte on the meters that send
    # it, but also as a plain ERR byte. "Repeated recharge" cannot be told from "no such
    # data" (both 02) — so that one is unknown, and the caller reads the count.
    byte = int(exc.err or 0)
    as_serr = flag_names(SerrFlag(byte))
    if byte & SerrFlag.REPEATED_RECHARGE:
        raise RechargeOutcomeUnknownError(
            f"meter {address}: {what} with count {count} answered with the 1-byte error "
            f"{byte:02X} (SERR {as_serr} or ERR {flag_names(ErrFlag(byte))})",
            address=address,
        ) from exc
    raise RechargeRefusedError(
        f"meter {address} refused {what} with count {count}: 1-byte error {byte:02X} "
        f"(SERR {as_serr})",
        address=address,
        serr_names=as_serr,
    ) from exc


def purchase_frame(
    address: str, profile: MeterProfile, order: PurchaseOrder, macs: tuple[bytes, bytes]
) -> Frame:
    """The 03H frame in the profile's layout (binary per the 2013 supplement, or vendor BCD)."""
    di, amount, count, customer = order.di, order.amount, order.count, order.customer
    mac1, mac2 = macs
    if profile.security_layout == "binary":
        payload = cmd.RechargePayload(amount, count, customer, mac1, mac2)
        build = cmd.open_account if di == cmd.DI_OPEN_ACCOUNT else cmd.recharge
        return build(address, profile.operator, payload)
    # Vendor layout: the same fields with amount and count as BCD (low byte first).
    try:
        body = (
            v.bcd_encode(amount, 4) + v.bcd_encode(count, 4) + mac1
            + v.digits_encode(customer, 6) + mac2
        )  # fmt: skip
    except ValueFormatError as exc:
        raise InvalidRequestError(str(exc), address=address) from exc
    data = di.to_bytes(4, "little") + cmd.operator_to_wire(profile.operator) + body
    return Frame(address, Function.SECURITY, data)
