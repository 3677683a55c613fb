"""The MQTT contract with the cloud master station: topics, envelopes, signing, schema checks.

Everything here is pure (no I/O besides loading the packaged JSON Schemas once): both the
gateway's client and the master-station simulator build and check messages with it, so the two
sides cannot drift apart. The human-readable contract is docs/mqtt.md; the schemas live in
gateway/sync/schemas/ and are the single source of truth for payload shapes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, Final, cast

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from gateway.exact import find_inexact
from gateway.sync.schema_compile import CompiledSchemas, Predicate, ecma_regex

CONTRACT_VERSION: Final = "1.0"
SCHEMA_BASE: Final = "https://prepaid-gateway.invalid/mqtt/1/"

STREAMS: Final[tuple[str, ...]] = (
    "sales",
    "refunds",
    "replacements",
    "accounts",
    "cards",
    "alarms",
    "relay",
    "operations",
)
COMMANDS: Final[tuple[str, ...]] = (
    "vend",
    "relay",
    "read_now",
    "tariff_update",
    "customer_upsert",
    "keep_power",
)
# Commands that move money or switch supply: never executed without a valid site-key signature.
ALWAYS_SIGNED: Final[frozenset[str]] = frozenset({"vend", "relay"})
DEFAULT_SIGNED: Final[tuple[str, ...]] = ("vend", "relay", "tariff_update", "keep_power")

_IDENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_ident(value: str, what: str) -> str:
    """Site and gateway ids are topic levels: refuse wildcards and separators."""
    if not _IDENT.match(value):
        raise ValueError(f"{what} must be 1-64 of A-Z a-z 0-9 _ - (it is an MQTT topic level)")
    return value


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names under ``{prefix}/{site_id}/{gateway_id}/``; site or gateway may be ``+``."""

    prefix: str
    site_id: str
    gateway_id: str

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.site_id}/{self.gateway_id}"

    @property
    def status(self) -> str:
        return f"{self.root}/status"

    def event(self, stream: str) -> str:
        return f"{self.root}/events/{stream}"

    def ack(self, stream: str) -> str:
        return f"{self.root}/ack/{stream}"

    @property
    def telemetry(self) -> str:
        return f"{self.root}/telemetry/readings"

    def command(self, name: str) -> str:
        return f"{self.root}/cmd/{name}"

    def result(self, name: str) -> str:
        return f"{self.root}/cmd/{name}/result"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A concrete topic split into its parts; ``kind`` is status/events/ack/telemetry/cmd/result."""

    site_id: str
    gateway_id: str
    kind: str
    name: str


def parse_topic(prefix: str, topic: str) -> ParsedTopic | None:
    """Split a topic of this contract, or None for anything else (ignored by receivers)."""
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split("/")
    if len(parts) < 3:
        return None
    site, gateway, rest = parts[0], parts[1], parts[2:]
    match rest:
        case ["status"]:
            return ParsedTopic(site, gateway, "status", "")
        case ["events", stream]:
            return ParsedTopic(site, gateway, "events", stream)
        case ["ack", stream]:
            return ParsedTopic(site, gateway, "ack", stream)
        case ["telemetry", "readings"]:
            return ParsedTopic(site, gateway, "telemetry", "readings")
        case ["cmd", name]:
            return ParsedTopic(site, gateway, "cmd", name)
        case ["cmd", name, "result"]:
            return ParsedTopic(site, gateway, "result", name)
    return None


# ---------------------------------------------------------------- time and canonical JSON


def utc_iso(moment: datetime) -> str:
    """The one timestamp format, on the wire and in the outbox (same as gateway.store):
    fixed-width UTC with microseconds and ``Z``, so text order is time order."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (time is injected as aware UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Parse a contract timestamp (any explicit offset); naive timestamps are refused."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text!r}")
    return moment


def _no_float(_: str) -> int:
    raise ValueError("numbers must be integers (money in fen, energy in 0.01 kWh)")


def loads_strict(data: bytes | str) -> Any:
    """json.loads that refuses floats, NaN and Infinity: exact values only on this contract."""
    return json.loads(data, parse_float=_no_float, parse_constant=_no_float)


