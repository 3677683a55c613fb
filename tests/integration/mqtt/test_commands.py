"""Commands from the cloud: only valid, authorised, signed, fresh commands reach the handler."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta

import aiosqlite
import pytest

from gateway.sync import errors
from gateway.sync.client import SyncClient
from gateway.sync.commands import CommandRefused
from gateway.sync.contract import sign, validate
from gateway.sync.master import MasterStation
from tests.integration.mqtt.helpers import GATEWAY, KEY, SITE, gateway_config, running
from tests.support.mosquitto import Broker

ACCOUNT_CLOSED = errors.ErrorInfo(
    "E599", "Account closed.", "账户已注销。", "Open a new account.", "请重新开户。"
)


class RecordingHandler:
    """Stands in for the services: credits a wallet and remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []
        self.balance_fen = 0

    async def handle(self, name: str, command: Mapping[str, object]) -> Mapping[str, object]:
        self.calls.append((name, dict(command)))
        args = command["args"]
        assert isinstance(args, dict)
        if name == "vend":
            if args["account_id"] == "CLOSED":
                raise CommandRefused(ACCOUNT_CLOSED)
            self.balance_fen += int(args["amount_fen"])
            return {"credited_fen": args["amount_fen"], "balance_fen": self.balance_fen}
        return {"done": name}


@pytest.fixture
async def gateway(
    mosquitto: Broker, master: MasterStation, gw_db: aiosqlite.Connection
) -> AsyncIterator[tuple[SyncClient, RecordingHandler]]:
    handler = RecordingHandler()
    config = gateway_config(
        mosquitto.host,
        mosquitto.port,
        allowed_commands=["vend", "read_now", "customer_upsert", "keep_power"],
    )
    client = SyncClient(config, gw_db, handler=handler)
    async with running(client):
        await master.wait_until(lambda: (SITE, GATEWAY) in master.status, 20)
        yield client, handler


VEND = {"account_id": "A0001", "amount_fen": 5000}


def assert_refused(result: Mapping[str, object], code: str) -> None:
    validate("result", result)
    assert result["ok"] is False
    error = result["error"]
    assert isinstance(error, dict)
    assert error["code"] == code
    assert error["message"]["zh"] and error["remedy"]["en"]


async def test_signed_vend_sent_twice_credits_once_and_both_results_say_so(
    master: MasterStation, gateway: tuple[SyncClient, RecordingHandler]
) -> None:
    _, handler = gateway
    command = master.build_command(SITE, GATEWAY, "vend", VEND, key=KEY, command_id="cmd-vend-1")
    first = await master.send(SITE, GATEWAY, command)
    second = await master.send(SITE, GATEWAY, command)
    for result in (first, second):
        validate("result", result)
        assert result["ok"] is True
        assert result["id"] == "cmd-vend-1"
        assert result["result"] == {"credited_fen": 5000, "balance_fen": 5000}
    assert first["duplicate"] is False and second["duplicate"] is True
    assert handler.balance_fen == 5000
    assert [name for name, _ in handler.calls] == ["vend"]
    assert handler.calls[0][1]["id"] == "cmd-vend-1"  # the services' idempotency key


