"""From a meter in the database to a driver on the right bus with the right profile.

The meter type (F5.6, edited in the UI) is the source of truth for how to talk to a meter;
``driver_profile`` maps it onto the driver's profile. Driver-only settings that the type form
does not show (block reads, wallet query style, purchase-count length, relay window) live in
the type profile's ``extra`` table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal, Protocol

from gateway.link.registry import Buses
from gateway.meters.driver import MeterDriver
from gateway.meters.mac import DummyMac, MacProvider
from gateway.meters.profile import MeterProfile as DriverProfile
from gateway.store.meters import Meter
from gateway.store.metertypes import MeterType

_MAC_NAMES = {
    "none": "dummy",
    "software": "software_key",
    "encryption_machine": "encryption_machine",
}
_EXTRA_KEYS = (
    "supports_block_reads",
    "wallet_query",
    "purchase_count_length",
    "relay_valid_minutes",
)


def driver_profile(meter_type: MeterType) -> DriverProfile:
    p = meter_type.profile
    extra: dict[str, Any] = {k: p.extra[k] for k in _EXTRA_KEYS if k in p.extra}
    wallet: Literal["money", "energy", "none"] = "none"
    if str(meter_type.wallet_model) == "meter":
        wallet = "energy" if str(meter_type.value_kind) == "energy" else "money"
    return DriverProfile(
        name=meter_type.name,
        password_level=f"{p.password_level:02d}",
        password=p.password.upper(),
        operator=p.operator_code.upper(),
        relay_form="level98" if p.relay_form == "level98" else "plaintext",
        security_layout="bcd" if p.recharge_layout == "bcd" else "binary",
        mac_provider=_MAC_NAMES.get(p.mac_provider, p.mac_provider),
        wallet=wallet,
        **extra,
    )


class MeterAccess(Protocol):
    """How services reach a meter. Tests and the demo use buses served by the simulator."""

    def driver(self, meter: Meter, meter_type: MeterType) -> MeterDriver: ...


class BusMeterAccess:
    """Drivers on the gateway's configured buses; one MAC provider per profile name."""

    def __init__(
        self,
        buses: Buses,
        *,
        macs: dict[str, MacProvider] | None = None,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.buses = buses
        self._macs = macs or {}
        self._clock = clock

    def driver(self, meter: Meter, meter_type: MeterType) -> MeterDriver:
        profile = driver_profile(meter_type)
        bus = self.buses.for_meter(meter.address, meter.bus)
        mac = self._macs.get(profile.mac_provider, DummyMac())
        return MeterDriver(bus, meter.address, profile=profile, mac=mac, clock=self._clock)
