"""The meter driver: what the gateway can ask one DL/T 645 meter to do, over its bus.

Every method sends through ``Bus.request`` (one request in flight, by priority). Reads are
idempotent and may be retried by the bus; writes, relay commands and purchases are sent once
and confirmed by reading back, because a meter may change state and still answer with an error.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.dlt645 import (
    DataId,
    Frame,
    Function,
    Quantity,
    Value,
    decode_value,
    encode_value,
    lookup,
)
from gateway.dlt645 import address as addr
from gateway.dlt645 import commands as cmd
from gateway.dlt645.dataids import di_from_wire
from gateway.dlt645.errors import (
    ErrFlag,
    FrameError,
    MeterError,
    SecurityError,
    ValueFormatError,
    flag_names,
)
from gateway.link.bus import Bus
from gateway.link.errors import BadReplyError
from gateway.link.priority import Priority
from gateway.meters.blocks import members
from gateway.meters.errors import (
    InvalidRequestError,
    MeterRefusedError,
    ReadbackMismatchError,
)
from gateway.meters.mac import DummyMac, MacProvider, RelayCipherRequest
from gateway.meters.profile import DEFAULT_PROFILE, MeterProfile
from gateway.meters.purchase import PurchaseOrder, RechargeOutcome, purchase
from gateway.meters.relay_state import RelayState, readback_problem

log = logging.getLogger(__name__)

MAX_FOLLOW_UPS = 16  # a block longer than this many frames is a runaway meter
SW3 = 0x04000503
DI_DATE = 0x04000101
DI_TIME = 0x04000102


@dataclass(frozen=True, slots=True)
class WalletState:
    """The meter's own wallet. Amounts in fen (money wallet) or 0.01 kWh (energy wallet)."""

    remaining: int
    purchase_count: int
    customer_number: str | None
    overdraft: int | None = None


@dataclass(frozen=True, slots=True)
class RelayResult:
    action: cmd.RelayAction
    state: RelayState


async def broadcast_time(bus: Bus, now: dt.datetime) -> None:
    """08H to every meter on the bus (no meter replies; meters limit how far it may move)."""
    await bus.send(cmd.broadcast_time(now), priority=Priority.OPERATOR)


async def read_address(bus: Bus, *, priority: Priority = Priority.OPERATOR) -> str:
    """13H to the wildcard address: the address of the one meter alone on the bus."""
    request = cmd.read_address()
    reply = await bus.request(request, priority=priority)
    try:
        return cmd.parse_read_address(reply)
    except FrameError as exc:
        raise BadReplyError(
            f"read-address reply not understood: {exc}", bus=bus.name, request_sent=True
        ) from exc


