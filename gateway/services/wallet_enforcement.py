"""Gateway-wallet enforcement (远程费控): each energy reading debits the account by tariff,
raises the balance alarms, and trips or recloses the relay.

Runs as a step of the poll batch transaction (``WalletEnforcer`` is a ``BatchStep``), so the
reading, the debit, the alarms and their outbox events commit together; relay commands go out
after the commit (they need the bus) and record their outcome in a second transaction. A crash
in between loses nothing: the decision is made again from the persisted state at the next
reading.

Per reading of an open gateway-wallet account:

1. ``billing.consumption.debit`` charges the energy since the baseline by the tariff versions
   of the account's price type (tiers, time of use, version changes; a counter reset, a meter
   change or an implausible jump is reported and not charged). The baseline is
   ``store.readings.WalletState``.
2. ``billing.enforcement.apply_charge``: inside a friendly-credit window (or on a holiday) the
   part that would take the balance below the trip floor becomes friendly-credit debt.
3. ``billing.enforcement.decide``: alarm level and relay command (trip at the floor, the one
   alarm-2 warning trip, close after the balance is restored), withheld under keep-power or in
   a friendly-credit window.

Ledger rows (append-only): the charge is held as *pending* in the wallet state and posted as a
``consumption_debit`` row (with a ``friendly_debt`` row for the debt part) when the site-local
day changes, when the alarm level changes, before any relay action, when the tariff version
changes, and on ``settle`` (call it before a refund or a purchase books money). One row per
account per day instead of one per reading (a ledger row is about 540 bytes with its chain,
snapshot and indexes) keeps the ledger at about 400 MB a year for 2,000 accounts rather than
38 GB. ``post = "every_reading"`` writes a row per reading instead.

Friendly-credit debt is recovered from the next purchase: ``recover_friendly_debt`` in the
purchase transaction, or, for a sale booked without it, at the next reading (a
``friendly_recovery`` row referring to the sale's vend).

The reclose after a purchase is the purchase's *reclose* vend (``services.gateway_wallet``);
a reclose confirmed there is taken into the wallet state at the next reading. Should one stay
unfinished, ``decide`` closes the relay at the next reading anyway (balance above the
close-allowed amount), under the same per-meter lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from gateway.billing import (
    AccountState,
    Alarm,
    AnomalyKind,
    BillingError,
    Debit,
    EnforcementSettings,
    FriendlyCredit,
    FriendlyWindow,
    MeteringLimits,
    Reading,
    RelayCommand,
    Tariff,
    apply_charge,
    debit,
    decide,
    start_baseline,
    tariff_from_json_dict,
)
from gateway.billing.consumption import ConsumptionState
from gateway.billing.tariff import with_version
from gateway.dlt645 import dataids as ids
from gateway.dlt645.commands import RelayAction
from gateway.link.errors import LinkError
from gateway.link.priority import Priority
from gateway.meters.driver import MeterDriver
from gateway.reading import alarm_book, relay_control
from gateway.reading.alarm_book import AlarmChange, Subject
from gateway.reading.config import EnforcementConfig, parse_hhmm
from gateway.reading.monitor import Condition
from gateway.reading.recorder import FollowUp, StepOutcome
from gateway.reading.relay_control import RelayOutcome
from gateway.reading.results import PollResult
from gateway.reading.targets import MeterInfo
from gateway.siteclock import SiteClock
from gateway.store import customers, ledger, oplog, readings, tariffs
from gateway.store.clock import from_text
from gateway.store.conn import Conn
from gateway.store.customers import Account
from gateway.store.database import Database
from gateway.store.ledger import LedgerKind, NewEntry
from gateway.store.metertypes import MeterType
from gateway.store.readings import WalletState
from gateway.sync.outbox import add_event

log = logging.getLogger(__name__)

DriverFactory = Callable[[MeterInfo], MeterDriver]
MeterLock = Callable[[int], AbstractAsyncContextManager[None]]
_LEVELS_WITH_ALARM = {Alarm.ALARM1: "alarm1", Alarm.ALARM2: "alarm2"}


# ---- what the purchase and refund services call -------------------------------------------


@dataclass(frozen=True, slots=True)
class WalletPosition:
    """An account's money as enforcement sees it (fen). ``net`` = balance - debts."""

    account_id: int
    balance_fen: int  # ledger balance less the consumption not yet posted
    friendly_debt_fen: int
    emergency_owed_fen: int
    pending_fen: int  # consumption charged, not yet a ledger row
    relay_open: bool  # the gateway tripped the relay and has not closed it

    @property
    def net_fen(self) -> int:
        return self.balance_fen - self.friendly_debt_fen - self.emergency_owed_fen


