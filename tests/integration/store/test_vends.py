"""The vend state machine: allowed paths, refused ones (in code and in the database), history,
idempotency keys, recovery list."""

from __future__ import annotations

import itertools

import pytest

from gateway.store import Database, vends
from gateway.store.errors import (
    AppendOnlyError,
    IdempotencyConflictError,
    IllegalVendTransitionError,
    InvalidValueError,
)
from gateway.store.vends import TRANSITIONS, NewVend, VendChannel, VendKind, VendState
from tests.integration.store.support import ManualClock, Site

PATHS = {
    VendState.PENDING: [],
    VendState.SENT: [VendState.SENT],
    VendState.CONFIRMED: [VendState.SENT, VendState.CONFIRMED],
    VendState.FAILED: [VendState.FAILED],
    VendState.UNCERTAIN: [VendState.SENT, VendState.UNCERTAIN],
}


def daily(site: Site, key: str, amount: int = 5000) -> NewVend:
    return NewVend(
        key,
        VendKind.DAILY,
        VendChannel.COMM,
        site.account_ids[0],
        amount,
        meter_id=site.meter_ids[0],
        operator_id=site.operator_id,
        count_before=3,
        count_target=4,
        request={"amount_fen": amount, "form": key},
    )


async def test_a_sale_that_went_uncertain_is_confirmed_after_reading_the_count(
    db: Database, site: Site, clock: ManualClock
) -> None:
    vend, created = await db.write(vends.create, daily(site, "form-1"))
    assert created and vend.state is VendState.PENDING
    clock.advance(seconds=1)
    await db.write(vends.transition, vend.id, VendState.SENT)
    clock.advance(seconds=5)
    await db.write(vends.transition, vend.id, VendState.UNCERTAIN, error="no reply in 5 s")
    assert [v.id for v in await db.read(vends.unfinished)] == [vend.id]
    clock.advance(seconds=30)
    done = await db.write(
        vends.transition, vend.id, VendState.CONFIRMED, count_after=4, result={"receipt": 17}
    )
    assert (done.state, done.count_after, done.result) == (VendState.CONFIRMED, 4, {"receipt": 17})
    assert done.finished
    assert await db.read(vends.unfinished) == []
    history = await db.read(vends.events, vend.id)
    assert [(e.from_state, e.to_state, e.at[11:19]) for e in history] == [
        (None, VendState.PENDING, "08:00:00"),
        (VendState.PENDING, VendState.SENT, "08:00:01"),
        (VendState.SENT, VendState.UNCERTAIN, "08:00:06"),
        (VendState.UNCERTAIN, VendState.CONFIRMED, "08:00:36"),
    ]
    assert history[2].error == "no reply in 5 s"


ILLEGAL = [
    (start, to)
    for start, to in itertools.product(VendState, VendState)
    if to not in TRANSITIONS[start]
]


@pytest.mark.parametrize(("start", "to"), ILLEGAL, ids=str)
async def test_illegal_transitions_are_refused_by_code_and_by_database(
    db: Database, site: Site, start: VendState, to: VendState
) -> None:
    vend, _ = await db.write(vends.create, daily(site, "k"))
    for step in PATHS[start]:
        await db.write(vends.transition, vend.id, step)
    with pytest.raises(IllegalVendTransitionError) as refused:
        await db.write(vends.transition, vend.id, to)
    assert refused.value.code == "E307"
    with pytest.raises(IllegalVendTransitionError):
        await db.write(
            lambda c: c.execute("UPDATE vends SET state = ? WHERE id = ?", (str(to), vend.id))
        )
    after = await db.read(vends.get, vend.id)
    assert after.state is start
    assert len(await db.read(vends.events, vend.id)) == len(PATHS[start]) + 1


async def test_a_vend_is_born_pending(db: Database, site: Site) -> None:
    with pytest.raises(IllegalVendTransitionError):
        await db.write(
            lambda c: c.execute(
                "INSERT INTO vends (idempotency_key, kind, channel, account_id, amount_fen, state, "
                "created_at, updated_at) VALUES ('x', 'daily', 'comm', ?, 100, 'confirmed', "
                "'t', 't')",
                (site.account_ids[0],),
            )
        )


async def test_repeated_idempotency_key_returns_the_first_vend(db: Database, site: Site) -> None:
    first, created = await db.write(vends.create, daily(site, "cmd-42"))
    await db.write(vends.transition, first.id, VendState.SENT)
    again, created_again = await db.write(vends.create, daily(site, "cmd-42"))
    assert created and not created_again
    assert again.id == first.id
    assert again.state is VendState.SENT
    count = await db.read(lambda c: c.scalar("SELECT count(*) FROM vends"))
    assert count == 1


async def test_same_key_with_another_amount_is_an_error(db: Database, site: Site) -> None:
    await db.write(vends.create, daily(site, "cmd-42", 5000))
    with pytest.raises(IdempotencyConflictError) as refused:
        await db.write(vends.create, daily(site, "cmd-42", 50000))
    assert refused.value.code == "E308"
    assert await db.read(lambda c: c.scalar("SELECT count(*) FROM vends")) == 1


async def test_what_a_vend_asked_for_never_changes(db: Database, site: Site) -> None:
    vend, _ = await db.write(vends.create, daily(site, "k"))
    for column, value in (("amount_fen", 1), ("count_target", 9), ("request", "{}")):
        with pytest.raises(AppendOnlyError):
            await db.write(
                lambda c, col=column, val=value: c.execute(
                    f"UPDATE vends SET {col} = ?, state = 'sent' WHERE id = ?", (val, vend.id)
                )
            )
    assert (await db.read(vends.get, vend.id)).amount_fen == 5000


async def test_bad_vend_input_is_refused_before_writing(db: Database, site: Site) -> None:
    with pytest.raises(InvalidValueError):
        NewVend("k", VendKind.DAILY, VendChannel.COMM, 1, 50.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="teleport"):
        NewVend("k", "teleport", VendChannel.COMM, 1, 100)  # type: ignore[arg-type]
    assert await db.read(lambda c: c.scalar("SELECT count(*) FROM vends")) == 0
