"""The meters the poller reads, as loaded from the store in one snapshot.

Installed meters whose box names a bus, or that sit behind a configured DTU (the route is
decided by ``Buses.for_meter`` through the driver factory). Each comes with its type, its read
plan and the open account on it, if any.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.reading.config import ReadingConfig
from gateway.reading.plan import MeterKind, ReadPlan, plan_for
from gateway.store import customers, metertypes
from gateway.store.conn import Conn
from gateway.store.meters import Meter, MeterFilter, MeterState, search
from gateway.store.metertypes import MeterType
from gateway.store.paging import MAX_LIMIT, PageRequest
from gateway.typedconfig import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BalanceLimits:
    """Account thresholds in fen (meter-wallet alarms compare the meter's remaining money)."""

    alarm1_fen: int
    alarm2_fen: int


@dataclass(frozen=True, slots=True)
class MeterInfo:
    meter: Meter
    meter_type: MeterType
    plan: ReadPlan
    account_id: int | None = None
    limits: BalanceLimits | None = None

    @property
    def meter_id(self) -> int:
        return self.meter.id

    @property
    def address(self) -> str:
        return self.meter.address

    @property
    def wallet_model(self) -> str:
        return str(self.meter_type.wallet_model)

    @property
    def value_kind(self) -> str:
        return str(self.meter_type.value_kind)


def _limits(account: customers.Account | None, meter_type: MeterType) -> BalanceLimits | None:
    if account is None:
        return None
    alarm1 = account.limits.alarm1_fen
    if alarm1 is None:
        alarm1 = meter_type.profile.alarm1_fen
    alarm2 = account.limits.alarm2_fen
    if alarm2 is None:
        alarm2 = meter_type.profile.alarm2_fen
    if alarm1 is None or alarm2 is None:
        return None
    return BalanceLimits(alarm1, alarm2)


def load_targets(c: Conn, config: ReadingConfig) -> list[MeterInfo]:
    """Every installed meter with its plan (a type whose plan is bad is skipped, logged)."""
    types = {t.id: t for t in metertypes.list_all(c)}
    plans: dict[int, ReadPlan | None] = {}
    open_accounts = {a.meter_id: a for a in customers.open_accounts(c)}
    found: list[MeterInfo] = []
    offset = 0
    while True:
        page = search(c, MeterFilter(state=MeterState.INSTALLED), PageRequest(offset, MAX_LIMIT))
        for meter in page.items:
            meter_type = types[meter.type_id]
            if meter_type.id not in plans:
                plans[meter_type.id] = _plan(meter_type, config)
            plan = plans[meter_type.id]
            if plan is None:
                continue
            account = open_accounts.get(meter.id)
            found.append(
                MeterInfo(
                    meter,
                    meter_type,
                    plan,
                    account.id if account is not None else None,
                    _limits(account, meter_type),
                )
            )
        if not page.has_more:
            return found
        offset += page.limit


def _plan(meter_type: MeterType, config: ReadingConfig) -> ReadPlan | None:
    extra = meter_type.profile.extra
    kind = MeterKind(
        wallet_model=str(meter_type.wallet_model),
        value_kind=str(meter_type.value_kind),
        block_reads=bool(extra.get("supports_block_reads", True)),
        profile_extra=extra,
    )
    try:
        return plan_for(kind, config)
    except ConfigError as exc:
        log.warning(
            "meter type %s: its reading plan is invalid, its meters are not read: %s",
            meter_type.name,
            exc,
        )
        return None