async def test_money_commands_without_a_valid_fresh_signature_change_nothing(
    master: MasterStation, gateway: tuple[SyncClient, RecordingHandler]
) -> None:
    _, handler = gateway
    now = datetime.now(UTC)
    unsigned = master.build_command(SITE, GATEWAY, "vend", VEND, key=None)
    assert_refused(await master.send(SITE, GATEWAY, unsigned), "E704")

    tampered = master.build_command(SITE, GATEWAY, "vend", VEND, key=KEY)
    tampered["args"] = {"account_id": "A0001", "amount_fen": 500000}
    assert_refused(await master.send(SITE, GATEWAY, tampered), "E705")

    wrong_key = master.build_command(SITE, GATEWAY, "vend", VEND, key=b"k" * 32)
    assert_refused(await master.send(SITE, GATEWAY, wrong_key), "E705")

    replayed = master.build_command(
        SITE, GATEWAY, "vend", VEND, key=KEY, issued_at=now - timedelta(minutes=20)
    )
    assert_refused(await master.send(SITE, GATEWAY, replayed), "E706")

    expired = master.build_command(
        SITE, GATEWAY, "vend", VEND, key=KEY,
        issued_at=now - timedelta(minutes=2), expires_in=timedelta(minutes=1),
    )  # fmt: skip
    assert_refused(await master.send(SITE, GATEWAY, expired), "E707")

    elsewhere = master.build_command(SITE, "gw-other", "vend", VEND, key=KEY)
    assert_refused(await master.send(SITE, GATEWAY, elsewhere), "E709")

    assert handler.calls == []
    assert handler.balance_fen == 0


async def test_reused_id_with_other_content_is_refused(
    master: MasterStation, gateway: tuple[SyncClient, RecordingHandler]
) -> None:
    _, handler = gateway
    first = await master.send_command(SITE, GATEWAY, "vend", VEND, key=KEY, command_id="same-id")
    assert first["ok"] is True
    other = {"account_id": "A0001", "amount_fen": 9900}
    again = await master.send_command(SITE, GATEWAY, "vend", other, key=KEY, command_id="same-id")
    assert_refused(again, "E708")
    assert handler.balance_fen == 5000


async def test_malformed_unknown_and_not_allowed_commands_get_error_results(
    master: MasterStation, gateway: tuple[SyncClient, RecordingHandler]
) -> None:
    _, handler = gateway
    waiting = master.expect_result(None)
    await master.publish_raw(SITE, GATEWAY, "vend", b"{not json")
    assert_refused(await waiting, "E701")

    body = master.build_command(SITE, GATEWAY, "vend", VEND, key=None, command_id="float-1")
    raw = json.dumps(body).replace('"amount_fen": 5000', '"amount_fen": 50.0')
    body["signature"] = sign(body, KEY)  # even validly signed, a float is refused
    waiting = master.expect_result("float-1")
    await master.publish_raw(SITE, GATEWAY, "vend", raw.encode())
    assert_refused(await waiting, "E701")

    missing = master.build_command(SITE, GATEWAY, "vend", {"account_id": "A1"}, key=KEY)
    assert_refused(await master.send(SITE, GATEWAY, missing), "E701")

    unknown = master.build_command(SITE, GATEWAY, "vend", VEND, key=KEY, command_id="fmt-1")
    waiting = master.expect_result("fmt-1")
    await master.publish_raw(SITE, GATEWAY, "format_disk", json.dumps(unknown).encode())
    result = await waiting
    assert_refused(result, "E702")
    assert result["command"] == "format_disk"

    relay = {"meter": "000000000042", "action": "open"}
    not_allowed = master.build_command(SITE, GATEWAY, "relay", relay, key=KEY)
    assert_refused(await master.send(SITE, GATEWAY, not_allowed), "E703")
    assert handler.calls == []


async def test_unsigned_read_command_runs_and_business_refusals_are_remembered(
    master: MasterStation, gateway: tuple[SyncClient, RecordingHandler]
) -> None:
    _, handler = gateway
    read = await master.send_command(
        SITE, GATEWAY, "read_now", {"meters": ["000000000042"]}, key=None
    )
    assert read["ok"] is True and read["result"] == {"done": "read_now"}

    closed = master.build_command(
        SITE, GATEWAY, "vend", {"account_id": "CLOSED", "amount_fen": 1}, key=KEY
    )
    first = await master.send(SITE, GATEWAY, closed)
    second = await master.send(SITE, GATEWAY, closed)
    assert_refused(first, "E599")
    assert_refused(second, "E599")
    assert second["duplicate"] is True
    assert [name for name, _ in handler.calls] == ["read_now", "vend"]
