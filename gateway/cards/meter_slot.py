"""A meter's card slot on a PC/SC reader: read the card, apply the meter rules, write back.

For the meter simulator (and commissioning): the card written at the gateway's reader is carried
to the reader this slot watches. Like a real meter, the slot changes its own state first and then
writes the return file; if the card is pulled before the write-back, the state change stands and
the next insert of the same card is a return-write only (the purchase count makes it so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.cards.errors import CardError, NotAUserCardError
from gateway.cards.meter_rules import CardApplication, MeterCardState, apply_card
from gateway.cards.reader import CardReaderService


@dataclass(frozen=True)
class SlotResult:
    application: CardApplication
    return_written: bool
    error: CardError | None = None  # the write-back failed (card pulled out, ...)

    @property
    def state(self) -> MeterCardState:
        return self.application.state


async def insert_card(
    service: CardReaderService, state: MeterCardState, now: datetime
) -> SlotResult:
    """Apply the card in ``service``'s reader to a meter in ``state``.

    Raises CardError when the card cannot be read or authenticated (blank, foreign, tampered):
    the meter then changes nothing. Otherwise the caller takes ``result.state`` as the meter's
    new state, whether or not the write-back succeeded.
    """
    read = await service.read()
    if read.content is None:
        raise NotAUserCardError(
            "no card of this system: nothing for the meter to do", reader=read.reader
        )
    app = apply_card(state, read.content, now)
    if not app.card_changed or app.card.ret is None:
        return SlotResult(app, return_written=False)
    try:
        await service.write_return(app.card.ret, expect_serial=read.content.issue.serial)
    except CardError as exc:
        return SlotResult(app, return_written=False, error=exc)
    return SlotResult(app, return_written=True)