def position(c: Conn, account_id: int) -> WalletPosition:
    """The live position (read-only: nothing is posted)."""
    ws = readings.get_wallet_state(c, account_id)
    posted = ledger.balance(c, account_id).balance_fen
    if ws is None:
        friendly, emergency = _debts_since(c, account_id, 0)
        return WalletPosition(account_id, posted, friendly, emergency, 0, False)
    friendly, emergency = _debts_since(c, account_id, ws.debts_seen_id)
    return WalletPosition(
        account_id,
        posted - ws.pending_fen + ws.pending_debt_fen,
        ws.friendly_debt_fen + friendly + ws.pending_debt_fen,
        ws.emergency_owed_fen + emergency,
        ws.pending_fen,
        ws.relay_open,
    )


def settle(c: Conn, account_id: int, reason: str = "settled") -> WalletPosition:
    """Post the pending consumption as ledger rows now, in the caller's transaction.

    Call it first in a gateway-wallet purchase or refund transaction, so the ledger balance is
    the live one before money is booked against it.
    """
    ws = readings.get_wallet_state(c, account_id)
    if ws is not None and (ws.pending_fen or ws.pending_cwh or ws.pending_debt_fen):
        account = customers.get_account(c, account_id)
        readings.put_wallet_state(c, _post(c, ws, account, reason))
    return position(c, account_id)


def friendly_debt(c: Conn, account_id: int) -> int:
    """Friendly-credit debt outstanding (posted and pending), fen."""
    return position(c, account_id).friendly_debt_fen


def recover_friendly_debt(
    c: Conn, account_id: int, *, vend_id: int | None, amount_fen: int, meter_id: int | None
) -> int:
    """Take friendly-credit debt from a purchase of ``amount_fen`` (in its transaction).

    Debt is repaid first (before emergency credit and overdraft, as
    ``billing.apply_purchase`` allocates). Returns the fen taken (a ``friendly_recovery``
    row). Idempotent per vend: a second call for the same vend takes nothing.
    """
    if vend_id is not None and c.scalar(
        "SELECT 1 FROM ledger WHERE vend_id = ? AND kind = 'friendly_recovery'", (vend_id,)
    ):
        return 0
    settle(c, account_id, "before a purchase")
    owed = friendly_debt(c, account_id)
    take = min(owed, max(amount_fen, 0))
    if take <= 0:
        return 0
    ledger.append(
        c,
        NewEntry(
            account_id=account_id,
            kind=LedgerKind.FRIENDLY_RECOVERY,
            amount_fen=-take,
            meter_id=meter_id,
            vend_id=vend_id,
            detail={"reason": "friendly-credit debt repaid from this purchase"},
        ),
    )
    return take


def _debts_since(c: Conn, account_id: int, after_id: int) -> tuple[int, int]:
    friendly = emergency = 0
    for row in c.all(
        "SELECT kind, coalesce(sum(amount_fen), 0) FROM ledger WHERE account_id = ? AND id > ? "
        "AND kind IN ('friendly_debt', 'friendly_recovery', 'emergency_credit', "
        "'emergency_recovery') GROUP BY kind",
        (account_id, after_id),
    ):
        if str(row[0]).startswith("friendly"):
            friendly += int(row[1])
        else:
            emergency += int(row[1])
    return friendly, emergency


