"""One virtual DL/T 645 prepaid meter: its state, the frames it answers, the energy it counts.

Sans-IO like the codec: ``handle(request, now)`` takes a decoded frame and gives the reply frame
(or None: a real meter stays silent), ``advance(elapsed, now)`` runs the load for a while. The
wire, its timing and its faults live in ``endpoint.py``. Time is always passed in: ``now`` is the
host's time; the meter's own clock is ``now + clock_offset`` (set by 08H or by writing
04000101/04000102), and that is the clock valid-until and time-of-use use.

Units: money in fen, energy in 0.01 kWh, prices in 0.0001 yuan/kWh, all ``int``. A wallet's
``remaining``, ``overdraft`` and limits are fen on a money meter and 0.01 kWh on an energy meter.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

from gateway.dlt645 import ErrFlag, Frame, Function, ValueFormatError, decode_value
from gateway.dlt645 import address as addr
from gateway.dlt645 import commands as cmd
from gateway.dlt645.commands import Password, RelayAction
from gateway.dlt645.dataids import BY_DI, di_from_wire, di_to_wire
from gateway.simulator import registers
from gateway.simulator.consumption import (
    MAX_BALANCE,
    REGISTER_WRAP,
    TICK_WUS,
    accrue,
    cost,
    duration_for_ticks,
    ticks_for_cost,
)
from gateway.simulator.faults import Faults
from gateway.simulator.prepaid import handle_security
from gateway.simulator.profile import LoadProfile, tariff_for_hour
from gateway.simulator.relay import Relay

Wallet = Literal["money", "energy", "none"]
WALLETS: tuple[str, ...] = ("money", "energy", "none")

_US = dt.timedelta(microseconds=1)
_HOUR = dt.timedelta(hours=1)
_LEVEL_98 = 0x98
# Reads and address commands may use AA wildcard nibbles; anything that changes money, relay or
# parameters must name the meter exactly.
_WILDCARD_FUNCTIONS = frozenset(
    {Function.READ, Function.READ_FOLLOW, Function.READ_ADDRESS, Function.WRITE_ADDRESS}
)
# Block reads that ``split_blocks`` answers in several frames (two values per frame), so that a
# gateway's 12H follow-up handling gets exercised.
SPLIT_DIS = frozenset({0x0001FF00, 0x040005FF})
VALUES_PER_FRAME = 2
BAUD_BY_BIT: dict[int, int] = {bit: baud for baud, bit in cmd.BAUD_BITS.items()}
STATE_VERSION = 1
DEFAULT_PASSWORD = Password(2, "000000")  # level 02, code 000000: meters as delivered

Handler = Callable[["VirtualMeter", Frame, dt.datetime], Frame | None]


def _check_range(name: str, value: int, high: int, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} {value} is outside {low}..{high}")
    return value


def _digits12(name: str, text: str) -> str:
    text = str(text).strip()
    if not text.isdigit() or len(text) > 12:
        raise ValueError(f"{name} {text!r} must be up to 12 decimal digits")
    return text.rjust(12, "0")


def _password(password: Password) -> Password:
    code = password.code.upper().rjust(6, "0")
    if len(code) != 6 or any(c not in "0123456789ABCDEF" for c in code):
        raise ValueError(f"password {password.code!r} must be 6 hex digits")
    return Password(_check_range("password level", password.level, 0xFF), code)


class VirtualMeter:
    """A prepaid meter's state plus the rules it applies. See docs/simulator.md."""

    def __init__(
        self,
        address: str,
        *,
        wallet: Wallet = "money",
        meter_number: str | None = None,
        customer_number: str = "000000000000",
        remaining: int = 0,
        purchase_count: int = 0,
        price_e4: int = 5000,
        alarm1: int = 2000,
        alarm2: int = 1000,
        overdraft_limit: int = 500,
        hoarding_limit: int = MAX_BALANCE,
        close_allowed: int = 0,
        password: Password = DEFAULT_PASSWORD,
        load_w: int = 1000,
        load_curve: Sequence[int] | None = None,
        acceleration: int = 1,
        account_opened: bool | None = None,
        split_blocks: bool = False,
        auto_press: bool = False,
        require_auth: bool = False,
        clock_offset: dt.timedelta = dt.timedelta(0),
        faults: Faults | None = None,
    ) -> None:
        self.address: str = _digits12("meter address", address)
        if self.address == addr.BROADCAST:
            raise ValueError("999999999999 is the broadcast address, not a meter's")
        if wallet not in WALLETS:
            raise ValueError(f"wallet must be one of {', '.join(WALLETS)}, got {wallet!r}")
        self.wallet: Wallet = wallet
        self.meter_number: str = _digits12("meter number", meter_number or self.address)
        self.customer_number: str = _digits12("customer number", customer_number)
        self.remaining: int = _check_range("remaining", remaining, MAX_BALANCE)
        self.overdraft: int = 0
        self.purchase_count: int = _check_range("purchase count", purchase_count, 0xFFFFFFFF)
        self.cumulative_purchased: int = 0
        self.price_e4: int = _check_range("price", price_e4, MAX_BALANCE)
        self.alarm1: int = _check_range("alarm amount 1", alarm1, MAX_BALANCE)
        self.alarm2: int = _check_range("alarm amount 2", alarm2, MAX_BALANCE)
        self.overdraft_limit: int = _check_range("overdraft limit", overdraft_limit, MAX_BALANCE)
        self.hoarding_limit: int = _check_range("hoarding limit", hoarding_limit, MAX_BALANCE)
        self.close_allowed: int = _check_range("close-allowed amount", close_allowed, MAX_BALANCE)
        self.password: Password = _password(password)
        self.load: LoadProfile = LoadProfile(
            load_w, tuple(load_curve) if load_curve is not None else None
        )
        self.acceleration: int = _check_range("acceleration", acceleration, 1_000_000, low=1)
        if account_opened is None:
            account_opened = wallet != "none" and (purchase_count > 0 or remaining > 0)
        self.account_opened: bool = bool(account_opened)
        self.split_blocks: bool = split_blocks
        self.auto_press: bool = auto_press
        self.require_auth: bool = require_auth
        self.clock_offset: dt.timedelta = clock_offset
        self.faults: Faults = faults if faults is not None else Faults()
        self.relay: Relay = Relay()
        self.baud: int | None = None  # set by 17H; None = the bus's rate
        self.energy_cwh: int = 0  # forward active total
        self.tariff_cwh: list[int] = [0, 0, 0, 0]  # forward active, tariffs 1..4
        self.reverse_cwh: int = 0
        self.ct_ratio: int = 1
        self.pt_ratio: int = 1
        self.auth_valid_until: dt.datetime | None = None
        self.last_freeze: dt.datetime | None = None
        self.frozen_cwh: int | None = None
        self.last_operator: str = "00000000"
        # The IC card slot (card_slot.py): the serial of the user card this meter accepts (0: none
        # yet) and how many cards of another meter, customer or card were refused.
        self.card_serial: int = 0
        self.illegal_inserts: int = 0
        self.esam_serial: bytes = bytes.fromhex(self.address.rjust(16, "0"))
        self.rng: random.Random = random.Random(int(self.address))
        self._carry_wus = 0  # energy towards the next 0.01 kWh
        self._carry_subfen = 0  # money towards the next fen, in 10**-4 fen
        self._follow: dict[int, list[bytes]] = {}  # pending 12H frames per DI

    def __repr__(self) -> str:
        return (
            f"VirtualMeter({self.address} {self.wallet} remaining={self.remaining} "
            f"overdraft={self.overdraft} count={self.purchase_count} "
            f"relay={'open' if self.relay.open else 'closed'})"
        )

    # --- readable state ---------------------------------------------------------------------

    @property
    def relay_open(self) -> bool:
        return self.relay.open

    @property
    def keep_power(self) -> bool:
        return self.relay.keep_power

    @property
    def enforcing(self) -> bool:
        """Does the meter run its own wallet (deduct, alarm, trip)? Only with an open account."""
        return self.wallet != "none" and self.account_opened

    @property
    def pretrip_alarm(self) -> bool:
        return self.enforcing and self.remaining <= self.alarm1

    @property
    def load_w(self) -> int:
        return self.load.base_w

    @load_w.setter
    def load_w(self, watts: int) -> None:
        self.load = LoadProfile(watts, self.load.curve_pct)

    def meter_time(self, now: dt.datetime) -> dt.datetime:
        return now + self.clock_offset

    def set_meter_time(self, moment: dt.datetime, now: dt.datetime) -> None:
        self.clock_offset = moment - now

    def auth_valid(self, now: dt.datetime) -> bool:
        until = self.auth_valid_until
        return until is not None and self.meter_time(now) <= until

    def power_w(self, now: dt.datetime) -> int:
        """The load drawn right now (0 with the relay open). Real watts, not accelerated."""
        if self.relay.open:
            return 0
        return self.load.power_w(self.meter_time(now).hour)

    # --- customer actions -------------------------------------------------------------------

    def press_button(self) -> bool:
        """The customer presses the meter's button. True when the relay closed."""
        return self.relay.press_button()

    def credit(self, amount: int) -> None:
        """Load a purchase (fen or 0.01 kWh): pay off the overdraft first, then the balance."""
        repay = min(self.overdraft, amount)
        self.overdraft -= repay
        self.remaining += amount - repay
        self.cumulative_purchased = (self.cumulative_purchased + amount) % REGISTER_WRAP
        if self.remaining > self.alarm2:
            self.relay.alarm2_used = False
        relay = self.relay
        if (
            relay.open
            and relay.reason in ("credit", "alarm2")
            and self.remaining > self.close_allowed
        ):
            relay.close()

    def clear(self) -> None:
        """Meter clear (1AH): energy and prepaid state back to new; parameters are kept."""
        self.energy_cwh = 0
        self.tariff_cwh = [0, 0, 0, 0]
        self.reverse_cwh = 0
        self._carry_wus = 0
        self._carry_subfen = 0
        self.remaining = 0
        self.overdraft = 0
        self.purchase_count = 0
        self.cumulative_purchased = 0
        self.customer_number = "000000000000"
        self.card_serial = 0
        self.account_opened = False
        self.auth_valid_until = None
        self.relay = Relay()
        self._follow.clear()

    # --- the wire protocol ------------------------------------------------------------------

    def handle(self, request: Frame, now: dt.datetime) -> Frame | None:
        """Answer one request frame; None when a real meter would stay silent."""
        if request.from_meter or self.faults.silent:
            return None  # other meters' replies pass by on a shared bus
        target = request.address
        fn = request.function
        if target == addr.BROADCAST:
            if fn == Function.BROADCAST_TIME:
                self._set_time(request, now)
            elif fn == Function.FREEZE:
                self._freeze(request, now)
            return None
        if target != self.address and not (
            "A" in target and fn in _WILDCARD_FUNCTIONS and addr.matches(target, self.address)
        ):
            return None
        handler = _HANDLERS.get(fn)
        if handler is None:
            return cmd.error_reply(request, self.address, ErrFlag.OTHER)
        return handler(self, request, now)

    def _err(self, request: Frame, err: ErrFlag) -> Frame:
        return cmd.error_reply(request, self.address, err)

    def _ok(self, request: Frame, data: bytes = b"", more: bool = False) -> Frame:
        return cmd.reply_to(request, self.address, data, more)

    def _password_ok(self, raw: bytes) -> bool:
        return len(raw) >= 4 and Password.from_wire(raw) == self.password

    def _set_time(self, request: Frame, now: dt.datetime) -> Frame | None:
        try:
            moment = cmd.parse_bcd_datetime(request.data)
        except ValueFormatError:
            return None  # a broadcast gets no reply, so a bad one is simply ignored
        if len(request.data) == 6:
            self.set_meter_time(moment, now)
        return None

    def _read(self, request: Frame, now: dt.datetime) -> Frame:
        if len(request.data) < 4:
            return self._err(request, ErrFlag.OTHER)
        di = di_from_wire(request.data)
        raw = registers.read_register(self, di, now)
        if raw is None:
            return self._err(request, ErrFlag.NO_SUCH_DATA)
        if self.split_blocks and di in SPLIT_DIS:
            step = BY_DI[di].length * VALUES_PER_FRAME
            parts = [raw[i : i + step] for i in range(0, len(raw), step)]
            # Follow-ups come from this snapshot, so a block stays consistent across frames.
            self._follow[di] = parts[1:]
            return self._ok(request, di_to_wire(di) + parts[0], more=len(parts) > 1)
        return self._ok(request, di_to_wire(di) + raw)

    def _read_follow(self, request: Frame, now: dt.datetime) -> Frame:
        if len(request.data) != 5:
            return self._err(request, ErrFlag.OTHER)
        di = di_from_wire(request.data)
        seq = request.data[4]
        parts = self._follow.get(di)
        if not parts or not 1 <= seq <= len(parts):
            return self._err(request, ErrFlag.NO_SUCH_DATA)
        data = di_to_wire(di) + parts[seq - 1] + bytes([seq])
        return self._ok(request, data, more=seq < len(parts))

    def _read_address(self, request: Frame, now: dt.datetime) -> Frame:
        return self._ok(request, addr.to_wire(self.address))

    def _write(self, request: Frame, now: dt.datetime) -> Frame:
        data = request.data
        if len(data) < 12:
            return self._err(request, ErrFlag.OTHER)
        if not self._password_ok(data[4:8]):
            return self._err(request, ErrFlag.UNAUTHORISED)
        di = di_from_wire(data)
        if di not in BY_DI:
            return self._err(request, ErrFlag.NO_SUCH_DATA)
        setter = registers.WRITERS.get(di)
        if setter is None:
            return self._err(request, ErrFlag.UNAUTHORISED)  # read-only data
        try:
            value = decode_value(BY_DI[di], data[12:])
            applied = setter(self, value, now)
        except (ValueFormatError, ValueError, TypeError):
            return self._err(request, ErrFlag.OTHER)
        if not applied:
            return self._err(request, ErrFlag.NO_SUCH_DATA)
        self.last_operator = cmd.operator_from_wire(data[8:12])
        return self._ok(request)

    def _write_address(self, request: Frame, now: dt.datetime) -> Frame:
        if request.address != addr.WILDCARD or len(request.data) != 6:
            return self._err(request, ErrFlag.OTHER)
        new = addr.from_wire(request.data)
        if not new.isdigit() or new == addr.BROADCAST:
            return self._err(request, ErrFlag.OTHER)
        self.address = new
        return self._ok(request)

    def _freeze(self, request: Frame, now: dt.datetime) -> Frame:
        if len(request.data) != 4:
            return self._err(request, ErrFlag.OTHER)
        # The freeze time pattern (mm hh DD MM, 99 = any) schedules periodic freezes on a real
        # meter; the simulator freezes once, now, which is what a commissioning test checks.
        self.last_freeze = self.meter_time(now).replace(microsecond=0)
        self.frozen_cwh = self.energy_cwh
        return self._ok(request)

    def _change_baud(self, request: Frame, now: dt.datetime) -> Frame:
        if len(request.data) != 1 or request.data[0] not in BAUD_BY_BIT:
            return self._err(request, ErrFlag.BAUD_NOT_CHANGEABLE)
        self.baud = BAUD_BY_BIT[request.data[0]]  # the reply still goes out at the old rate
        return self._ok(request, request.data)

    def _change_password(self, request: Frame, now: dt.datetime) -> Frame:
        data = request.data
        if len(data) != 12 or not self._password_ok(data[4:8]):
            return self._err(request, ErrFlag.UNAUTHORISED)
        try:
            new = _password(Password.from_wire(data[8:12]))
        except ValueError:
            return self._err(request, ErrFlag.OTHER)
        self.password = new
        return self._ok(request, data[8:12])

    def _password_only(self, request: Frame, now: dt.datetime) -> Frame:
        """19H demand clear and 1BH event clear: nothing of either is modelled."""
        if not self._password_ok(request.data[:4]):
            return self._err(request, ErrFlag.UNAUTHORISED)
        return self._ok(request)

    def _meter_clear(self, request: Frame, now: dt.datetime) -> Frame:
        if len(request.data) < 8 or not self._password_ok(request.data[:4]):
            return self._err(request, ErrFlag.UNAUTHORISED)
        if not self.account_opened:
            # The seed's manual: RS485 reset-and-clear works only on meters with an open account.
            return self._err(request, ErrFlag.OTHER)
        self.last_operator = cmd.operator_from_wire(request.data[4:8])
        self.clear()
        return self._ok(request)

    def _relay(self, request: Frame, now: dt.datetime) -> Frame:
        data = request.data
        if len(data) == 28 and data[0] == _LEVEL_98:
            # Level 98: the simulator's ESAM uses a null cipher (the "ciphertext" is N1..N8
            # padded to 16 bytes) and accepts any MAC.
            body = data[8:16]
        elif len(data) == 16:
            if self.password.level == _LEVEL_98 or not self._password_ok(data[:4]):
                return self._err(request, ErrFlag.UNAUTHORISED)
            body = data[8:16]
        else:
            return self._err(request, ErrFlag.OTHER)
        try:
            action = RelayAction(body[0])
            valid_until = cmd.parse_bcd_datetime(body[2:8])
        except (ValueError, ValueFormatError):
            return self._err(request, ErrFlag.OTHER)
        if self.meter_time(now) > valid_until:
            return self._err(request, ErrFlag.UNAUTHORISED)  # the command's validity has passed
        relay = self.relay
        if action == RelayAction.TRIP:
            if relay.keep_power:
                return self._err(request, ErrFlag.OTHER)
            relay.trip("remote")
        elif action == RelayAction.CLOSE_ALLOWED:
            relay.allow_close()
        elif action == RelayAction.CLOSE_DIRECT:
            relay.close()
        elif action in (RelayAction.ALARM_ON, RelayAction.ALARM_OFF):
            relay.remote_alarm = action == RelayAction.ALARM_ON
        elif action == RelayAction.KEEP_POWER_ON:
            relay.keep_power = True
            if relay.open:
                relay.close()  # keep-power restores supply at once
        else:
            relay.keep_power = False
        self.last_operator = cmd.operator_from_wire(data[4:8])
        return self._ok(request)

    def _security(self, request: Frame, now: dt.datetime) -> Frame:
        return handle_security(self, request, now)

    # --- consumption ------------------------------------------------------------------------

    def advance(self, elapsed: dt.timedelta, now: dt.datetime) -> None:
        """Run the load for ``elapsed`` (host time) ending at ``now``, times ``acceleration``.

        Energy goes to the tariff of each hour of the meter clock; alarm 2, exhaustion and
        overdraft trips happen at the exact register step where they are due, however long
        ``elapsed`` is, so advancing in one step or many gives the same registers and money.
        """
        if self.auto_press:
            self.relay.press_button()
        left = elapsed // _US
        t = self.meter_time(now) - elapsed
        while left > 0:
            hour_end = t.replace(minute=0, second=0, microsecond=0) + _HOUR
            step = min(left, (hour_end - t) // _US)
            self._consume(step, t.hour)
            t += step * _US
            left -= step
        self._enforce()

    def _consume(self, duration_us: int, hour: int) -> None:
        tariff = tariff_for_hour(hour)
        while duration_us > 0:
            self._enforce()
            if self.relay.open:
                return  # the relay cuts the load
            power = self.load.power_w(hour) * self.acceleration
            if power <= 0:
                return
            ticks, carry = accrue(power, duration_us, self._carry_wus)
            due = self._ticks_until_event()
            if due is None or due == 0 or ticks < due:
                self._carry_wus = carry
                self._add_ticks(ticks, tariff)
                return
            used = duration_for_ticks(due, power, self._carry_wus)
            self._carry_wus += power * used - due * TICK_WUS
            self._add_ticks(due, tariff)
            duration_us -= used

    def _add_ticks(self, ticks: int, tariff: int) -> None:
        if ticks <= 0:
            return
        self.energy_cwh = (self.energy_cwh + ticks) % REGISTER_WRAP
        self.tariff_cwh[tariff - 1] = (self.tariff_cwh[tariff - 1] + ticks) % REGISTER_WRAP
        if not self.enforcing:
            return
        if self.wallet == "energy":
            self._deduct(ticks)
        else:
            fen, self._carry_subfen = cost(ticks, self.price_e4, self._carry_subfen)
            self._deduct(fen)

    def _deduct(self, units: int) -> None:
        if units <= self.remaining:
            self.remaining -= units
            return
        self.overdraft = min(MAX_BALANCE, self.overdraft + units - self.remaining)
        self.remaining = 0

    def _ticks_until_event(self) -> int | None:
        """Register steps until alarm 2 or exhaustion is reached; None when nothing can trip."""
        if not self.enforcing or self.relay.keep_power:
            return None
        units = self.remaining + max(0, self.overdraft_limit - self.overdraft)
        if self.alarm2 > 0 and not self.relay.alarm2_used and self.remaining > self.alarm2:
            units = min(units, self.remaining - self.alarm2)
        if self.wallet == "energy":
            return units
        return ticks_for_cost(units, self.price_e4, self._carry_subfen)

    def _enforce(self) -> None:
        relay = self.relay
        if not self.enforcing or relay.keep_power or relay.open:
            return
        if self.remaining == 0 and self.overdraft >= self.overdraft_limit:
            relay.trip("credit")
        elif self.alarm2 > 0 and self.remaining <= self.alarm2 and not relay.alarm2_used:
            relay.trip("alarm2")
            relay.alarm2_used = True

    # --- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "wallet": self.wallet,
            "meter_number": self.meter_number,
            "customer_number": self.customer_number,
            "remaining": self.remaining,
            "overdraft": self.overdraft,
            "purchase_count": self.purchase_count,
            "cumulative_purchased": self.cumulative_purchased,
            "price_e4": self.price_e4,
            "alarm1": self.alarm1,
            "alarm2": self.alarm2,
            "overdraft_limit": self.overdraft_limit,
            "hoarding_limit": self.hoarding_limit,
            "close_allowed": self.close_allowed,
            "password": {"level": self.password.level, "code": self.password.code},
            "load": self.load.to_dict(),
            "acceleration": self.acceleration,
            "account_opened": self.account_opened,
            "split_blocks": self.split_blocks,
            "auto_press": self.auto_press,
            "require_auth": self.require_auth,
            "clock_offset_us": self.clock_offset // _US,
            "baud": self.baud,
            "energy_cwh": self.energy_cwh,
            "tariff_cwh": list(self.tariff_cwh),
            "reverse_cwh": self.reverse_cwh,
            "carry_wus": self._carry_wus,
            "carry_subfen": self._carry_subfen,
            "ct_ratio": self.ct_ratio,
            "pt_ratio": self.pt_ratio,
            "relay": self.relay.to_dict(),
            "auth_valid_until": _iso(self.auth_valid_until),
            "last_freeze": _iso(self.last_freeze),
            "frozen_cwh": self.frozen_cwh,
            "faults": self.faults.to_dict(),
            "card_serial": self.card_serial,
            "illegal_inserts": self.illegal_inserts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VirtualMeter:
        """Rebuild a meter saved by ``to_dict``; ValueError names the bad key."""
        key = "address"
        try:
            key = "password"
            pw = data["password"]
            password = Password(int(pw["level"]), str(pw["code"]))
            key = "load"
            load = LoadProfile.from_dict(data["load"])
            key = "faults"
            faults = Faults.from_dict(data.get("faults", {}))
            key = "meter"
            meter = cls(
                str(data["address"]),
                wallet=cast(Wallet, data["wallet"]),
                meter_number=str(data["meter_number"]),
                customer_number=str(data["customer_number"]),
                remaining=data["remaining"],
                purchase_count=data["purchase_count"],
                price_e4=data["price_e4"],
                alarm1=data["alarm1"],
                alarm2=data["alarm2"],
                overdraft_limit=data["overdraft_limit"],
                hoarding_limit=data["hoarding_limit"],
                close_allowed=data["close_allowed"],
                password=password,
                load_w=load.base_w,
                load_curve=load.curve_pct,
                acceleration=data["acceleration"],
                account_opened=bool(data["account_opened"]),
                split_blocks=bool(data["split_blocks"]),
                auto_press=bool(data["auto_press"]),
                require_auth=bool(data["require_auth"]),
                clock_offset=_check_range(
                    "clock_offset_us", data["clock_offset_us"], 10**15, -(10**15)
                )
                * _US,
                faults=faults,
            )
            for key in (
                "overdraft",
                "cumulative_purchased",
                "energy_cwh",
                "reverse_cwh",
                "frozen_cwh",
            ):
                if data.get(key) is not None:
                    setattr(meter, key, _check_range(key, data[key], MAX_BALANCE))
            key = "tariff_cwh"
            meter.tariff_cwh = _tariffs(data[key])
            key = "carry_wus"
            meter._carry_wus = _check_range(key, data[key], TICK_WUS - 1)
            key = "carry_subfen"
            meter._carry_subfen = _check_range(key, data[key], 9_999)
            key = "baud"
            if data.get(key) is not None:
                meter.baud = _check_range(key, data[key], 115_200, low=300)
            for key in ("ct_ratio", "pt_ratio"):
                setattr(meter, key, _check_range(key, data.get(key, 1), 999_999, low=1))
            key = "card_serial"  # absent from files saved before the card slot existed
            meter.card_serial = _check_range(key, data.get(key, 0), 2**64 - 1)
            key = "illegal_inserts"
            meter.illegal_inserts = _check_range(key, data.get(key, 0), 0xFF)
            key = "relay"
            meter.relay = Relay.from_dict(data[key])
            key = "auth_valid_until"
            meter.auth_valid_until = _from_iso(data.get(key))
            key = "last_freeze"
            meter.last_freeze = _from_iso(data.get(key))
        except KeyError as exc:
            raise ValueError(f"meter state lacks key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"meter state key {key!r}: {exc}") from None
        return meter


def _tariffs(values: Sequence[int]) -> list[int]:
    tariffs = [_check_range("tariff register", x, MAX_BALANCE) for x in values]
    if len(tariffs) != 4:
        raise ValueError("four tariff registers expected")
    return tariffs


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _from_iso(text: object) -> dt.datetime | None:
    if text is None:
        return None
    return dt.datetime.fromisoformat(str(text))


_HANDLERS: dict[int, Handler] = {
    Function.READ: VirtualMeter._read,
    Function.READ_FOLLOW: VirtualMeter._read_follow,
    Function.READ_ADDRESS: VirtualMeter._read_address,
    Function.BROADCAST_TIME: VirtualMeter._set_time,
    Function.WRITE: VirtualMeter._write,
    Function.WRITE_ADDRESS: VirtualMeter._write_address,
    Function.FREEZE: VirtualMeter._freeze,
    Function.CHANGE_BAUD: VirtualMeter._change_baud,
    Function.CHANGE_PASSWORD: VirtualMeter._change_password,
    Function.DEMAND_CLEAR: VirtualMeter._password_only,
    Function.METER_CLEAR: VirtualMeter._meter_clear,
    Function.EVENT_CLEAR: VirtualMeter._password_only,
    Function.RELAY: VirtualMeter._relay,
    Function.SECURITY: VirtualMeter._security,
}
