"""The contract documents are real: schemas load, docs examples validate, AsyncAPI resolves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from gateway.sync import errors
from gateway.sync.config import MqttConfig
from gateway.sync.contract import (
    COMMANDS,
    SCHEMA_NAMES,
    STREAMS,
    ContractError,
    canonical_json,
    load_schema,
    sign,
    validate,
    verify,
)
from gateway.sync.timing import Backoff
from gateway.typedconfig import ConfigError, from_dict

DOCS = Path(__file__).resolve().parents[3] / "docs"
MQTT_MD = (DOCS / "mqtt.md").read_text("utf-8")


def blocks(marker: str) -> list[str]:
    """Fenced blocks right after ``<!-- marker -->`` in docs/mqtt.md."""
    pattern = re.compile(r"<!-- " + re.escape(marker) + r" -->\n```\w*\n(.*?)```", re.S)
    return pattern.findall(MQTT_MD)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_schema_is_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(load_schema(name))


def test_every_stream_and_command_has_its_schema() -> None:
    assert {f"payload-{s}" for s in STREAMS} <= set(SCHEMA_NAMES)
    assert {f"args-{c}" for c in COMMANDS} <= set(SCHEMA_NAMES)
    common = load_schema("common")["$defs"]
    assert tuple(common["stream"]["enum"]) == STREAMS
    assert tuple(common["command_name"]["enum"]) == COMMANDS


def test_every_example_in_the_docs_validates_against_its_schema() -> None:
    found = re.findall(r"<!-- example: ([\w-]+) -->", MQTT_MD)
    assert {"status", "event", "ack", "telemetry-readings", "command", "result"} <= set(found)
    for name in set(found):
        for text in blocks(f"example: {name}"):
            validate(name, json.loads(text))


def test_a_float_or_a_missing_tariff_version_fails_the_event_schema() -> None:
    event = json.loads(blocks("example: event")[0])
    event["payload"]["amount_fen"] = 50.0
    with pytest.raises(ContractError, match="floats"):
        validate("event", event)
    del event["payload"]["tariff_version"]
    event["payload"]["amount_fen"] = 5000
    with pytest.raises(ContractError, match="tariff_version"):
        validate("event", event)


def test_the_signing_worked_example_is_correct() -> None:
    key = bytes.fromhex(blocks("signing: key")[0].strip())
    canonical = blocks("signing: canonical")[0].strip()
    signature = blocks("signing: signature")[0].strip()
    command = json.loads(blocks("example: command")[0])
    body = {k: v for k, v in command.items() if k != "signature"}
    assert canonical_json(body).decode() == canonical
    assert sign(command, key) == signature == command["signature"]
    assert verify(command, key)
    assert not verify({**command, "issued_at": "2025-03-01T08:30:01.000000Z"}, key)


def test_every_sync_error_code_is_documented() -> None:
    for info in errors.ALL:
        assert info.code in MQTT_MD, info.code
        assert info.en and info.zh and info.remedy_en and info.remedy_zh


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if "$ref" in node else []
        return out + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_asyncapi_document_parses_and_every_reference_resolves() -> None:
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text("utf-8"))
    assert doc["asyncapi"].startswith("3.")
    assert doc["info"]["version"] == "1.0"
    addresses = {c["address"].split("{gateway_id}/", 1)[1] for c in doc["channels"].values()}
    assert addresses == {
        "status",
        "events/{stream}",
        "ack/{stream}",
        "telemetry/readings",
        "cmd/{name}",
        "cmd/{name}/result",
    }
    params = doc["components"]["parameters"]
    assert tuple(params["stream"]["enum"]) == STREAMS
    assert tuple(params["command_name"]["enum"]) == COMMANDS
    for ref in _refs(doc):
        if ref.startswith("#/"):
            node: Any = doc
            for part in ref[2:].split("/"):
                node = node[part]
        else:
            target = (DOCS / ref).resolve()
            assert target.is_file(), ref
            assert target.stem in SCHEMA_NAMES


def test_backoff_grows_with_jitter_and_caps() -> None:
    draws = iter([0.0, 1.0, 0.5, 0.0, 1.0, 1.0, 0.0])
    backoff = Backoff(1.0, 10.0, rng=lambda: next(draws))
    delays = [backoff.next_delay() for _ in range(6)]
    assert delays == [0.5, 2.0, 3.0, 4.0, 10.0, 10.0]  # [b/2, b], b = 1, 2, 4, 8, 10, 10
    backoff.reset()
    assert backoff.next_delay() == 0.5


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"site_id": "site/1"}, "site_id"),
        ({"gateway_id": "+"}, "gateway_id"),
        ({"signed_commands": ["tariff_update"]}, "signed_commands"),
        ({"allowed_commands": ["vend", "reboot"]}, "allowed_commands"),
        ({"password": "x"}, "username"),
        ({"site_key": "abcd"}, "site_key"),
        ({"cert_file": "/c.pem"}, "key_file"),
        ({"port": 0}, "port"),
    ],
)
def test_bad_mqtt_config_names_the_key(section: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict(MqttConfig, section, "mqtt")
    assert caught.value.key == f"mqtt.{key}"


def test_the_documented_configuration_is_valid() -> None:
    import tomllib

    text = re.search(r"```toml\n(.*?)```", MQTT_MD, re.S)
    assert text is not None
    config = from_dict(MqttConfig, tomllib.loads(text.group(1))["mqtt"], "mqtt")
    assert config.uses_tls and config.site_key_file
    assert config.effective_client_id == "pg-site1-gw1"
