"""An in-memory PanelBackend: the services behind the panel have no local stand-in yet.

It keeps what the tests assert on: balances and a sales ledger (one row per sale, keyed by the
idempotency key), relay states, the operation log and acknowledged alarms.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import datetime

from gateway.panel import (
    MeterInfo,
    PanelError,
    PanelOperation,
    RelayState,
    TopUpRequest,
    TopUpResult,
    VendStatus,
)


@dataclasses.dataclass
class Sale:
    meter_no: str
    amount_fen: int
    receipt_no: str
    idempotency_key: str
    operator: str


class FakeBackend:
    def __init__(
        self, meters: Sequence[MeterInfo], operator_pins: Sequence[str] = ("9876",)
    ) -> None:
        self.meters = {m.meter_no: m for m in meters}
        self.operator_pins = set(operator_pins)
        self.sales: list[Sale] = []
        self.results: dict[str, TopUpResult] = {}
        self.operations: list[PanelOperation] = []
        self.relay_calls: list[tuple[str, bool, str]] = []
        self.acked: list[str] = []
        self.reads: list[str] = []
        self.lookups: list[str] = []
        # Fault switches.
        self.lose_next_topup_reply = False
        self.topup_status = VendStatus.CONFIRMED
        self.hang_next_topup_s = 0.0
        self.fail_log = False
        self.read_energy_step = 125  # centi-kWh added per read

    def balance(self, meter_no: str) -> int | None:
        return self.meters[meter_no].balance_fen

    async def lookup(self, number: str) -> MeterInfo:
        self.lookups.append(number)
        for meter in self.meters.values():
            if number in (meter.meter_no, meter.customer_no):
                return meter
        raise PanelError("E120", f"未找到 {number}", f"No meter or customer {number}")

    async def read_now(self, meter_no: str) -> MeterInfo:
        self.reads.append(meter_no)
        m = self.meters[meter_no]
        reading = (m.last_reading_centi_kwh or 0) + self.read_energy_step
        m = dataclasses.replace(
            m, last_reading_centi_kwh=reading, last_read_at=datetime(2024, 5, 6, 14, 9)
        )
        self.meters[meter_no] = m
        return m

    async def set_relay(self, meter_no: str, close: bool, operator: str) -> RelayState:
        self.relay_calls.append((meter_no, close, operator))
        state = RelayState.CLOSED if close else RelayState.OPEN
        self.meters[meter_no] = dataclasses.replace(self.meters[meter_no], relay=state)
        return state

    async def top_up(self, request: TopUpRequest) -> TopUpResult:
        if request.idempotency_key in self.results:
            return self.results[request.idempotency_key]
        if request.operator_pin not in self.operator_pins:
            raise PanelError("E130", "操作员PIN错误", "Wrong operator PIN")
        if request.meter_no not in self.meters:
            raise PanelError("E120", "未找到表", "No such meter")
        receipt = f"R{len(self.sales) + 1:05d}"
        self.sales.append(
            Sale(
                request.meter_no,
                request.amount_fen,
                receipt,
                request.idempotency_key,
                request.operator,
            )
        )
        m = self.meters[request.meter_no]
        self.meters[request.meter_no] = dataclasses.replace(
            m, balance_fen=(m.balance_fen or 0) + request.amount_fen
        )
        result = TopUpResult(self.topup_status, receipt, request.meter_no, request.amount_fen)
        self.results[request.idempotency_key] = result
        if self.hang_next_topup_s:
            delay, self.hang_next_topup_s = self.hang_next_topup_s, 0.0
            await asyncio.sleep(delay)
        if self.lose_next_topup_reply:
            self.lose_next_topup_reply = False
            raise ConnectionError("reply lost after the sale was recorded")
        return result

    async def acknowledge_alarms(self, alarm_ids: Sequence[str], operator: str) -> int:
        new = [a for a in alarm_ids if a not in self.acked]
        self.acked.extend(new)
        return len(new)

    async def log_operation(self, entry: PanelOperation) -> None:
        if self.fail_log:
            raise OSError("operation log unavailable")
        self.operations.append(entry)