class MeterDriver:
    """One meter on one bus, talked to the way its profile says."""

    def __init__(
        self,
        bus: Bus,
        address: str,
        *,
        profile: MeterProfile = DEFAULT_PROFILE,
        mac: MacProvider | None = None,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        normalised = addr.normalise(address)
        if "A" in normalised:
            raise InvalidRequestError(f"meter address {address!r} must be digits only")
        self.bus = bus
        self.address = normalised
        self.profile = profile
        self.mac: MacProvider = mac if mac is not None else DummyMac()
        self._clock = clock

    def __repr__(self) -> str:
        return f"MeterDriver({self.address} on {self.bus.name}, profile {self.profile.name})"

    # --- reads ------------------------------------------------------------------------------

    async def read(self, key: int | str, *, priority: Priority = Priority.POLL) -> Value:
        """Read one data item (by DI, hex text or name) as its typed value."""
        dataid = self._dataid(key)
        if dataid.count > 1:
            return await self._read_block(dataid, priority)
        raw = await self.read_raw(dataid.di, priority=priority)
        return self._decode(dataid, raw)

    async def read_many(
        self, keys: Iterable[int | str], *, priority: Priority = Priority.POLL
    ) -> dict[int, Value]:
        """Several items, one request each (blocks with follow-ups where supported); DI → value."""
        values: dict[int, Value] = {}
        for key in keys:
            dataid = self._dataid(key)
            values[dataid.di] = await self.read(dataid.di, priority=priority)
        return values

    async def read_raw(self, di: int, *, priority: Priority = Priority.POLL) -> bytes:
        """The value bytes of any DI (also ones not in the table), follow-up frames joined."""
        request = cmd.read_data(self.address, di)
        reply = self._parse_read(request, await self.bus.request(request, priority=priority))
        data = reply.raw
        seq = 0
        while reply.more:
            seq += 1
            if seq > MAX_FOLLOW_UPS:
                raise BadReplyError(
                    f"meter {self.address}: more than {MAX_FOLLOW_UPS} follow-up frames for "
                    f"{di:08X}",
                    bus=self.bus.name,
                    request_sent=True,
                )
            follow = cmd.read_follow(self.address, di, seq)
            reply = self._parse_read(follow, await self.bus.request(follow, priority=priority))
            data += reply.raw
        return data

    async def _read_block(self, block: DataId, priority: Priority) -> Value:
        if self.profile.supports_block_reads:
            try:
                raw = await self.read_raw(block.di, priority=priority)
            except MeterRefusedError as exc:
                if "NO_SUCH_DATA" not in exc.err_names:
                    raise
                log.debug("meter %s has no block %08X; reading its items", self.address, block.di)
            else:
                return self._decode(block, raw)
        parts: list[Value] = []
        for member in members(block):
            raw = await self.read_raw(member.di, priority=priority)
            parts.append(self._decode(member, raw))
        return tuple(parts)

    async def read_address(self, *, priority: Priority = Priority.OPERATOR) -> str:
        """13H to the wildcard address: the address of the meter *alone* on the bus.

        For checking a meter before it joins a shared line (several meters would collide).
        """
        return await read_address(self.bus, priority=priority)

    async def verify_address(self, *, priority: Priority = Priority.OPERATOR) -> bool:
        """Does a meter answer at this driver's address (reads 04000401 from it)?"""
        return await self.read(0x04000401, priority=priority) == self.address

    def _parse_read(self, request: Frame, reply: Frame) -> cmd.ReadReply:
        try:
            return cmd.parse_read(request, reply)
        except MeterError as exc:
            raise self._refused(request, exc) from exc
        except FrameError as exc:
            raise BadReplyError(
                f"meter {self.address}: {exc}", bus=self.bus.name, request_sent=True
            ) from exc

    def _decode(self, dataid: DataId, raw: bytes) -> Value:
        try:
            return decode_value(dataid, raw)
        except ValueFormatError as exc:
            raise BadReplyError(
                f"meter {self.address}: {dataid.di:08X} {dataid.name}: {exc}",
                bus=self.bus.name,
                request_sent=True,
            ) from exc

    def _dataid(self, key: int | str) -> DataId:
        return lookup(key)  # raises UnknownDataIdError (E106) for a DI not in the table

    def _refused(self, request: Frame, exc: MeterError) -> MeterRefusedError:
        what = f"{Function(request.function).name}"
        if request.function in (Function.READ, Function.WRITE) and len(request.data) >= 4:
            what += f" {di_from_wire(request.data):08X}"
        names = flag_names(exc.err)
        return MeterRefusedError(
            f"meter {self.address} refused {what}: {names}", address=self.address, err_names=names
        )

    # --- writes -----------------------------------------------------------------------------

    async def write(
        self,
        key: int | str,
        value: object,
        *,
        priority: Priority = Priority.OPERATOR,
        verify: bool = True,
    ) -> None:
        """14H write with the profile's password and operator code, then read it back."""
        dataid = self._dataid(key)
        try:
            encoded = encode_value(dataid, value)
        except ValueFormatError as exc:
            raise InvalidRequestError(str(exc), address=self.address) from exc
        request = cmd.write_data(
            self.address, dataid.di, encoded, self.profile.credentials, self.profile.operator
        )
        await self._command(request, priority)
        if verify:
            back = await self.read_raw(dataid.di, priority=priority)
            if back != encoded:
                raise ReadbackMismatchError(
                    f"meter {self.address}: wrote {dataid.name} = {encoded.hex(' ').upper()} but "
                    f"read back {back.hex(' ').upper()}",
                    address=self.address,
                )

    async def _command(self, request: Frame, priority: Priority) -> Frame:
        """Send a non-idempotent command once; raise MeterRefusedError on an abnormal reply."""
        reply = await self.bus.request(request, priority=priority, retry=False)
        try:
            return cmd.check_reply(request, reply)
        except MeterError as exc:
            raise self._refused(request, exc) from exc
        except FrameError as exc:
            raise BadReplyError(
                f"meter {self.address}: {exc}", bus=self.bus.name, request_sent=True
            ) from exc

    async def meter_clear(self, *, priority: Priority = Priority.OPERATOR) -> None:
        """1AH: the meter clears its energy registers and prepaid state."""
        request = cmd.meter_clear(self.address, self.profile.credentials, self.profile.operator)
        await self._command(request, priority)

    # --- time -------------------------------------------------------------------------------

    async def read_clock(self, *, priority: Priority = Priority.OPERATOR) -> dt.datetime:
        date = await self.read(DI_DATE, priority=priority)
        time = await self.read(DI_TIME, priority=priority)
        if not isinstance(date, dt.date) or not isinstance(time, dt.time):
            raise BadReplyError(f"meter {self.address}: clock not a date and time")
        return dt.datetime.combine(date, time)

    async def set_time(
        self, now: dt.datetime | None = None, *, priority: Priority = Priority.OPERATOR
    ) -> dt.datetime:
        """Per-meter time sync: 14H writes of date (04000101) then time (04000102).

        Returns the moment written. The time is written last and taken fresh from the clock, so
        the seconds the date write took are not lost.
        """
        moment = now if now is not None else self._clock()
        await self.write(DI_DATE, moment.date(), priority=priority, verify=False)
        if now is None:
            moment = self._clock()
        await self.write(
            DI_TIME, moment.time().replace(microsecond=0), priority=priority, verify=False
        )
        return moment

    # --- relay ------------------------------------------------------------------------------

    async def relay(
        self,
        action: cmd.RelayAction,
        valid_for: dt.timedelta | None = None,
        *,
        priority: Priority = Priority.OPERATOR,
    ) -> RelayResult:
        """1CH relay/alarm/keep-power command, then status word 3 read back and checked.

        A refused command still gets its read-back (a meter may act and then complain); the
        MeterRefusedError then carries the state in its message.
        """
        window = (
            valid_for
            if valid_for is not None
            else dt.timedelta(minutes=self.profile.relay_valid_minutes)
        )
        valid_until = self._clock() + window
        if self.profile.relay_form == "level98":
            ciphertext, mac = await self.mac.relay_cipher(
                RelayCipherRequest(self.address, action, valid_until)
            )
            request = cmd.relay_encrypted(self.address, self.profile.operator, ciphertext, mac)
        else:
            request = cmd.relay(
                self.address, action, valid_until, self.profile.credentials, self.profile.operator
            )
        try:
            await self._command(request, priority)
        except MeterRefusedError as exc:
            state = await self.relay_state(priority=priority)
            raise MeterRefusedError(
                f"{exc}; relay now: {state}",
                address=self.address,
                err_names=exc.err_names,
            ) from exc
        state = await self.relay_state(priority=priority)
        problem = readback_problem(action, state)
        if problem is not None:
            raise ReadbackMismatchError(
                f"meter {self.address}: {problem}; now {state}", address=self.address
            )
        return RelayResult(action, state)

    async def relay_state(self, *, priority: Priority = Priority.OPERATOR) -> RelayState:
        word = await self.read(SW3, priority=priority)
        if not isinstance(word, int):
            raise BadReplyError(f"meter {self.address}: status word 3 is not a bit field")
        return RelayState(word)

    # --- meter wallet (03H) -----------------------------------------------------------------

    async def wallet_status(self, *, priority: Priority = Priority.OPERATOR) -> WalletState:
        """Remaining credit, purchase count and customer number, as the profile says to read."""
        if self.profile.wallet_query == "status_query":
            request = cmd.status_query(self.address, self.profile.operator)
            reply = await self.bus.request(request, priority=priority)
            try:
                status = cmd.parse_status_query(request, reply)
            except SecurityError as exc:
                raise MeterRefusedError(
                    f"meter {self.address} refused the status query: {exc}",
                    address=self.address,
                    err_names=flag_names(
                        exc.serr if exc.serr is not None else exc.err or ErrFlag(0)
                    ),
                ) from exc
            except (FrameError, ValueFormatError) as exc:
                raise BadReplyError(
                    f"meter {self.address}: {exc}", bus=self.bus.name, request_sent=True
                ) from exc
            return WalletState(status.remaining_fen, status.purchase_count, status.customer_number)
        energy = self.profile.wallet == "energy"
        remaining = await self.read(0x00900100 if energy else 0x00900200, priority=priority)
        overdraft = await self.read(0x00900101 if energy else 0x00900201, priority=priority)
        count = await self.read(0x03330201, priority=priority)
        customer = await self.read(0x0400040E, priority=priority)
        return WalletState(
            _scaled(remaining),
            count if isinstance(count, int) else _scaled(count),
            customer if isinstance(customer, str) else None,
            _scaled(overdraft),
        )

    async def open_account(
        self, amount_fen: int, count: int, customer: str, *, priority: Priority = Priority.OPERATOR
    ) -> RechargeOutcome:
        """03H 070101FF. ``count`` is what the meter must accept: 0 or 1 for a new account."""
        order = PurchaseOrder(cmd.DI_OPEN_ACCOUNT, amount_fen, count, customer)
        return await purchase(
            self.bus, self.address, self.profile, self.mac, order, priority=priority
        )

    async def recharge(
        self, amount_fen: int, count: int, customer: str, *, priority: Priority = Priority.OPERATOR
    ) -> RechargeOutcome:
        """03H 070102FF with purchase count ``count`` (the meter's count + 1). Never retried.

        ``amount_fen`` is in fen for money wallets and in 0.01 kWh for energy wallets.
        Returns APPLIED or ALREADY_APPLIED (SERR repeated recharge: this count was credited
        before); raises RechargeRefusedError (nothing credited, SERR name in the message) or
        RechargeOutcomeUnknownError (sent, no clear answer: re-read the count before anything).
        """
        order = PurchaseOrder(cmd.DI_RECHARGE, amount_fen, count, customer)
        return await purchase(
            self.bus, self.address, self.profile, self.mac, order, priority=priority
        )


def _scaled(value: Value) -> int:
    """Integer fen / 0.01 kWh from a 2-decimal reading (exact: no float involved)."""
    if isinstance(value, Quantity):
        if value.decimals != 2:
            raise BadReplyError(f"expected 2 decimals, got {value}")
        return value.scaled
    if isinstance(value, int):
        return value
    raise BadReplyError(f"expected a number, got {value!r}")
