"""The reader service on the real stack: pcscd + vpcd + virtual cards in two readers."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

import pytest

from gateway.cards import (
    CardReaderConfig,
    CardReaderService,
    MeterCardState,
    MeterOutcome,
    SiteKey,
    UserCard,
    UserCardKind,
)
from gateway.cards.errors import (
    CardError,
    CardLockedError,
    CardMacError,
    CardReadOnlyError,
    CardRemovedError,
    IncompleteWriteError,
    NoCardError,
    NotANewCardError,
    NotAUserCardError,
    ReaderNotFoundError,
    UnknownCardError,
    WrongCardError,
    WrongPscError,
)
from gateway.cards.format import encode_issue
from gateway.cards.meter_slot import insert_card
from tests.integration.cards.test_format import every_card
from tests.support.pcsc import GATEWAY_READER, CardSlots, Pcscd, wait_card_state
from tests.support.vcard import (
    CpuCard,
    Sle4442Card,
    VirtualCard,
    blank_gateway_card,
    foreign_card,
    state_grid_user_card,
)

pytestmark = pytest.mark.pcscd

ISSUE_EF = (0x3F00, 0x5047, 0x0001)
RETURN_EF = (0x3F00, 0x5047, 0x0002)
METER = "000012345678"


def open_card(now: datetime, serial: int = 1001, amount: int = 10_000) -> UserCard:
    return UserCard(
        serial=serial,
        meter_number=METER,
        customer_number="42",
        issued_at=now,
        kind=UserCardKind.OPEN,
        purchase_count=1,
        amount_fen=amount,
    )


def issue_bytes(card: VirtualCard) -> bytes:
    if isinstance(card, Sle4442Card):
        return bytes(card.memory[0x20:0x80])
    assert isinstance(card, CpuCard)
    return bytes(card.files[ISSUE_EF])


def writes(card: VirtualCard) -> list[bytes]:
    """Every write command the card received (CPU UPDATE BINARY, SLE4442 write memory)."""
    return [a for a in card.apdu_log if a[1] in (0xD6, 0xD0)]


@pytest.fixture(params=["cpu", "sle4442"])
def blank(request: pytest.FixtureRequest) -> VirtualCard:
    return blank_gateway_card() if request.param == "cpu" else Sle4442Card()


async def test_each_card_type_is_written_and_read_back(
    blank: VirtualCard,
    card_slots: CardSlots,
    gateway_reader: CardReaderService,
    key: SiteKey,
) -> None:
    card_slots.insert(blank, 0)
    for card in every_card():
        await gateway_reader.clear()
        written = await gateway_reader.write(card, require_blank=True)
        assert written.issue == card and written.ret is None
        assert issue_bytes(blank) == encode_issue(card, key)  # the bytes the docs specify
        read = await gateway_reader.read()
        assert read.content == written
        assert read.medium == ("cpu" if isinstance(blank, CpuCard) else "sle4442")


async def test_user_card_from_gateway_to_meter_and_back_credits_once(
    card_slots: CardSlots,
    gateway_reader: CardReaderService,
    meter_reader: CardReaderService,
    now: datetime,
) -> None:
    card = blank_gateway_card()
    card_slots.insert(card, 0)
    await gateway_reader.write(open_card(now), require_blank=True)

    card_slots.carry(card, 1)
    meter = MeterCardState(meter_number=METER)
    first = await insert_card(meter_reader, meter, now)
    assert first.application.outcome is MeterOutcome.CREDITED and first.return_written
    assert first.state.remaining_fen == 10_000
    second = await insert_card(meter_reader, first.state, now)
    assert second.application.outcome is MeterOutcome.RETURN_WRITE_ONLY
    assert second.state.remaining_fen == 10_000  # the same card twice credits once

    card_slots.carry(card, 0)
    back = await gateway_reader.read_user_card()
    assert back.purchase_loaded
    assert back.ret is not None and back.ret.remaining_fen == 10_000

    # Daily purchase: the return file stays, so the card shows the purchase is not loaded yet.
    purchase = dataclasses.replace(
        open_card(now), kind=UserCardKind.PURCHASE, purchase_count=2, amount_fen=2_550
    )
    pending = await gateway_reader.write(purchase, expect_serial=1001)
    assert not pending.purchase_loaded
    card_slots.carry(card, 1)
    third = await insert_card(meter_reader, second.state, now)
    assert third.application.outcome is MeterOutcome.CREDITED
    assert third.state.remaining_fen == 12_550 and third.state.purchase_count == 2
    card_slots.carry(card, 0)
    assert (await gateway_reader.read_user_card()).purchase_loaded


async def test_tampered_card_is_refused_by_gateway_and_meter(
    card_slots: CardSlots,
    gateway_reader: CardReaderService,
    meter_reader: CardReaderService,
    now: datetime,
) -> None:
    card = blank_gateway_card()
    card_slots.insert(card, 0)
    await gateway_reader.write(open_card(now, amount=100), require_blank=True)
    card.files[ISSUE_EF][35:39] = (9_999_900).to_bytes(4, "big")  # "100 yuan more"
    with pytest.raises(CardMacError) as err:
        await gateway_reader.read()
    assert err.value.code == "E410"
    with pytest.raises(CardMacError):
        await gateway_reader.read_user_card()
    card_slots.carry(card, 1)
    writes_before = len(writes(card))
    with pytest.raises(CardMacError):
        await insert_card(meter_reader, MeterCardState(meter_number=METER), now)
    assert len(writes(card)) == writes_before  # the meter wrote nothing back


async def test_edited_return_area_is_not_believed_and_the_meter_rewrites_it(
    card_slots: CardSlots,
    gateway_reader: CardReaderService,
    meter_reader: CardReaderService,
    now: datetime,
) -> None:
    card = blank_gateway_card()
    card_slots.insert(card, 0)
    await gateway_reader.write(open_card(now), require_blank=True)
    card_slots.carry(card, 1)
    loaded = await insert_card(meter_reader, MeterCardState(meter_number=METER), now)
    card_slots.carry(card, 0)
    card.files[RETURN_EF][16:20] = (99_000_000).to_bytes(4, "big")  # "remaining 990 000 yuan"
    content = await gateway_reader.read_user_card()
    assert content.ret_damaged and content.ret is None and not content.purchase_loaded
    with pytest.raises(CardMacError) as err:
        content.require_return()
    assert err.value.code == "E410"
    card_slots.carry(card, 1)
    again = await insert_card(meter_reader, loaded.state, now)
    assert again.application.outcome is MeterOutcome.RETURN_WRITE_ONLY
    assert again.state == loaded.state
    card_slots.carry(card, 0)
    repaired = await gateway_reader.read_user_card()
    assert repaired.require_return().remaining_fen == 10_000 and repaired.purchase_loaded


async def test_card_pulled_during_the_meters_write_back_still_credits_once(
    card_slots: CardSlots,
    gateway_reader: CardReaderService,
    meter_reader: CardReaderService,
    now: datetime,
) -> None:
    card = blank_gateway_card()
    card_slots.insert(card, 0)
    await gateway_reader.write(open_card(now), require_blank=True)
    card_slots.carry(card, 1)
    card.pull_before = lambda apdu: apdu[1] == 0xD6  # pulled as the meter starts writing back
    first = await insert_card(meter_reader, MeterCardState(meter_number=METER), now)
    assert first.application.outcome is MeterOutcome.CREDITED and not first.return_written
    assert isinstance(first.error, CardRemovedError)
    assert first.state.remaining_fen == 10_000  # the meter loaded it before writing back
    card_slots.remove(card, 1)
    card_slots.insert(card, 1)
    second = await insert_card(meter_reader, first.state, now)
    assert second.application.outcome is MeterOutcome.RETURN_WRITE_ONLY and second.return_written
    assert second.state.remaining_fen == 10_000
    card_slots.carry(card, 0)
    assert (await gateway_reader.read_user_card()).purchase_loaded


async def test_blank_card(card_slots: CardSlots, gateway_reader: CardReaderService) -> None:
    card_slots.insert(blank_gateway_card(), 0)
    read = await gateway_reader.read()
    assert read.blank and read.content is None and read.medium == "cpu"
    with pytest.raises(NotAUserCardError) as err:
        await gateway_reader.read_user_card()
    assert err.value.code == "E004"
    assert err.value.message_zh == "【读用户卡（IC卡）】无返回信息"
    assert "该卡不是用户卡" in err.value.remedy_zh


async def test_foreign_card_is_never_written(
    card_slots: CardSlots, gateway_reader: CardReaderService, now: datetime
) -> None:
    card = foreign_card()
    card_slots.insert(card, 0)
    with pytest.raises(UnknownCardError) as err:
        await gateway_reader.read()
    assert err.value.code == "E406"
    with pytest.raises(NotAUserCardError):
        await gateway_reader.read_user_card()
    with pytest.raises(UnknownCardError):
        await gateway_reader.write(open_card(now), require_blank=True)
    with pytest.raises(UnknownCardError):
        await gateway_reader.clear()
    assert writes(card) == []


async def test_open_on_a_used_card_is_e002_until_cleared(
    card_slots: CardSlots, gateway_reader: CardReaderService, now: datetime
) -> None:
    card = blank_gateway_card()
    card_slots.insert(card, 0)
    await gateway_reader.write(open_card(now, serial=5), require_blank=True)
    before = issue_bytes(card)
    with pytest.raises(NotANewCardError) as err:
        await gateway_reader.write(open_card(now, serial=6), require_blank=True)
    assert err.value.code == "E002" and "清卡" in err.value.remedy_zh
    assert issue_bytes(card) == before
    await gateway_reader.clear(expect_serial=5)
    assert (await gateway_reader.read()).blank
    written = await gateway_reader.write(open_card(now, serial=6), require_blank=True)
    assert written.issue.serial == 6


async def test_a_swapped_card_is_not_written(
    card_slots: CardSlots, gateway_reader: CardReaderService, now: datetime
) -> None:
    card = blank_gateway_card()
    card_slots.insert(card, 0)
    await gateway_reader.write(open_card(now, serial=5), require_blank=True)
    purchase = dataclasses.replace(open_card(now, serial=5), kind=UserCardKind.PURCHASE)
    with pytest.raises(WrongCardError) as err:
        await gateway_reader.write(purchase, expect_serial=9)
    assert err.value.code == "E408"
    with pytest.raises(WrongCardError):
        await gateway_reader.clear(expect_serial=9)
    assert (await gateway_reader.read()).content is not None


@pytest.mark.parametrize("pull_at", ["first write", "commit"])
async def test_card_removed_mid_write_is_detected_and_the_write_can_be_retried(
    pull_at: str,
    blank: VirtualCard,
    card_slots: CardSlots,
    gateway_reader: CardReaderService,
    now: datetime,
) -> None:
    card_slots.insert(blank, 0)
    card = open_card(now)

    def pull(apdu: bytes) -> bool:
        if apdu[1] not in (0xD6, 0xD0):
            return False
        is_commit = apdu[4] == 1
        return is_commit if pull_at == "commit" else not is_commit

    blank.pull_before = pull
    with pytest.raises(CardRemovedError) as err:
        await gateway_reader.write(card, require_blank=True)
    assert err.value.code == "E405" and "不要拔卡" in err.value.remedy_zh
    card_slots.remove(blank, 0)

    card_slots.insert(blank, 0)
    if pull_at == "commit":
        with pytest.raises(IncompleteWriteError) as torn:
            await gateway_reader.read()
        assert torn.value.code == "E411" and torn.value.serial == card.serial
        with pytest.raises(IncompleteWriteError):
            await gateway_reader.read_user_card()
    else:
        assert (await gateway_reader.read()).blank
    written = await gateway_reader.write(card, require_blank=True)  # the retry
    assert written.issue == card
    assert (await gateway_reader.read_user_card()).issue == card


async def test_state_grid_card_is_shown_and_never_written(
    card_slots: CardSlots, gateway_reader: CardReaderService, now: datetime
) -> None:
    data = bytes.fromhex("01") + bytes.fromhex("000012345678") + bytes.fromhex("000000000042")
    ef1 = bytes([0x68, 0x11, 0x00, len(data)]) + data
    ef1 += bytes([sum(ef1[1:]) & 0xFF, 0x16]) + bytes(8)
    card = state_grid_user_card({1: ef1, 2: bytes(8), 5: bytes(49)}, protected={2})
    card_slots.insert(card, 0)
    read = await gateway_reader.read()
    assert read.medium == "state_grid" and read.state_grid is not None and not read.blank
    files = {f.sfi: f for f in read.state_grid.files}
    assert files[1].framed is not None
    assert files[1].framed.command == 0x11 and files[1].framed.data == data
    assert files[2].raw is None and files[2].status == 0x6982  # wallet: not in plaintext
    assert files[5].raw == bytes(49) and files[3].raw is None
    with pytest.raises(CardReadOnlyError) as err:
        await gateway_reader.write(open_card(now), require_blank=True)
    assert err.value.code == "E414"
    with pytest.raises(CardReadOnlyError):
        await gateway_reader.clear()
    with pytest.raises(NotAUserCardError):
        await gateway_reader.read_user_card()
    assert writes(card) == []


async def test_wrong_psc_is_never_presented_twice(
    card_slots: CardSlots, gateway_reader: CardReaderService, now: datetime
) -> None:
    card = Sle4442Card(psc=bytes.fromhex("123456"))
    card_slots.insert(card, 0)
    assert (await gateway_reader.read()).blank  # reading needs no PSC
    with pytest.raises(WrongPscError) as err:
        await gateway_reader.write(open_card(now), require_blank=True)
    assert err.value.code == "E416" and err.value.tries_left == 2
    assert "不会再次尝试" in err.value.remedy_zh
    for _ in range(3):
        with pytest.raises(WrongPscError):
            await gateway_reader.write(open_card(now), require_blank=True)
        with pytest.raises(WrongPscError):
            await gateway_reader.clear()
    assert card.psc_presentations == 1
    assert card.error_counter == 0b110  # two tries left: the card is not locked
    assert writes(card) == []


async def test_locked_memory_card(
    card_slots: CardSlots, gateway_reader: CardReaderService, now: datetime
) -> None:
    card = Sle4442Card()
    card.error_counter = 0
    card_slots.insert(card, 0)
    with pytest.raises(CardLockedError) as err:
        await gateway_reader.write(open_card(now), require_blank=True)
    assert err.value.code == "E417"
    assert card.psc_presentations == 0


async def test_backend_setting_refuses_the_other_medium(
    card_slots: CardSlots, key: SiteKey
) -> None:
    cpu_only = CardReaderService(
        CardReaderConfig(reader=GATEWAY_READER, backend="cpu", site_key="secret:x"), key
    )
    sle_only = CardReaderService(
        CardReaderConfig(reader=GATEWAY_READER, backend="sle4442", site_key="secret:x"), key
    )
    with card_slots.inserted(Sle4442Card(), 0):
        with pytest.raises(UnknownCardError):
            await cpu_only.read()
        assert (await sle_only.read()).medium == "sle4442"
    with card_slots.inserted(blank_gateway_card(), 0), pytest.raises(UnknownCardError):
        await sle_only.read()


async def test_no_card_and_reader_selection(card_slots: CardSlots, key: SiteKey) -> None:
    def service(reader: str) -> CardReaderService:
        config = CardReaderConfig(reader=reader, site_key="secret:x", connect_retry_ms=50)
        return CardReaderService(config, key)

    with pytest.raises(NoCardError) as err:
        await service(GATEWAY_READER).read()
    assert err.value.code == "E404"
    with pytest.raises(ReaderNotFoundError, match="ACR38") as missing:
        await service("ACR38").read()
    assert missing.value.code == "E403"
    with pytest.raises(ReaderNotFoundError, match="2 readers"):
        await service("").read()
    with pytest.raises(ReaderNotFoundError, match="several"):
        await service("virtual pcd").read()
    assert await service("pcd 00 01").reader_name() == "Virtual PCD 00 01"


async def test_read_right_after_insert_retries_the_connect(pcscd: Pcscd, key: SiteKey) -> None:
    # pcscd notices a vpcd card only at its next poll (400 ms); a generous retry window keeps
    # this robust on a loaded machine, while without any retry the read fails at once.
    config = CardReaderConfig(reader=GATEWAY_READER, site_key="secret:x", connect_retry_ms=5000)
    service = CardReaderService(config, key)
    card = blank_gateway_card()
    card.insert(0)  # no waiting for pcscd to notice: the service retries the connect
    try:
        assert (await service.read()).blank
    finally:
        card.remove()
        wait_card_state(GATEWAY_READER, present=False)


async def test_monitor_reports_insert_and_remove(
    card_slots: CardSlots, gateway_reader: CardReaderService
) -> None:
    card = blank_gateway_card()
    async with gateway_reader.monitor(poll_s=0.2) as monitor:
        await asyncio.to_thread(card_slots.insert, card, 0)
        async with asyncio.timeout(15):
            inserted = await monitor.wait_for("inserted", GATEWAY_READER)
        assert inserted.atr == card.atr
        assert monitor.present == {GATEWAY_READER: card.atr}
        await asyncio.to_thread(card_slots.remove, card, 0)
        async with asyncio.timeout(15):
            removed = await monitor.wait_for("removed", GATEWAY_READER)
        assert removed.reader == GATEWAY_READER and monitor.present == {}


def test_every_error_has_code_and_bilingual_remedy() -> None:
    from gateway.cards import errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, CardError)]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), "codes are unique"
    for cls in classes:
        assert len(cls.code) == 4 and cls.code[0] == "E" and cls.code[1:].isdigit()
        assert cls.remedy_zh and cls.remedy_en and cls.message_zh
        assert cls().describe().startswith(cls.code)
