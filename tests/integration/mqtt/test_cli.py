"""The command-line tools an integrator and a site technician use."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from pathlib import Path

import aiosqlite
import pytest

from gateway.cli.main import main
from gateway.sync.client import SyncClient
from tests.integration.mqtt.helpers import (
    GATEWAY,
    KEY_HEX,
    SITE,
    gateway_config,
    open_gateway_db,
    running,
    sell,
    wait_for,
)
from tests.support.mosquitto import Broker

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.key"
    path.write_text(KEY_HEX + "\n")
    return path


def test_outbox_export_import_receipt_from_the_command_line(
    tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gw = tmp_path / "gateway.db"

    async def fill() -> None:
        conn = await open_gateway_db(gw)
        for n in range(1, 11):
            await sell(conn, n, "sales" if n % 2 else "refunds")
        await conn.close()

    asyncio.run(fill())
    stick = tmp_path / "outbox.jsonl"
    ids = ["--database", str(gw), "--site", SITE, "--gateway", GATEWAY, "--key-file", str(key_file)]
    assert main(["outbox", "export", str(stick), *ids]) == 0
    assert "wrote 10 events" in capsys.readouterr().out

    master_db, receipt = tmp_path / "master.db", tmp_path / "receipt.json"
    imp = [
        "outbox",
        "import",
        str(stick),
        "--database",
        str(master_db),
        "--key-file",
        str(key_file),
    ]
    assert main([*imp, "--receipt", str(receipt)]) == 0
    assert "10 new, 0 already stored" in capsys.readouterr().out
    assert (
        main(
            [
                "master-sim",
                "import",
                str(stick),
                "--database",
                str(master_db),
                "--key-file",
                str(key_file),
            ]
        )
        == 0
    )
    assert "0 new, 10 already stored" in capsys.readouterr().out
    with sqlite3.connect(master_db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (10,)

    assert main(["outbox", "apply-receipt", str(receipt), *ids]) == 0
    capsys.readouterr()
    assert main(["outbox", "status", "--database", str(gw), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == 0
    assert status["streams"]["sales"] == {"seq": 5, "acked": 5, "pending": 0}

    # Without the key the file is not trusted: a clear refusal, nothing stored.
    other = tmp_path / "other.db"
    assert main(["outbox", "import", str(stick), "--database", str(other)]) == 1
    assert "key-file" in capsys.readouterr().err
    assert not other.exists()


async def test_master_sim_run_and_send_against_a_live_gateway(
    mosquitto: Broker, gw_db: aiosqlite.Connection, tmp_path: Path, key_file: Path
) -> None:
    class Handler:
        async def handle(self, name: str, command: dict[str, object]) -> dict[str, object]:
            return {"credited_fen": command["args"]["amount_fen"]}  # type: ignore[index]

    master_db = tmp_path / "master.db"
    broker = ["--broker", f"{mosquitto.host}:{mosquitto.port}"]
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "master-sim", *broker,
        "--database", str(master_db), "--summary-every", "1",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        for n in range(1, 6):
            await sell(gw_db, n)
        client = SyncClient(
            gateway_config(mosquitto.host, mosquitto.port), gw_db, handler=Handler()
        )
        async with running(client):
            await wait_for(
                lambda: client.state.outbox_depth == 0 and client.state.acked == 5,
                30,
                "acks from master-sim",
            )
            send = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "master-sim", "send", "vend", *broker,
                "--gateway", GATEWAY, "--key-file", str(key_file), "--id", "cli-1",
                "--json", '{"account_id": "A1", "amount_fen": 2500}',
                cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(send.communicate(), 60)
            assert send.returncode == 0, err.decode()
            result = json.loads(out)
            assert result["id"] == "cli-1"
            assert result["result"] == {"credited_fen": 2500}

            unsigned = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "master-sim", "send", "vend", *broker,
                "--gateway", GATEWAY, "--unsigned",
                "--json", '{"account_id": "A1", "amount_fen": 1}',
                cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(unsigned.communicate(), 60)
            assert unsigned.returncode == 1
            assert json.loads(out)["error"]["code"] == "E704"

        def offline_seen() -> bool:
            with sqlite3.connect(master_db) as conn:
                row = conn.execute("SELECT state FROM gateways").fetchone()
            return row == ("offline",)

        await wait_for(offline_seen, 30, "master-sim records the shutdown")
    finally:
        if sim.returncode is None:
            sim.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(sim.communicate(), 30)
    assert sim.returncode == 0, err.decode()
    printed = out.decode()
    assert f"{SITE}/{GATEWAY} online" in printed
    assert f"{SITE}/{GATEWAY} offline (shutdown" in printed
    with sqlite3.connect(master_db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (5,)