# ---- posting -------------------------------------------------------------------------------


def _post(c: Conn, ws: WalletState, account: Account, reason: str) -> WalletState:
    """Write the pending charge (and its debt part) as ledger rows; pending becomes zero."""
    if not (ws.pending_fen or ws.pending_cwh or ws.pending_debt_fen):
        return ws
    assert ws.pending_version_id is not None
    detail = {
        "reason": reason,
        "from": ws.pending_since.isoformat(timespec="seconds") if ws.pending_since else None,
        "to": ws.baseline_at.isoformat(timespec="seconds"),
        "energy_cwh": ws.pending_cwh,
        "register_cwh": ws.register_cwh,
        "meter": ws.meter_address,
    }
    ledger.append(
        c,
        NewEntry(
            account_id=account.id,
            kind=LedgerKind.CONSUMPTION_DEBIT,
            amount_fen=-ws.pending_fen,
            meter_id=ws.meter_id,
            tariff_version_id=ws.pending_version_id,
            detail=detail,
        ),
    )
    if ws.pending_debt_fen:
        # Counted into friendly_debt_fen by the next ledger scan, like any other debt row.
        ledger.append(
            c,
            NewEntry(
                account_id=account.id,
                kind=LedgerKind.FRIENDLY_DEBT,
                amount_fen=ws.pending_debt_fen,
                meter_id=ws.meter_id,
                detail={"reason": "used inside a friendly-credit window", **detail},
            ),
        )
    return dataclasses.replace(
        ws,
        pending_fen=0,
        pending_cwh=0,
        pending_debt_fen=0,
        pending_version_id=None,
        pending_since=None,
    )


def _post_debt(c: Conn, ws: WalletState, account: Account, debt: int) -> None:
    ledger.append(
        c,
        NewEntry(
            account_id=account.id,
            kind=LedgerKind.FRIENDLY_DEBT,
            amount_fen=debt,
            meter_id=ws.meter_id,
            detail={"reason": "used inside a friendly-credit window",
                    "to": ws.baseline_at.isoformat(timespec="seconds")},
        ),
    )  # fmt: skip


# ---- the enforcer --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Versions:
    tariffs: tuple[Tariff, ...]
    row_ids: dict[int, int]  # version_no → price_versions.id
    key: tuple[int, int]


@dataclass(frozen=True, slots=True)
class _RelayPlan:
    info: MeterInfo
    account_id: int
    actions: tuple[RelayAction, ...]
    reason: str