def canonical_json(obj: Mapping[str, object]) -> bytes:
    """Sorted keys, no spaces, UTF-8 (not \\u escapes): the bytes that get signed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compact_json(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- signatures


def sign(obj: Mapping[str, object], key: bytes) -> str:
    """HMAC-SHA256 (hex) over the canonical JSON of ``obj`` without its ``signature`` field."""
    body = {k: v for k, v in obj.items() if k != "signature"}
    return hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()


def verify(obj: Mapping[str, object], key: bytes) -> bool:
    given = obj.get("signature")
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(sign(obj, key), given)


def digest(obj: Mapping[str, object]) -> str:
    """Identity of a command's content (without signature), to tell a repeat from an id reuse."""
    body = {k: v for k, v in obj.items() if k != "signature"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def signed_command(
    name: str,
    *,
    command_id: str,
    site_id: str,
    gateway_id: str,
    issued_at: datetime,
    args: Mapping[str, object],
    key: bytes | None,
    expires_at: datetime | None = None,
) -> dict[str, object]:
    """Build a command (as the cloud does), signed when ``key`` is given."""
    command: dict[str, object] = {
        "id": command_id,
        "command": name,
        "site_id": site_id,
        "gateway_id": gateway_id,
        "issued_at": utc_iso(issued_at),
        "contract": CONTRACT_VERSION,
        "args": dict(args),
    }
    if expires_at is not None:
        command["expires_at"] = utc_iso(expires_at)
    if key is not None:
        command["signature"] = sign(command, key)
    return command


# ---------------------------------------------------------------- envelopes


def event_envelope_text(
    *,
    event_id: str,
    stream: str,
    seq: int,
    created_at: str,
    backfill: bool,
    site_id: str,
    gateway_id: str,
    payload_json: str,
) -> str:
    """The event as published, built around the stored payload text (no re-serialising)."""
    return (
        '{"contract":"' + CONTRACT_VERSION + '","id":"' + event_id + '","stream":"' + stream
        + '","seq":' + str(seq) + ',"created_at":"' + created_at + '","backfill":'
        + ("true" if backfill else "false") + ',"site_id":"' + site_id + '","gateway_id":"'
        + gateway_id + '","payload":' + payload_json + "}"
    )  # fmt: skip


def status_payload(
    *,
    state: str,
    site_id: str,
    gateway_id: str,
    version: str,
    since: datetime | None = None,
    reason: str | None = None,
    counts: Mapping[str, object] | None = None,
) -> dict[str, object]:
    out: dict[str, object] = {
        "contract": CONTRACT_VERSION,
        "state": state,
        "site_id": site_id,
        "gateway_id": gateway_id,
        "version": version,
    }
    if since is not None:
        out["since"] = utc_iso(since)
    if reason is not None:
        out["reason"] = reason
    if counts is not None:
        out["counts"] = dict(counts)
    return out


def ack_payload(stream: str, seq: int) -> dict[str, object]:
    return {"contract": CONTRACT_VERSION, "stream": stream, "seq": seq}


# ---------------------------------------------------------------- schemas


SCHEMA_NAMES: Final[tuple[str, ...]] = (
    "common",
    "status",
    "event",
    "ack",
    "telemetry-readings",
    "command",
    "result",
    "export-header",
    "export-trailer",
    "receipt",
    *(f"payload-{s}" for s in STREAMS),
    *(f"args-{c}" for c in COMMANDS),
)


class ContractError(ValueError):
    """A message that does not match its schema; ``path`` locates the first problem."""

    def __init__(self, schema: str, path: str, problem: str) -> None:
        super().__init__(f"{schema}: {path}: {problem}")
        self.schema = schema
        self.path = path
        self.problem = problem


def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("gateway.sync.schemas").joinpath(f"{name}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _for_contract_validator(name: str) -> dict[str, Any]:
    """The schema without its ``$schema``: jsonschema picks the validator class of a document
    it descends into ($ref to another file) from that key, which would swap ContractValidator
    (ECMA-262 patterns) for the stock draft 2020-12 one inside referenced files."""
    schema = load_schema(name)
    schema.pop("$schema", None)
    return schema


@cache
def _registry() -> Registry[Any]:
    resources_ = [
        (SCHEMA_BASE + f"{n}.json", DRAFT202012.create_resource(_for_contract_validator(n)))
        for n in SCHEMA_NAMES
    ]
    return Registry().with_resources(resources_)


@cache
def _ecma(pattern: str) -> re.Pattern[str]:
    return ecma_regex(pattern)


def _pattern(
    checker: Draft202012Validator, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """jsonschema's ``pattern`` with ECMA-262 semantics (see ``ecma_regex``), so that this
    validator and the compiled predicate agree, and both agree with the contract's readers."""
    if checker.is_type(instance, "string") and not _ecma(pattern).search(str(instance)):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# extend() makes a validator class with the same interface; it is untyped in jsonschema.
ContractValidator = cast(
    "type[Draft202012Validator]",
    validators.extend(Draft202012Validator, {"pattern": _pattern}),  # type: ignore[no-untyped-call]
)


@cache
def validator(name: str) -> Draft202012Validator:
    return ContractValidator(_for_contract_validator(name), registry=_registry())


@cache
def _compiled() -> CompiledSchemas:
    return CompiledSchemas({n: load_schema(n) for n in SCHEMA_NAMES}, SCHEMA_BASE)


def predicate(name: str) -> Predicate:
    """Schema ``name`` compiled to a plain valid/invalid test (cached), for the hot path."""
    return _compiled().predicate(name)


def schema_errors(name: str, instance: object) -> Iterator[tuple[str, str]]:
    """(json path, message) for every violation of schema ``name``."""
    for err in validator(name).iter_errors(instance):
        yield err.json_path, err.message


def validate(name: str, instance: object) -> None:
    """Raise ContractError on the first (best) violation of schema ``name``; floats included."""
    found = find_inexact(instance, "$")
    if found is not None:
        raise ContractError(name, found.path, "floats are not allowed; use integer fen / 0.01 kWh")
    # The compiled predicate costs microseconds where jsonschema's $ref resolution costs
    # hundreds; jsonschema runs only on failure, so messages and the "best" error stay its own.
    if predicate(name)(instance):
        return
    err = best_match(validator(name).iter_errors(instance))
    if err is not None:
        raise ContractError(name, err.json_path, err.message)
    # The two disagree: a schema_compile bug. Refusing is the safe side of that bug.
    raise ContractError(name, "$", "rejected by the compiled schema check but not by jsonschema")
