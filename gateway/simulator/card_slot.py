"""A virtual meter's IC card slot: cards from a PC/SC reader, applied by the meter's card rules.

The rules themselves are ``gateway.cards.meter_rules.apply_card`` (docs/cards.md section 10);
this module only maps a ``VirtualMeter`` onto the ``MeterCardState`` those rules read and back.
On an energy-type meter every amount on the card (purchase, limits, remaining) is 0.01 kWh, as
in the 03H recharge payload: the vending side has converted money to energy already.

Order, as a real meter does it: read and authenticate the card, change the meter's own state,
then write the return file. The state change happens between two awaits, so a 03H frame the
same event loop is serving can never interleave with it; a card pulled out before the
write-back leaves the credit in place, and the next insert of that card is a return-write only
(its purchase count now equals the meter's). This is ``gateway.cards.meter_slot.insert_card``
with the meter's state taken and stored at the right instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from gateway.cards import CardReaderService, MeterCardState, MeterOutcome, apply_card
from gateway.cards.errors import CardError, NotAUserCardError
from gateway.cards.meter_rules import CardApplication
from gateway.cards.meter_slot import SlotResult
from gateway.simulator.meter import VirtualMeter

log = logging.getLogger(__name__)

# Outcomes that open the relay for a reason other than a remote command: the account closes
# (refund read-out, transfer to a new meter) or the new meter starts with too little credit.
_REMOTE = frozenset({MeterOutcome.RELAY_SET})


def card_state(meter: VirtualMeter) -> MeterCardState:
    """The card-relevant part of the meter's state (money in fen, or 0.01 kWh)."""
    return MeterCardState(
        meter_number=meter.meter_number,
        customer_number=meter.customer_number,
        card_serial=meter.card_serial,
        account_opened=meter.account_opened,
        remaining_fen=meter.remaining,
        overdraft_fen=meter.overdraft,
        purchase_count=meter.purchase_count,
        total_purchased_fen=meter.cumulative_purchased,
        total_energy_ckwh=meter.energy_cwh,
        alarm1_fen=meter.alarm1,
        alarm2_fen=meter.alarm2,
        overdraft_limit_fen=meter.overdraft_limit,
        hoarding_limit_fen=meter.hoarding_limit,
        close_allowed_fen=meter.close_allowed,
        price_1e4=meter.price_e4,
        relay_open=meter.relay.open,
        illegal_inserts=meter.illegal_inserts,
    )


def store_state(meter: VirtualMeter, app: CardApplication) -> None:
    """Make the meter's registers what the card rules decided."""
    after = app.state
    meter.customer_number = after.customer_number
    meter.card_serial = after.card_serial
    meter.account_opened = after.account_opened
    meter.remaining = after.remaining_fen
    meter.overdraft = after.overdraft_fen
    meter.purchase_count = after.purchase_count
    meter.cumulative_purchased = after.total_purchased_fen
    meter.alarm1 = after.alarm1_fen
    meter.alarm2 = after.alarm2_fen
    meter.overdraft_limit = after.overdraft_limit_fen
    meter.hoarding_limit = after.hoarding_limit_fen
    meter.close_allowed = after.close_allowed_fen
    meter.price_e4 = after.price_1e4
    meter.illegal_inserts = after.illegal_inserts
    if app.credited_fen and meter.remaining > meter.alarm2:
        meter.relay.alarm2_used = False  # a top-up above alarm 2 re-arms that stage
    if after.relay_open and not meter.relay.open:
        meter.relay.trip("remote" if app.outcome in _REMOTE else "credit")
    elif not after.relay_open and meter.relay.open:
        meter.relay.close()


async def insert(
    meter: VirtualMeter,
    service: CardReaderService,
    now: dt.datetime,
    *,
    before: Callable[[], object] | None = None,
) -> SlotResult:
    """Apply the card in ``service``'s reader to ``meter`` at meter time ``now``.

    ``before`` runs just before the meter's state is taken (the bus's ``advance``, so energy
    used up to this instant is counted first). Raises CardError when the card cannot be read or
    authenticated: blank, foreign, tampered, torn; the meter then changes nothing.
    """
    read = await service.read()
    if read.content is None:
        raise NotAUserCardError(
            "no card of this system: nothing for the meter to do", reader=read.reader
        )
    if before is not None:
        before()
    app = apply_card(card_state(meter), read.content, now)
    store_state(meter, app)
    if not app.card_changed or app.card.ret is None:
        return SlotResult(app, return_written=False)
    try:
        await service.write_return(app.card.ret, expect_serial=read.content.issue.serial)
    except CardError as exc:
        return SlotResult(app, return_written=False, error=exc)
    return SlotResult(app, return_written=True)


def describe(result: SlotResult) -> str:
    """One line for the simulator's console."""
    app = result.application
    state = app.state
    line = (
        f"card {app.card.issue.card_type.name.lower()} serial {app.card.issue.serial}: "
        f"{app.outcome.name.lower()} (0x{app.outcome.value:02X}); remaining {state.remaining_fen}, "
        f"overdraft {state.overdraft_fen}, count {state.purchase_count}"
    )
    if app.credited_fen:
        line += f", credited {app.credited_fen}"
    if app.card_changed and not result.return_written:
        code = result.error.code if result.error is not None else "?"
        line += f"; return file NOT written ({code}): insert the card again"
    return line


@dataclass
class CardSlot:
    """Watches one reader for one meter: every card inserted there is applied once.

    ``report`` gets one line per card (outcome or error). A reader problem (pcscd stopped,
    reader unplugged) is reported once and its recovery once, as a field engineer expects.
    """

    meter: VirtualMeter
    service: CardReaderService
    clock: Callable[[], dt.datetime]
    report: Callable[[str], None]
    before: Callable[[], object] | None = None
    poll_s: float = 0.3
    results: list[SlotResult] = dataclasses.field(default_factory=list)

    async def handle_insert(self) -> SlotResult | None:
        try:
            result = await insert(
                self.meter, self.service, self.meter.meter_time(self.clock()), before=self.before
            )
        except CardError as exc:
            self.report(f"meter {self.meter.address}: {exc.code} {exc}")
            return None
        except ValueError as exc:  # a register the card format cannot carry (count > 65535)
            self.report(f"meter {self.meter.address}: card not applied: {exc}")
            return None
        self.results.append(result)
        self.report(f"meter {self.meter.address}: {describe(result)}")
        return result

    async def run(self) -> None:
        """Until cancelled."""
        async with self.service.monitor(poll_s=self.poll_s) as events:
            while True:
                event = await events.get()
                if event.kind == "inserted":
                    await self.handle_insert()
                elif event.kind == "service_down":
                    self.report(f"meter {self.meter.address}: card reader service unavailable")
                elif event.kind == "service_up":
                    self.report(f"meter {self.meter.address}: card reader service is back")


async def run_slots(slots: list[CardSlot]) -> None:
    """Run every slot until cancelled (each reports its own card and reader problems)."""
    tasks = [asyncio.create_task(slot.run()) for slot in slots]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
