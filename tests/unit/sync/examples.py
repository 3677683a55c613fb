"""Valid instances of every contract schema, for the schema tests to check and to mutate.

Sources: the worked examples in docs/mqtt.md, the contract's own builders (status, ack,
commands, event envelopes), and payloads shaped like the ones the services and the MQTT
integration tests send. Every schema in SCHEMA_NAMES has at least one.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.sync.contract import (
    ack_payload,
    event_envelope_text,
    signed_command,
    status_payload,
)

DOCS_MQTT = Path(__file__).resolve().parents[3] / "docs" / "mqtt.md"
KEY = bytes(range(32))
T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
HEX64 = "0123456789abcdef" * 4


def doc_examples() -> dict[str, list[dict[str, Any]]]:
    """``<!-- example: name -->`` blocks of docs/mqtt.md, parsed, by schema name."""
    text = DOCS_MQTT.read_text("utf-8")
    found: dict[str, list[dict[str, Any]]] = {}
    for name, body in re.findall(r"<!-- example: ([\w-]+) -->\n```\w*\n(.*?)```", text, re.S):
        found.setdefault(name, []).append(json.loads(body))
    return found


PAYLOADS: dict[str, list[dict[str, Any]]] = {
    "sales": [
        {
            "sale_id": "123",
            "account_id": "5",
            "customer_id": "5",
            "meter": "000000000005",
            "amount_fen": 5000,
            "energy_ckwh": 0,
            "remainder_fen": 0,
            "tariff_version": "1",
            "channel": "comm",
            "state": "confirmed",
            "operator": "op1",
            "sold_at": "2025-06-01T09:00:00.123Z",
            "purchase_count": 8,
        },
        {
            "sale_id": "S0000007",
            "account_id": "A0007",
            "meter": "000000000007",
            "amount_fen": 1007,
            "tariff_version": "T2024-01",
            "channel": "mqtt",
            "state": "uncertain",
            "command_id": "c-20250301-0001",
        },
    ],
    "refunds": [
        {
            "refund_id": "41",
            "account_id": "5",
            "meter": "000000000005",
            "amount_fen": 2500,
            "fee_fen": 0,
            "tariff_version": "1",
            "reason": "close",
            "operator": "op1",
        },
        {
            "refund_id": "R0000003",
            "account_id": "A0003",
            "amount_fen": 3,
            "tariff_version": "T2024-01",
            "sale_ids": ["1", "2"],
        },
    ],
    "replacements": [
        {
            "replacement_id": "9",
            "account_id": "5",
            "old_meter": "000000000005",
            "new_meter": "000000000006",
            "compensation_fen": 120,
            "compensation_ckwh": 0,
            "operator": "op1",
        }
    ],
    "accounts": [
        {
            "account_id": "5",
            "action": "opened",
            "customer_id": "5",
            "meter": "000000000005",
            "operator": "op1",
        },
        {
            "account_id": "5",
            "action": "adjusted",
            "amount_fen": -300,
            "balance_fen": 4700,
            "tariff_version": "1",
            "reason": "meter read correction",
        },
    ],
    "cards": [
        {
            "card_kind": "user",
            "action": "written",
            "card_serial": "0012ab",
            "account_id": "5",
            "meter": "000000000005",
            "purchase_count": 9,
            "amount_fen": 5000,
            "operator": "op1",
        },
        {"card_kind": "settings", "action": "issued"},
    ],
    "alarms": [
        {
            "alarm_id": "3",
            "kind": "low_balance",
            "state": "raised",
            "severity": "warning",
            "meter": "000000000005",
            "code": "E301",
            "detail": "balance below the warning limit",
            "account_id": "5",
            "balance_fen": 150,
        },
        {"kind": "outbox_backlog", "state": "cleared", "severity": "info", "meter": ""},
    ],
    "relay": [
        {
            "meter": "000000000005",
            "action": "close",
            "source": "balance",
            "ok": True,
            "account_id": "5",
            "reason": "purchase restored the balance",
        },
        {
            "meter": "000000000005",
            "action": "keep_power_on",
            "source": "cloud",
            "ok": False,
            "command_id": "c-1",
            "operator": "cloud",
        },
    ],
    "operations": [
        {
            "operator": "op1",
            "action": "relay.force_on",
            "target": "meter:000000000005",
            "detail": "{}",
            "hash": HEX64,
            "prev_hash": HEX64,
        }
    ],
}

ARGS: dict[str, list[dict[str, Any]]] = {
    "vend": [
        {"account_id": "A0001", "amount_fen": 5000, "note": "充值"},
        {"account_id": "5", "amount_fen": 99999999, "meter": "000000000005", "operator": "c"},
    ],
    "relay": [{"meter": "000000000005", "action": "open", "reason": "arrears"}],
    "read_now": [
        {"meters": ["000000000005", "000000000006"], "items": ["energy_total", "balance"]}
    ],
    "tariff_update": [
        {
            "tariff_id": "res",
            "version": "18",
            "effective_from": "2025-07-01T00:00:00+08:00",
            "tariff": {"kind": "tiered", "thresholds_ckwh": [20000, 40000], "prices_e4": [5283]},
        }
    ],
    "customer_upsert": [
        {
            "customer_id": "C9",
            "name": "张三",
            "phone": "13800000000",
            "meter": "000000000005",
            "account_id": "5",
            "tariff_id": "res",
        }
    ],
    "keep_power": [
        {"meter": "000000000005", "enabled": True, "until": "2025-06-02T00:00:00Z"},
        {"meter": "000000000005", "enabled": False, "reason": "festival over"},
    ],
}


def _events() -> list[dict[str, Any]]:
    out = []
    for seq, (stream, payloads) in enumerate(PAYLOADS.items(), start=1):
        for payload in payloads:
            text = event_envelope_text(
                event_id=f"{seq:032x}",
                stream=stream,
                seq=seq,
                created_at="2025-06-01T09:00:00.000000Z",
                backfill=seq % 2 == 0,
                site_id="site1",
                gateway_id="gw1",
                payload_json=json.dumps(payload, ensure_ascii=False),
            )
            out.append(json.loads(text))
    return out


def _commands() -> list[dict[str, Any]]:
    out = []
    for name, all_args in ARGS.items():
        for i, args in enumerate(all_args):
            out.append(
                signed_command(
                    name,
                    command_id=f"{name}-{i}",
                    site_id="site1",
                    gateway_id="gw1",
                    issued_at=T0,
                    args=args,
                    key=KEY if i % 2 == 0 else None,
                    expires_at=T0 if i % 2 else None,
                )
            )
    return out


def _valid() -> dict[str, list[dict[str, Any]]]:
    docs = doc_examples()
    valid: dict[str, list[dict[str, Any]]] = {
        "common": [{}, {"anything": ["goes", 1]}],
        "status": [
            *docs["status"],
            status_payload(
                state="online",
                site_id="site1",
                gateway_id="gw1",
                version="0.1.0",
                since=T0,
                counts={"outbox_depth": 0, "streams": {"relay": {"seq": 0, "acked": 0}}},
            ),
            status_payload(
                state="offline", site_id="s", gateway_id="g", version="", reason="shutdown"
            ),
        ],
        "event": [*docs["event"], *_events()],
        "ack": [*docs["ack"], ack_payload("refunds", 0)],
        "telemetry-readings": [
            *docs["telemetry-readings"],
            {
                "contract": "1.12",
                "site_id": "site1",
                "gateway_id": "gw1",
                "sent_at": "2025-06-01T09:00:00Z",
                "readings": [
                    {
                        "meter": "000000000005",
                        "read_at": "2025-06-01T08:59:59.5+08:00",
                        "values": {"energy_total": 1234, "voltage_a": "-1"},
                    }
                ],
            },
        ],
        "command": [*docs["command"], *_commands()],
        "result": [
            *docs["result"],
            {
                "contract": "1.0",
                "id": None,
                "command": "",
                "ok": False,
                "site_id": "site1",
                "gateway_id": "gw1",
                "handled_at": "2025-06-01T09:00:00.000000Z",
                "duplicate": False,
                "error": {
                    "code": "E700",
                    "message": {"en": "unreadable", "zh": "无法解析"},
                    "remedy": {"en": "resend", "zh": "重发"},
                },
            },
        ],
        "export-header": [
            {
                "format": "prepaid-gateway-outbox",
                "format_version": 1,
                "contract": "1.0",
                "site_id": "site1",
                "gateway_id": "gw1",
                "exported_at": "2025-06-01T09:00:00.000000Z",
                "streams": {"sales": {"first": 1, "last": 42}, "alarms": {"first": 1, "last": 0}},
            }
        ],
        "export-trailer": [
            {"end": True, "count": 43, "sha256": HEX64, "hmac_sha256": HEX64},
            {"end": True, "count": 0, "sha256": HEX64, "hmac_sha256": None},
        ],
        "receipt": [
            {
                "format": "prepaid-gateway-receipt",
                "site_id": "site1",
                "gateway_id": "gw1",
                "issued_at": "2025-06-01T09:00:00.000000Z",
                "acks": {"sales": 42, "relay": 0},
                "hmac_sha256": HEX64,
            }
        ],
    }
    valid.update({f"payload-{s}": p for s, p in PAYLOADS.items()})
    valid.update({f"args-{c}": a for c, a in ARGS.items()})
    return valid


VALID: dict[str, list[dict[str, Any]]] = _valid()