class WalletEnforcer:
    """The gateway-wallet batch step. Wire it into the Recorder's steps."""

    def __init__(
        self,
        db: Database,
        *,
        driver_for: DriverFactory,
        clock: SiteClock,
        config: EnforcementConfig,
        lock: MeterLock | None = None,
    ) -> None:
        self.db = db
        self.driver_for = driver_for
        self.clock = clock
        self.config = config
        self._lock = lock or _no_lock
        self._versions: dict[int, _Versions] = {}
        self._failing: set[int] = set()
        self._friendly = FriendlyCredit(
            tuple(
                FriendlyWindow(
                    frozenset(w.days),
                    parse_hhmm(w.start, "start"),
                    parse_hhmm(w.end, "end"),
                )
                for w in config.friendly_windows
            ),
            frozenset(dt.date.fromisoformat(d) for d in config.holidays),
        )
        self.limits = MeteringLimits(config.max_power_w)

    # ---- the batch step (writer thread) --------------------------------------------------

    def _failed(self, info: MeterInfo, exc: BillingError) -> None:
        if info.meter_id not in self._failing:
            self._failing.add(info.meter_id)
            log.warning("meter %s: gateway-wallet enforcement skipped: %s (%s)",
                        info.address, exc, exc.remedy_en)  # fmt: skip

    def __call__(self, c: Conn, batch: Sequence[PollResult], now: dt.datetime) -> StepOutcome:
        conditions: dict[int, list[Condition]] = {}
        plans: list[_RelayPlan] = []
        for result in batch:
            if result.meter.wallet_model != "gateway":
                continue
            c.execute("SAVEPOINT wallet_enforcement")
            try:
                found, plan = self._enforce(c, result)
            except BillingError as exc:
                c.execute("ROLLBACK TO wallet_enforcement")
                c.execute("RELEASE wallet_enforcement")
                self._failed(result.meter, exc)
                continue
            c.execute("RELEASE wallet_enforcement")
            self._failing.discard(result.meter_id)
            if found:
                conditions[result.meter_id] = found
            if plan is not None:
                plans.append(plan)
        return StepOutcome(conditions, tuple(self._follow_up(p) for p in plans))

    def _enforce(self, c: Conn, result: PollResult) -> tuple[list[Condition], _RelayPlan | None]:
        info = result.meter
        account = customers.open_account_for_meter(c, info.meter_id)
        if account is None or str(account.wallet_model) != "gateway":
            return [], None
        energy = result.values.energy_cwh
        ws = readings.get_wallet_state(c, account.id)
        if energy is None and ws is None:
            return [], None
        local_at = self.clock.to_local(result.at)
        versions = self._tariffs(c, account.price_type_id)
        found: list[Condition] = []
        if ws is None:
            assert energy is not None
            ws = self._new_state(account, info, local_at, energy, versions, result)
        ws = self._take_in_ledger(c, account, ws)
        ws, mismatch = self._take_in_relay(c, account, ws, result.values.status3)
        if mismatch is not None:
            found.append(mismatch)
        settings = self._settings(account, info.meter_type)
        state = AccountState(
            balance=ledger.balance(c, account.id).balance_fen
            - ws.pending_fen
            + ws.pending_debt_fen,
            friendly_debt=ws.friendly_debt_fen + ws.pending_debt_fen,
            emergency_owed=ws.emergency_owed_fen,
            relay_open=ws.relay_open,
            alarm2_warned=ws.alarm2_warned,
        )
        if state.alarm2_warned and state.balance > settings.alarm2:
            state = dataclasses.replace(state, alarm2_warned=False)
        post_reasons: list[str] = []
        if energy is not None and local_at > ws.baseline_at:
            charged = debit(_consumption(ws), Reading(info.address, local_at, energy),
                            versions.tariffs, self.limits)  # fmt: skip
            found.extend(_anomalies(charged))
            allocation = apply_charge(state, charged.charge, settings, local_at)
            state = allocation.state
            ws, reasons = self._add_charge(
                c, ws, account, charged, allocation.to_friendly_debt, versions, local_at
            )
            post_reasons += reasons
        decision = decide(state, settings, local_at)
        if decision.alarm.value != ws.alarm_level:
            post_reasons.append(f"alarm level {ws.alarm_level} → {decision.alarm.value}")
        actions, why = self._actions(ws, decision.relay, decision.alarm)
        if result.ok and any(a in _SWITCHING for a in actions):
            post_reasons.append(why)
        if post_reasons or self.config.post == "every_reading":
            ws = _post(c, ws, account, "; ".join(post_reasons) or "reading")
        ws = dataclasses.replace(
            ws, alarm_level=decision.alarm.value, alarm2_warned=state.alarm2_warned
        )
        readings.put_wallet_state(c, ws)
        found.extend(self._alarms(account, state, decision.alarm, decision.protected_by))
        # An unreachable meter gets no command now: the decision is made again at its next poll.
        plan = _RelayPlan(info, account.id, actions, why) if actions and result.ok else None
        return found, plan

    def _new_state(
        self,
        account: Account,
        info: MeterInfo,
        local_at: dt.datetime,
        energy: int,
        versions: _Versions,
        result: PollResult,
    ) -> WalletState:
        base = start_baseline(Reading(info.address, local_at, energy), versions.tariffs)
        sw3 = result.values.status3
        tripped = sw3 is not None and bool(sw3 & ids.SW3_RELAY_COMMAND_OPEN)
        return WalletState(
            account_id=account.id,
            meter_id=info.meter_id,
            meter_address=info.address,
            baseline_at=base.at,
            register_cwh=base.register,
            period_start=base.period_start,
            period_use_cwh=base.period_use,
            residue=base.residue,
            relay_open=tripped,
        )

    def _take_in_ledger(self, c: Conn, account: Account, ws: WalletState) -> WalletState:
        """Debts from rows others wrote since; friendly debt taken from new sales."""
        rows = c.all(
            "SELECT id, kind, amount_fen, vend_id FROM ledger WHERE account_id = ? AND id > ? "
            "ORDER BY id",
            (account.id, ws.debts_seen_id),
        )
        if not rows:
            return ws
        if ws.pending_debt_fen and any(r["kind"] == "sale" for r in rows):
            # A purchase repays debt that is still pending too: post it first, then count it.
            ws = _post(c, ws, account, "before repaying friendly-credit debt")
            return self._take_in_ledger(c, account, ws)
        friendly, emergency = ws.friendly_debt_fen, ws.emergency_owed_fen
        sales: list[tuple[int | None, int]] = []
        for row in rows:
            kind, amount = str(row["kind"]), int(row["amount_fen"])
            if kind in ("friendly_debt", "friendly_recovery"):
                friendly += amount
            elif kind in ("emergency_credit", "emergency_recovery"):
                emergency += amount
            elif kind == "sale":
                sales.append((row["vend_id"], amount))
        seen = int(rows[-1]["id"])
        for vend_id, amount in sales:
            if friendly <= 0:
                break
            if vend_id is not None and c.scalar(
                "SELECT 1 FROM ledger WHERE vend_id = ? AND kind = 'friendly_recovery'", (vend_id,)
            ):
                continue
            take = min(friendly, amount)
            entry = ledger.append(
                c,
                NewEntry(
                    account_id=account.id,
                    kind=LedgerKind.FRIENDLY_RECOVERY,
                    amount_fen=-take,
                    meter_id=ws.meter_id,
                    vend_id=vend_id,
                    detail={"reason": "friendly-credit debt repaid from this purchase"},
                ),
            )
            friendly -= take
            seen = entry.id
        return dataclasses.replace(
            ws, friendly_debt_fen=friendly, emergency_owed_fen=emergency, debts_seen_id=seen
        )

    def _take_in_relay(
        self, c: Conn, account: Account, ws: WalletState, sw3: int | None
    ) -> tuple[WalletState, Condition | None]:
        """A reclose confirmed since, or a relay found closed that the gateway tripped."""
        newest = c.scalar(
            "SELECT max(id) FROM vends WHERE account_id = ? AND kind = 'reclose' "
            "AND state = 'confirmed' AND id > ?",
            (account.id, ws.reclose_seen_id),
        )
        if newest is not None:
            ws = dataclasses.replace(ws, relay_open=False, reclose_seen_id=int(newest))
        if sw3 is None or not ws.relay_open:
            return ws, None
        if sw3 & ids.SW3_RELAY_OPEN:
            return ws, Condition("relay_mismatch", False)
        return ws, Condition(
            "relay_mismatch",
            True,
            sw3,
            "the gateway tripped this relay for the balance but it is closed",
        )

    def _add_charge(
        self,
        c: Conn,
        ws: WalletState,
        account: Account,
        charged: Debit,
        debt: int,
        versions: _Versions,
        local_at: dt.datetime,
    ) -> tuple[WalletState, list[str]]:
        new = charged.state
        parts: dict[int, tuple[int, int]] = {}
        for seg in charged.segments:
            row_id = versions.row_ids[seg.tariff_version]
            fen, cwh = parts.get(row_id, (0, 0))
            parts[row_id] = (fen + seg.cost, cwh + seg.energy)
        reasons: list[str] = []
        pending = ws.pending_fen or ws.pending_cwh or ws.pending_debt_fen
        if pending and ws.pending_since is not None and ws.pending_since.date() != local_at.date():
            ws = _post(c, ws, account, "end of day")
        elif pending and parts and set(parts) != {ws.pending_version_id}:
            ws = _post(c, ws, account, "tariff version changed")
        ws = dataclasses.replace(
            ws,
            meter_id=account.meter_id,
            meter_address=new.meter_id,
            baseline_at=new.at,
            register_cwh=new.register,
            period_start=new.period_start,
            period_use_cwh=new.period_use,
            residue=new.residue,
            held_at=new.held.at if new.held is not None else None,
            held_register_cwh=new.held.register if new.held is not None else None,
        )
        if not parts:
            return ws, reasons
        since = ws.pending_since or _consumption_start(charged, local_at)
        for row_id, (fen, cwh) in parts.items():
            if ws.pending_version_id not in (None, row_id):
                ws = _post(c, ws, account, "tariff version changed")
                since = _consumption_start(charged, local_at)
            ws = dataclasses.replace(
                ws,
                pending_fen=ws.pending_fen + fen,
                pending_cwh=ws.pending_cwh + cwh,
                pending_version_id=row_id,
                pending_since=since,
            )
        if debt:
            room = ws.pending_fen - ws.pending_debt_fen
            if debt > room:
                # The charge spanned tariff versions and its first part is posted already:
                # post the rest with the whole debt now.
                ws = _post(c, ws, account, "tariff version changed")
                _post_debt(c, ws, account, debt)
            else:
                ws = dataclasses.replace(ws, pending_debt_fen=ws.pending_debt_fen + debt)
        return ws, reasons

    def _actions(
        self, ws: WalletState, relay: RelayCommand, alarm: Alarm
    ) -> tuple[tuple[RelayAction, ...], str]:
        actions: list[RelayAction] = []
        why = ""
        if relay is RelayCommand.TRIP:
            actions.append(RelayAction.TRIP)
            why = "balance exhausted"
        elif relay is RelayCommand.WARN_TRIP:
            actions += [RelayAction.TRIP, RelayAction.CLOSE_ALLOWED]
            why = "alarm-2 warning trip"
        elif relay is RelayCommand.CLOSE and ws.relay_open:
            direct = self.config.reclose == "direct"
            actions.append(RelayAction.CLOSE_DIRECT if direct else RelayAction.CLOSE_ALLOWED)
            why = "balance restored"
        if self.config.meter_alarm_signal:
            want = alarm is not Alarm.NONE
            if want != ws.meter_alarm_on:
                actions.append(RelayAction.ALARM_ON if want else RelayAction.ALARM_OFF)
                why = why or ("low-balance alarm on" if want else "low-balance alarm off")
        return tuple(actions), why

    def _alarms(
        self, account: Account, state: AccountState, level: Alarm, protected: object
    ) -> list[Condition]:
        balance = state.balance
        text = _yuan(balance)
        conditions = [
            Condition(name, level is lvl, balance, f"balance {text}" if level is lvl else "")
            for lvl, name in _LEVELS_WITH_ALARM.items()
        ]
        overdrawn = level in (Alarm.OVERDRAFT, Alarm.EXHAUSTED)
        detail = ""
        if overdrawn:
            detail = f"balance {text}"
            if protected is not None:
                detail += f"; trip withheld ({protected})"
            if state.friendly_debt:
                detail += f"; friendly-credit debt {_yuan(state.friendly_debt)}"
        conditions.append(Condition("overdraft", overdrawn, balance, detail))
        conditions.append(Condition("keep_power", account.keep_power))
        return conditions

    def _settings(self, account: Account, meter_type: MeterType) -> EnforcementSettings:
        lim, prof, cfg = account.limits, meter_type.profile, self.config

        def pick(*values: int | None) -> int:
            return next(v for v in values if v is not None)

        alarm2 = pick(lim.alarm2_fen, prof.alarm2_fen, cfg.alarm2_fen)
        alarm1 = max(pick(lim.alarm1_fen, prof.alarm1_fen, cfg.alarm1_fen), alarm2)
        hoarding = lim.hoarding_limit_fen
        if hoarding is None:
            hoarding = prof.hoarding_limit_fen
        return EnforcementSettings(
            alarm1=max(alarm1, 0),
            alarm2=max(alarm2, 0),
            overdraft_limit=pick(
                lim.overdraft_limit_fen, prof.overdraft_limit_fen, cfg.overdraft_limit_fen
            ),
            close_allowed=max(
                pick(lim.close_allowed_fen, prof.close_allowed_fen, cfg.close_allowed_fen), 0
            ),
            hoarding_limit=hoarding if hoarding else None,
            keep_power=account.keep_power,
            friendly=self._friendly if account.friendly_credit else FriendlyCredit(),
            emergency_credit=cfg.emergency_credit_fen,
            emergency_threshold=cfg.emergency_threshold_fen,
        )

    def _tariffs(self, c: Conn, price_type_id: int) -> _Versions:
        row = c.one(
            "SELECT count(*), coalesce(max(id), 0) FROM price_versions WHERE price_type_id = ?",
            (price_type_id,),
        )
        assert row is not None
        key = (int(row[0]), int(row[1]))
        cached = self._versions.get(price_type_id)
        if cached is not None and cached.key == key:
            return cached
        parsed: list[Tariff] = []
        row_ids: dict[int, int] = {}
        for version in tariffs.versions(c, price_type_id):
            tariff = tariff_from_json_dict(version.tariff)
            effective = self.clock.to_local(from_text(version.effective_from))
            tariff = dataclasses.replace(
                with_version(tariff, version.version_no, effective), id=str(price_type_id)
            )
            parsed.append(tariff)
            row_ids[version.version_no] = version.id
        loaded = _Versions(tuple(parsed), row_ids, key)
        self._versions[price_type_id] = loaded
        return loaded

    # ---- after the commit: the relay ------------------------------------------------------

    def _follow_up(self, plan: _RelayPlan) -> FollowUp:
        async def run() -> Sequence[AlarmChange]:
            try:
                driver = self.driver_for(plan.info)
            except LinkError as exc:
                log.warning("meter %s: no route for the relay command: %s", plan.info.address, exc)
                return []
            async with self._lock(plan.info.meter_id):
                outcome = await relay_control.command(
                    driver,
                    plan.actions,
                    attempts=self.config.relay_attempts,
                    priority=Priority.ALARM,
                )
            if not outcome.ok:
                log.warning("meter %s: relay %s for %s failed: %s", plan.info.address,
                            "/".join(a.name for a in plan.actions), plan.reason,
                            outcome.error)  # fmt: skip
            return await self.db.write(self._record_relay, plan, outcome, self.clock.now())

        return run

    def _record_relay(
        self, c: Conn, plan: _RelayPlan, outcome: RelayOutcome, now: dt.datetime
    ) -> list[AlarmChange]:
        ws = readings.get_wallet_state(c, plan.account_id)
        done = set(outcome.done)
        if ws is not None:
            if RelayAction.TRIP in done and RelayAction.CLOSE_ALLOWED not in plan.actions:
                ws = dataclasses.replace(ws, relay_open=True)
            if RelayAction.CLOSE_ALLOWED in done and RelayAction.TRIP in plan.actions:
                ws = dataclasses.replace(ws, alarm2_warned=True)
            if done & {RelayAction.CLOSE_DIRECT, RelayAction.CLOSE_ALLOWED} and (
                RelayAction.TRIP not in plan.actions
            ):
                ws = dataclasses.replace(ws, relay_open=False)
            if RelayAction.ALARM_ON in done:
                ws = dataclasses.replace(ws, meter_alarm_on=True)
            if RelayAction.ALARM_OFF in done:
                ws = dataclasses.replace(ws, meter_alarm_on=False)
            readings.put_wallet_state(c, ws)
        switching = [a for a in plan.actions if a in _SWITCHING]
        conditions: list[Condition] = []
        if switching:
            conditions.append(
                Condition(
                    "relay_refused",
                    outcome.refused,
                    outcome.state.status_word_3 if outcome.state is not None else None,
                    outcome.error if outcome.refused else "",
                )
            )
            action = "open" if switching[0] is RelayAction.TRIP else "close"
            payload: dict[str, object] = {
                "meter": plan.info.address,
                "action": action,
                "source": "balance",
                "ok": outcome.ok,
                "account_id": str(plan.account_id),
                "reason": (plan.reason + (f": {outcome.error}" if outcome.error else ""))[:300],
            }
            add_event(c, "relay", payload, now)
            oplog.append(
                c,
                f"relay.balance_{action}",
                target=f"meter:{plan.info.address}",
                detail={
                    "account_id": plan.account_id,
                    "actions": [a.name for a in plan.actions],
                    "done": [a.name for a in outcome.done],
                    "reason": plan.reason,
                    "state": str(outcome.state) if outcome.state is not None else None,
                },
                result="ok" if outcome.ok else "error",
                error_code=None if outcome.ok else "E511",
            )
        if outcome.state is not None:
            conditions.append(Condition("relay_tripped", outcome.state.relay_open))
        subject = Subject(plan.info.meter_id, plan.info.address, plan.account_id)
        return alarm_book.apply(c, subject, conditions, now)


