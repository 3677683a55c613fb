"""Commands from the cloud master station, carried out through the same services as the web UI.

The sync layer has already checked schema, signature, replay window and the allowed list; here
a command becomes a use case. A vend's idempotency key is the command id, so a command delivered
twice (QoS 1, a cloud retry) credits once and both results say the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from gateway.billing import tariff_from_json_dict
from gateway.billing.errors import BillingError
from gateway.services import Services
from gateway.services.actor import cloud_actor
from gateway.services.errors import ServiceError
from gateway.store import customers, meters, oplog, tariffs
from gateway.store.conn import Conn
from gateway.store.customers import CustomerSpec
from gateway.store.errors import StoreError
from gateway.sync.commands import CommandRefused
from gateway.sync.errors import ErrorInfo


def _refusal(exc: ServiceError | StoreError | BillingError) -> CommandRefused:
    if isinstance(exc, ServiceError):
        info = ErrorInfo(exc.code, exc.summary_en, exc.summary_zh, exc.remedy_en, exc.remedy_zh)
        return CommandRefused(info, exc.detail)
    code = getattr(exc, "code", "E300")
    info = ErrorInfo(
        code,
        getattr(exc, "summary_en", str(exc)),
        getattr(exc, "summary_zh", str(exc)),
        getattr(exc, "remedy_en", "Check the command's arguments."),
        getattr(exc, "remedy_zh", "请检查命令参数。"),
    )
    return CommandRefused(info, str(exc))


class CloudCommands:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle(self, name: str, command: Mapping[str, object]) -> Mapping[str, object]:
        args = command.get("args")
        args = dict(args) if isinstance(args, Mapping) else {}
        command_id = str(command.get("id", ""))
        actor = cloud_actor(f"cloud:{args.get('operator', 'master')}")
        try:
            if name == "vend":
                return await self._vend(actor, args, command_id)
            if name == "relay":
                return await self._relay(actor, args)
            if name == "read_now":
                return await self._read_now(actor, args)
            if name == "tariff_update":
                return await self._tariff_update(args, command_id)
            if name == "customer_upsert":
                return await self._customer_upsert(actor, args)
            if name == "keep_power":
                return await self._keep_power(actor, args)
        except (ServiceError, StoreError, BillingError) as exc:
            raise _refusal(exc) from exc
        raise _refusal(ServiceError("E502", f"unknown command {name}"))

    async def _vend(self, actor: Any, args: dict[str, Any], command_id: str) -> dict[str, object]:
        account_id = int(args["account_id"])
        result = await self.services.daily_purchase(
            actor, account_id, int(args["amount_fen"]), f"cmd:{command_id}", command_id=command_id
        )
        return result.to_json()

    async def _meter_id(self, address: str) -> int:
        meter = await self.services.db.read(meters.by_address, address)
        if meter is None:
            raise ServiceError("E502", f"no meter {address}", field="meter")
        return meter.id

    async def _relay(self, actor: Any, args: dict[str, Any]) -> dict[str, object]:
        meter_id = await self._meter_id(str(args["meter"]))
        on = str(args["action"]) in ("close", "on")
        state = await self.services.meter_ops.force_power(actor, meter_id, on=on, source="cloud")
        return {"meter": args["meter"], "action": args["action"], "state": state}

    async def _read_now(self, actor: Any, args: dict[str, Any]) -> dict[str, object]:
        readings = []
        for address in args.get("meters", []):
            meter_id = await self._meter_id(str(address))
            params = await self.services.meter_ops.read_parameters(actor, meter_id)
            readings.append(params.to_json())
        return {"readings": readings}

    async def _tariff_update(self, args: dict[str, Any], command_id: str) -> dict[str, object]:
        """An effective-dated version of a price type; sales keep the version they were priced
        with, so a version arriving after offline sales changes none of them."""
        tariff = dict(args["tariff"])
        tariff_from_json_dict(tariff)  # refuse an invalid tariff before storing anything
        effective = dt.datetime.fromisoformat(str(args["effective_from"]))
        if effective.tzinfo is None:
            effective = self.services.clock.from_local(effective)
        name = str(args["tariff_id"])

        def write(c: Conn) -> int:
            found = next((t for t in tariffs.list_types(c) if t.name == name), None)
            type_id = found.id if found else tariffs.create_type(c, name, "from the cloud").id
            version = tariffs.add_version(
                c, type_id, tariff, effective, source="cloud", cloud_ref=f"{name}:{args['version']}"
            )
            oplog.append(c, "tariff.cloud_update", target=f"price_type:{type_id}",
                         detail={"version": version.id, "command": command_id})  # fmt: skip
            return version.id

        version_id = await self.services.db.write(write)
        return {"tariff_id": name, "version_id": version_id}

    async def _customer_upsert(self, actor: Any, args: dict[str, Any]) -> dict[str, object]:
        number = str(args["customer_id"])
        existing = await self.services.db.read(customers.customer_by_number, number)
        spec = CustomerSpec(
            number=number,
            name=str(args.get("name") or (existing.name if existing else number)),
            phone=str(args.get("phone", existing.phone if existing else "")),
            address=str(args.get("address", existing.address if existing else "")),
            id_number=str(args.get("id_number", existing.id_number if existing else "")),
            note=str(args.get("remarks", existing.note if existing else "")),
        )
        meter_id = price_type_id = None
        if args.get("meter"):
            meter_id = await self._meter_id(str(args["meter"]))
            price_type_id = int(args["tariff_id"]) if args.get("tariff_id") else None
        saved = await self.services.customers.save(
            actor, spec, customer_id=existing.id if existing else None, meter_id=meter_id,
            price_type_id=price_type_id,
        )  # fmt: skip
        return {
            "customer_id": number,
            "account_id": saved.account.id if saved.account else None,
        }

    async def _keep_power(self, actor: Any, args: dict[str, Any]) -> dict[str, object]:
        meter_id = await self._meter_id(str(args["meter"]))
        enabled = bool(args["enabled"])
        account = await self.services.db.read(customers.open_account_for_meter, meter_id)
        if account is not None:
            await self.services.db.write(customers.update_account, account.id, keep_power=enabled)
        if enabled:
            await self.services.meter_ops.force_power(actor, meter_id, on=True, source="cloud")
        return {"meter": args["meter"], "keep_power": enabled}
