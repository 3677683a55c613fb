"""State round trip: a meter saved and loaded is the same meter, down to the sub-fen carry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from gateway.dlt645 import commands as cmd
from gateway.simulator import Faults, VirtualMeter, state
from gateway.simulator.errors import BadStateFileError
from tests.unit.simulator.helpers import ADDR, NOW, opened_meter, recharge, relay

HOUR = dt.timedelta(hours=1)


def busy_meter() -> VirtualMeter:
    meter = opened_meter(price_e4=5_123, split_blocks=True, faults=Faults(garble=True, seed=3))
    recharge(meter, 777, 2)
    relay(meter, cmd.RelayAction.KEEP_POWER_ON)
    relay(meter, cmd.RelayAction.ALARM_ON)
    meter.clock_offset = dt.timedelta(seconds=-90)
    meter.advance(dt.timedelta(minutes=95, microseconds=17), NOW)
    ask_auth = cmd.identity_auth(ADDR, "0", bytes(8), bytes(8), bytes(8))
    meter.handle(ask_auth, NOW)
    meter.handle(cmd.freeze(ADDR), NOW)
    return meter


def test_round_trip_keeps_everything_and_behaves_the_same() -> None:
    meter = busy_meter()
    data = json.loads(json.dumps(meter.to_dict()))  # survives JSON
    copy = VirtualMeter.from_dict(data)
    assert copy.to_dict() == meter.to_dict()
    for m in (meter, copy):
        m.advance(3 * HOUR, NOW + 3 * HOUR)
    assert copy.to_dict() == meter.to_dict()
    assert copy.remaining < 10_777  # it did consume


def test_save_and_load_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    meters = [busy_meter(), VirtualMeter("000000000002", wallet="energy")]
    state.save(path, meters)
    loaded = state.load(path)
    assert [m.to_dict() for m in loaded] == [m.to_dict() for m in meters]
    assert [p.name for p in tmp_path.iterdir()] == ["sim.json"]  # no temporary file left


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        ('{"version": 99, "meters": []}', "version"),
        ('{"version": 1, "meters": []}', "no meters"),
        ('{"version": 1, "meters": [{"address": "1"}]}', "lacks key"),
    ],
)
def test_bad_state_files_are_named_errors(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "sim.json"
    path.write_text(content)
    with pytest.raises(BadStateFileError, match=problem) as caught:
        state.load(path)
    assert caught.value.code == "E141"
    assert path.read_text() == content  # left untouched


def test_bad_values_name_their_key(tmp_path: Path) -> None:
    data = state.dump([VirtualMeter(ADDR)])
    data["meters"][0]["remaining"] = -5
    with pytest.raises(BadStateFileError, match="remaining"):
        state.restore(data)
    data = state.dump([VirtualMeter(ADDR), VirtualMeter(ADDR)])
    with pytest.raises(BadStateFileError, match="share an address"):
        state.restore(data)
