"""`prepaid-gateway db ...` as a site technician uses it (in-process, exit codes and output)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.store import LATEST_VERSION
from gateway.store.migrations import apply


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def make_release_one(path: Path) -> None:
    raw = sqlite3.connect(path, isolation_level=None)
    apply(raw, target=1)
    raw.close()


async def test_init_check_backup_restore_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live = tmp_path / "data" / "gateway.sqlite"
    monkeypatch.setenv("PREPAID_GATEWAY_DB", str(live))
    code, out, _ = await cli(capsys, "db", "init")
    assert code == 0 and f"schema {LATEST_VERSION}" in out and "operator" in out
    code, out, _ = await cli(capsys, "db", "check")
    assert code == 0 and out.startswith("ok:")

    backup = tmp_path / "usb" / "gateway-1.db"
    await asyncio.to_thread(backup.parent.mkdir)
    code, out, _ = await cli(capsys, "db", "backup", str(backup))
    assert code == 0 and "wrote" in out
    code, _, err = await cli(capsys, "db", "backup", str(backup))
    assert code == 1 and "E316" in err  # never overwrites silently

    code, _, err = await cli(capsys, "db", "restore", str(backup))
    assert code == 2 and "--yes" in err  # not a terminal: confirmation required
    code, out, _ = await cli(capsys, "db", "restore", str(backup), "--yes")
    assert code == 0 and "pre-restore" in out

    junk = tmp_path / "junk.db"
    await asyncio.to_thread(junk.write_bytes, b"\x00" * 4096)
    code, _, err = await cli(capsys, "db", "restore", str(junk), "--yes")
    assert code == 1
    assert "E302" in err and "处理" in err and "remedy" in err
    code, out, _ = await cli(capsys, "db", "check", "--quick")
    assert code == 0


async def test_migrate_and_check_an_older_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.sqlite"
    await asyncio.to_thread(make_release_one, path)
    code, out, _ = await cli(capsys, "db", "check", "--database", str(path))
    assert code == 1 and "run `prepaid-gateway db migrate`" in out
    code, out, _ = await cli(capsys, "db", "migrate", "--database", str(path))
    assert code == 0 and f"schema 1 -> {LATEST_VERSION}" in out
    code, out, _ = await cli(capsys, "db", "check", "--database", str(path))
    assert code == 0, out


async def test_check_of_a_missing_file_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await cli(capsys, "db", "check", "--database", str(tmp_path / "nothing.sqlite"))
    assert code == 1 and "no such database file" in err


async def test_database_path_comes_from_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREPAID_GATEWAY_DB", raising=False)
    config = tmp_path / "gateway.toml"
    target = tmp_path / "from-config.sqlite"
    await asyncio.to_thread(config.write_text, f'[database]\npath = "{target}"\n', "utf-8")
    code, _, _ = await cli(capsys, "db", "init", "--config", str(config))
    assert code == 0
    assert await asyncio.to_thread(target.is_file)
    await asyncio.to_thread(config.write_text, "[database]\npaht = 'typo'\n", "utf-8")
    code, _, err = await cli(capsys, "db", "check", "--config", str(config))
    assert code == 2 and "database.paht" in err
