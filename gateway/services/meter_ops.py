"""Meter operations of the manual over RS485/DTU: read parameters (F3.2, F7.3), force power
on/off (F2.5, F2.6, F7.4), reset and clear (F2.7, F7.1), read the address (F2.1)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gateway.dlt645.commands import RelayAction
from gateway.dlt645.dataids import format_value
from gateway.dlt645.values import Quantity
from gateway.link.errors import LinkError
from gateway.meters.errors import MeterDriverError, MeterRefusedError, ReadbackMismatchError
from gateway.services.actor import Actor
from gateway.services.errors import ServiceError
from gateway.services.meter_access import MeterAccess
from gateway.services.vending import Vending
from gateway.store import meters, metertypes, network, oplog
from gateway.store.conn import Conn
from gateway.store.database import Database
from gateway.store.meters import Meter
from gateway.store.metertypes import MeterType
from gateway.sync.outbox import add_event

log = logging.getLogger(__name__)

# What 【读参数（通讯）】 shows, by DI name, in the order of the page.
PARAMETERS = (
    "forward_active_total",
    "remaining_money",
    "overdraft_money",
    "purchase_count",
    "cumulative_purchased_money",
    "customer_number",
    "alarm_money_1",
    "alarm_money_2",
    "status_word_3",
)
ENERGY_PARAMETERS = ("forward_active_total", "remaining_energy", "overdraft_energy",
                     "purchase_count", "customer_number", "status_word_3")  # fmt: skip


@dataclass(frozen=True)
class MeterParameters:
    address: str
    values: dict[str, str]  # DI name → exact text (decimals, digits)
    relay: str
    errors: dict[str, str]  # DI name → why it could not be read
    scaled: dict[str, int]  # numeric registers in their smallest unit (fen, 0.01 kWh, count)
    relay_open: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MeterOps:
    def __init__(self, db: Database, meters_access: MeterAccess, vending: Vending) -> None:
        self.db = db
        self.access = meters_access
        self.vending = vending

    async def _meter(self, meter_id: int) -> tuple[Meter, MeterType]:
        meter = await self.db.read(meters.get, meter_id)
        return meter, await self.db.read(metertypes.get, meter.type_id)

    async def read_parameters(self, actor: Actor, meter_id: int) -> MeterParameters:
        """【读参数（通讯）】: the meter's own registers, each read separately so one
        unsupported register does not hide the others."""
        actor.require("cards.read")
        meter, meter_type = await self._meter(meter_id)
        driver = self.access.driver(meter, meter_type)
        names = ENERGY_PARAMETERS if str(meter_type.value_kind) == "energy" else PARAMETERS
        values: dict[str, str] = {}
        scaled: dict[str, int] = {}
        errors: dict[str, str] = {}
        relay = ""
        relay_open: bool | None = None
        async with self.vending.lock(meter.id):
            for name in names:
                try:
                    value = await driver.read(name)
                    values[name] = format_value(value)
                    if isinstance(value, Quantity):
                        scaled[name] = value.scaled
                    elif isinstance(value, int):
                        scaled[name] = value
                except (LinkError, MeterDriverError) as exc:
                    errors[name] = f"{getattr(exc, 'code', 'E')} {exc}"
                    if isinstance(exc, LinkError):
                        break  # the meter is not answering at all: stop asking
            if "status_word_3" in values:
                try:
                    state = await driver.relay_state()
                    relay, relay_open = state.describe(), state.relay_open
                except (LinkError, MeterDriverError) as exc:
                    errors["relay"] = str(exc)
        if not values:
            raise ServiceError("E507", next(iter(errors.values()), "no answer"))
        return MeterParameters(meter.address, values, relay, errors, scaled, relay_open)

    async def verify_address(self, actor: Actor, meter_id: int) -> bool:
        """【读表地址】: does a meter answer at this address?"""
        actor.require("customers.manage")
        meter, meter_type = await self._meter(meter_id)
        driver = self.access.driver(meter, meter_type)
        try:
            return await driver.verify_address()
        except (LinkError, MeterDriverError) as exc:
            raise ServiceError("E507", str(exc)) from exc

    async def force_power(
        self, actor: Actor, meter_id: int, *, on: bool, source: str = "operator"
    ) -> str:
        """【强制用电】 (close) / 【强制停电】 (trip), with status word 3 read back."""
        actor.require("relay.control")
        meter, meter_type = await self._meter(meter_id)
        driver = self.access.driver(meter, meter_type)
        action = RelayAction.CLOSE_DIRECT if on else RelayAction.TRIP
        ok, detail = True, ""
        try:
            async with self.vending.lock(meter.id):
                result = await driver.relay(action)
            detail = result.state.describe()
        except (MeterRefusedError, ReadbackMismatchError) as exc:
            ok, detail = False, str(exc)
        except (LinkError, MeterDriverError) as exc:
            await self._log_relay(actor, meter, on, ok=False, detail=str(exc), source=source)
            raise ServiceError("E507", str(exc)) from exc
        await self._log_relay(actor, meter, on, ok=ok, detail=detail, source=source)
        if not ok:
            raise ServiceError("E511", detail)
        return detail

    async def _log_relay(
        self, actor: Actor, meter: Meter, on: bool, *, ok: bool, detail: str, source: str
    ) -> None:
        def write(c: Conn) -> None:
            oplog.append(
                c,
                "relay.force_on" if on else "relay.force_off",
                operator_id=actor.operator_id,
                operator_name=actor.name,
                target=f"meter:{meter.address}",
                detail={"state": detail},
                result="ok" if ok else "error",
                error_code=None if ok else "E511",
            )
            add_event(
                c,
                "relay",
                {"meter": meter.address, "action": "close" if on else "open", "ok": ok,
                 "source": source if source in ("operator", "cloud") else "operator",
                 "reason": detail[:200], "operator": actor.name},
                c.now(),
            )  # fmt: skip

        await self.db.write(write)

    async def reset_and_clear(self, actor: Actor, meter_id: int) -> None:
        """【复位清零】 / 【复位（RS485）】: the meter clears its prepaid state (1AH).

        As the manual says, only over RS485 (not through a remote module) and only for meters
        that were opened; anything else needs the super-reset card (E003).
        """
        actor.require("meters.reset")
        meter, meter_type = await self._meter(meter_id)
        if meter.box_id is not None:
            box = await self.db.read(network.get_box, meter.box_id)
            if str(box.comm_mode) == "remote":
                raise ServiceError("E003", "reset over a remote module is not allowed")
        driver = self.access.driver(meter, meter_type)
        try:
            async with self.vending.lock(meter.id):
                await driver.meter_clear()
        except MeterRefusedError as exc:
            await self._log(actor, "meter.reset", meter, ok=False, detail=str(exc))
            raise ServiceError("E003", str(exc)) from exc
        except (LinkError, MeterDriverError) as exc:
            raise ServiceError("E507", str(exc)) from exc
        await self._log(actor, "meter.reset", meter, ok=True, detail="cleared")

    async def _log(self, actor: Actor, action: str, meter: Meter, *, ok: bool, detail: str) -> None:
        def write(c: Conn) -> None:
            oplog.append(
                c,
                action,
                operator_id=actor.operator_id,
                operator_name=actor.name,
                target=f"meter:{meter.address}",
                detail={"detail": detail},
                result="ok" if ok else "error",
            )

        await self.db.write(write)
