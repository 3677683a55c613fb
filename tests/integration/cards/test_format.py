"""The card format: every card type round-trips, and nothing forged or edited gets through."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import pytest

from gateway.cards import (
    CardContent,
    CardReaderConfig,
    IssueCard,
    MeterCardState,
    MeterChangeCard,
    MeterOutcome,
    QueryCard,
    RefundCard,
    RelayCard,
    RelayCommand,
    ResetCard,
    SettingsCard,
    SiteKey,
    UserCard,
    UserCardKind,
    apply_card,
    derive_site_key,
    load_site_key,
)
from gateway.cards.errors import (
    CardFormatError,
    CardMacError,
    IncompleteWriteError,
    ReturnNotWrittenError,
    SiteKeyError,
    UnknownCardError,
)
from gateway.cards.format import (
    ISSUE_FILE_LEN,
    RETURN_FILE_LEN,
    decode_card,
    decode_issue,
    decode_return,
    encode_card,
    encode_issue,
    encode_return,
)
from gateway.typedconfig import ConfigError, from_dict

T0 = datetime(2025, 3, 1, 10, 0, 0)


def every_card() -> list[IssueCard]:
    head = {"meter_number": "123456789012", "customer_number": "42", "issued_at": T0}
    return [
        UserCard(serial=7, **head, kind=UserCardKind.OPEN, purchase_count=1, amount_fen=10_000),
        UserCard(serial=7, **head, kind=UserCardKind.PURCHASE, purchase_count=9, amount_fen=1),
        UserCard(serial=8, **head, kind=UserCardKind.REISSUE, purchase_count=9, amount_fen=0),
        SettingsCard(
            serial=9,
            **head,
            alarm1_fen=3000,
            alarm2_fen=1000,
            overdraft_limit_fen=500,
            hoarding_limit_fen=None,
            close_allowed_fen=0,
            price_1e4=5880,
        ),
        QueryCard(serial=10, **head),
        ResetCard(serial=11, **head),
        RelayCard(serial=12, **head, command=RelayCommand.CLOSE),
        RefundCard(serial=7, **head),
        MeterChangeCard(serial=13, **head, new_meter_number="999", user_card_serial=7),
    ]


@pytest.mark.parametrize("card", every_card(), ids=lambda c: type(c).__name__)
def test_every_card_type_round_trips(card: IssueCard, key: SiteKey) -> None:
    raw = encode_issue(card, key)
    assert len(raw) == ISSUE_FILE_LEN
    assert decode_issue(raw, key) == card


def test_docs_worked_example() -> None:
    """The bytes and MACs printed in docs/cards.md, section "Worked example"."""
    key = derive_site_key(b"demo-site-secret")
    assert key.key.hex() == "a9e60f3843307df88d3eb575aeb81bc1ef9804213284dc45615597756ea15026"
    card = UserCard(
        serial=1001,
        meter_number="12345678",
        customer_number="42",
        issued_at=T0,
        kind=UserCardKind.PURCHASE,
        purchase_count=2,
        amount_fen=5000,
    )
    raw = encode_issue(card, key)
    assert raw[:39].hex(" ") == (
        "50 47 43 31 01 02 00 00 00 00 00 00 03 e9 00 00 12 34 56 78 "
        "00 00 00 00 00 42 25 03 01 10 00 00 06 00 02 00 00 13 88"
    )
    assert raw[39:47].hex(" ") == "0d 62 fa 4b 55 98 7f 97"
    assert raw[47:95] == bytes(48) and raw[95] == 0xC3
    meter = MeterCardState(
        meter_number="12345678",
        customer_number="42",
        card_serial=1001,
        account_opened=True,
        remaining_fen=1234,
        purchase_count=1,
        total_purchased_fen=10000,
        total_energy_ckwh=45678,
        price_1e4=5880,
    )
    app = apply_card(meter, CardContent(card), datetime(2025, 3, 2, 8, 30, 15))
    assert app.outcome is MeterOutcome.CREDITED and app.state.remaining_fen == 6234
    assert app.card.ret is not None
    ret = encode_return(app.card.ret, 1001, key)
    assert ret.hex(" ") == (
        "52 01 00 00 12 34 56 78 00 00 00 00 00 42 00 02 00 00 18 5a 00 00 00 00 00 00 3a 98 "
        "00 00 b2 6e 00 00 07 d0 00 00 03 e8 00 00 00 00 05 f5 e0 ff 00 00 00 00 00 00 16 f8 "
        "00 01 25 03 02 08 30 00 cc 4a 6d 62 14 3d 45 d7"
    )


def test_any_edited_byte_of_the_issue_file_is_refused(key: SiteKey) -> None:
    card = every_card()[1]
    raw = encode_issue(card, key)
    signed_and_mac = 33 + 6 + 8  # header, user card body, MAC
    for i in range(signed_and_mac):
        edited = bytearray(raw)
        edited[i] ^= 0x01
        with pytest.raises((CardMacError, UnknownCardError)):
            decode_issue(bytes(edited), key)


def test_a_card_issued_with_another_sites_key_is_refused(key: SiteKey) -> None:
    other = derive_site_key(b"another site")
    raw = encode_issue(every_card()[0], other)
    with pytest.raises(CardMacError) as err:
        decode_issue(raw, key)
    assert err.value.code == "E410"


def test_more_money_written_without_the_key_is_refused(key: SiteKey) -> None:
    card = every_card()[1]
    raw = bytearray(encode_issue(card, key))
    raw[35:39] = (99_999_99).to_bytes(4, "big")  # amount field of a user card
    with pytest.raises(CardMacError):
        decode_issue(bytes(raw), key)


def test_return_area_is_bound_to_the_card_serial(key: SiteKey) -> None:
    meter = MeterCardState(meter_number="123456789012")
    ret = meter.snapshot(MeterOutcome.QUERIED, T0)
    raw = encode_return(ret, 7, key)
    assert len(raw) == RETURN_FILE_LEN
    assert decode_return(raw, 7, key) == ret
    with pytest.raises(CardMacError):
        decode_return(raw, 8, key)  # copied onto another card
    edited = bytearray(raw)
    edited[18] ^= 0x40  # remaining money
    with pytest.raises(CardMacError):
        decode_return(bytes(edited), 7, key)


def test_blank_incomplete_and_foreign_issue_files(key: SiteKey) -> None:
    assert decode_issue(bytes(ISSUE_FILE_LEN), key) is None
    assert decode_issue(b"\xff" * ISSUE_FILE_LEN, key) is None
    torn = encode_issue(every_card()[0], key, committed=False)
    with pytest.raises(IncompleteWriteError) as err:
        decode_issue(torn, key)
    assert err.value.serial == 7 and err.value.code == "E411"
    with pytest.raises(UnknownCardError):
        decode_issue(b"BANK" + bytes(ISSUE_FILE_LEN - 4), key)


def test_encode_card_and_decode_card(key: SiteKey) -> None:
    card = every_card()[0]
    content = CardContent(card)
    issue, ret = encode_card(content, key)
    assert ret == bytes(RETURN_FILE_LEN)
    assert decode_card(issue, ret, key) == content
    assert decode_card(bytes(ISSUE_FILE_LEN), ret, key) is None
    with pytest.raises(ReturnNotWrittenError) as err:
        content.require_return()
    assert err.value.code == "E409"


def test_a_damaged_return_file_does_not_hide_the_card(key: SiteKey) -> None:
    card = every_card()[1]
    ret = MeterCardState(meter_number="123456789012").snapshot(MeterOutcome.QUERIED, T0)
    issue_raw, ret_raw = encode_card(CardContent(card, ret), key)
    torn = ret_raw[:40] + bytes(32)  # the meter's write-back interrupted
    content = decode_card(issue_raw, torn, key)
    assert content is not None and content.issue == card
    assert content.ret is None and content.ret_damaged and not content.purchase_loaded
    with pytest.raises(CardMacError):
        content.require_return()


@pytest.mark.parametrize(
    "change",
    [
        {"meter_number": "12345678901234"},
        {"customer_number": "12a"},
        {"amount_fen": -1},
        {"amount_fen": 100_000_000},
        {"purchase_count": 70_000},
        {"serial": -1},
        {"issued_at": datetime(1999, 12, 31)},
    ],
)
def test_bad_values_get_a_clear_error(change: dict[str, object]) -> None:
    card = every_card()[1]
    with pytest.raises(CardFormatError) as err:
        dataclasses.replace(card, **change)
    assert err.value.code == "E415"
    assert "请检查" in err.value.remedy_zh and "check" in err.value.remedy_en


def test_settings_alarm_order_is_checked() -> None:
    with pytest.raises(CardFormatError):
        SettingsCard(
            serial=1,
            meter_number="1",
            customer_number="0",
            issued_at=T0,
            alarm1_fen=1,
            alarm2_fen=2,
        )


def test_site_key_sources(tmp_path: Path) -> None:
    secret = tmp_path / "site-secret"
    secret.write_bytes(b"s3cret\n")
    from_file = load_site_key(f"file:{secret}")
    assert from_file == load_site_key("secret:s3cret") == load_site_key("env:S", {"S": "s3cret"})
    assert from_file != load_site_key("secret:s3cret2")
    assert "s3cret" not in repr(from_file)
    for bad in ("file:/nonexistent/secret", "env:NOPE", "s3cret", "secret:"):
        with pytest.raises(SiteKeyError) as err:
            load_site_key(bad, {})
        assert err.value.code == "E418"


def test_config_section_is_validated() -> None:
    cfg = from_dict(CardReaderConfig, {"reader": "ACR38", "sle4442_psc": "A1B2C3"}, "cards")
    assert cfg.psc == bytes.fromhex("A1B2C3") and cfg.backend == "auto"
    with pytest.raises(ConfigError, match=r"cards\.sle4442_psc"):
        from_dict(CardReaderConfig, {"sle4442_psc": "FFFF"}, "cards")
    with pytest.raises(ConfigError, match=r"cards\.backend"):
        from_dict(CardReaderConfig, {"backend": "nfc"}, "cards")
    with pytest.raises(ConfigError, match=r"cards\.site_key"):
        from_dict(CardReaderConfig, {"site_key": "/etc/secret"}, "cards")