_SWITCHING = frozenset({RelayAction.TRIP, RelayAction.CLOSE_DIRECT, RelayAction.CLOSE_ALLOWED})


@contextlib.asynccontextmanager
async def _no_lock_cm() -> AsyncIterator[None]:
    yield


def _no_lock(meter_id: int) -> AbstractAsyncContextManager[None]:
    return _no_lock_cm()


def _consumption(ws: WalletState) -> ConsumptionState:
    held = None
    if ws.held_at is not None and ws.held_register_cwh is not None:
        held = Reading(ws.meter_address, ws.held_at, ws.held_register_cwh)
    return ConsumptionState(
        meter_id=ws.meter_address,
        at=ws.baseline_at,
        register=ws.register_cwh,
        period_start=ws.period_start,
        period_use=ws.period_use_cwh,
        residue=ws.residue,
        held=held,
    )


def _consumption_start(charged: Debit, local_at: dt.datetime) -> dt.datetime:
    return charged.segments[0].start if charged.segments else local_at


def _anomalies(charged: Debit) -> list[Condition]:
    found: list[Condition] = []
    for anomaly in charged.anomalies:
        if anomaly.kind in (AnomalyKind.SPIKE, AnomalyKind.REBASELINED):
            jump = anomaly.register - anomaly.previous
            text = (
                f"register jumped by {_kwh(jump)}: held, not billed"
                if anomaly.kind is AnomalyKind.SPIKE
                else f"jump of {_kwh(anomaly.unbilled or 0)} confirmed and left unbilled"
            )
            found.append(Condition("energy_spike", True, jump, text))
    if not found and charged.energy:
        found.append(Condition("energy_spike", False))
    return found


def _kwh(cwh: int) -> str:
    sign = "-" if cwh < 0 else ""
    return f"{sign}{abs(cwh) // 100}.{abs(cwh) % 100:02d} kWh"


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d} yuan"
