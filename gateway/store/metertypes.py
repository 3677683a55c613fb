"""Meter types (F5.6): the model's protocol, wallet model, value kind, phases and its profile.

The profile says how to talk money to this model: the password level and password for writes,
the operator code, the relay command form, the 03H recharge layout and where MACs come from,
plus default limits for new accounts. ``extra`` carries what other parts need per model (e.g.
the poller's data ids and interval) without a schema change.
"""

from __future__ import annotations

import enum
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.store import canonical
from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError, NotFoundError
from gateway.store.ledger import require_int


class WalletModel(enum.StrEnum):
    METER = "meter"  # 本地费控: the meter keeps the balance
    GATEWAY = "gateway"  # 远程费控: the gateway keeps it and trips the relay


class ValueKind(enum.StrEnum):
    MONEY = "money"
    ENERGY = "energy"


class Protocol(enum.StrEnum):
    DLT645_2007 = "dlt645-2007"
    DLT645_1997 = "dlt645-1997"


_HEX = re.compile(r"^[0-9A-Fa-f]*$")
RELAY_FORMS = ("plaintext", "level98")
MAC_PROVIDERS = ("none", "software", "encryption_machine")


@dataclass(frozen=True)
class MeterProfile:
    password_level: int = 2
    password: str = "000000"
    operator_code: str = "00000000"
    relay_form: str = "plaintext"  # one of RELAY_FORMS
    recharge_layout: str = "standard"
    mac_provider: str = "none"  # one of MAC_PROVIDERS
    alarm1_fen: int | None = None
    alarm2_fen: int | None = None
    overdraft_limit_fen: int | None = None
    hoarding_limit_fen: int | None = None
    close_allowed_fen: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_int("password_level", self.password_level)
        if not 0 <= self.password_level <= 99:
            raise InvalidValueError(f"password level must be 0..99, got {self.password_level}")
        if len(self.password) != 6 or not _HEX.match(self.password):
            raise InvalidValueError("password must be 6 hex digits")
        if len(self.operator_code) != 8 or not _HEX.match(self.operator_code):
            raise InvalidValueError("operator code must be 8 hex digits")
        if self.relay_form not in RELAY_FORMS:
            raise InvalidValueError(
                f"relay form must be plaintext or level98, not {self.relay_form}"
            )
        if self.mac_provider not in MAC_PROVIDERS:
            raise InvalidValueError(f"unknown MAC provider {self.mac_provider!r}")
        if not self.recharge_layout:
            raise InvalidValueError("recharge layout must not be empty")
        for name in (
            "alarm1_fen",
            "alarm2_fen",
            "overdraft_limit_fen",
            "hoarding_limit_fen",
            "close_allowed_fen",
        ):
            require_int(name, getattr(self, name), optional=True)
        canonical.dumps(dict(self.extra))  # refuses floats and non-JSON values early

    def to_json(self) -> str:
        data = asdict(self)
        data["extra"] = dict(self.extra)
        return canonical.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> MeterProfile:
        data = canonical.loads(text)
        if not isinstance(data, dict):
            raise InvalidValueError("meter profile must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidValueError(f"unknown meter profile keys: {', '.join(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class MeterTypeSpec:
    name: str
    protocol: Protocol
    wallet_model: WalletModel
    value_kind: ValueKind
    phases: int
    profile: MeterProfile = field(default_factory=MeterProfile)

    def __post_init__(self) -> None:
        object.__setattr__(self, "protocol", Protocol(self.protocol))
        object.__setattr__(self, "wallet_model", WalletModel(self.wallet_model))
        object.__setattr__(self, "value_kind", ValueKind(self.value_kind))
        if not self.name.strip():
            raise InvalidValueError("meter type name must not be empty")
        if self.phases not in (1, 3):
            raise InvalidValueError(f"phases must be 1 or 3, got {self.phases}")


@dataclass(frozen=True)
class MeterType:
    id: int
    name: str
    protocol: Protocol
    wallet_model: WalletModel
    value_kind: ValueKind
    phases: int
    profile: MeterProfile
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> MeterType:
        return cls(
            id=row["id"],
            name=row["name"],
            protocol=Protocol(row["protocol"]),
            wallet_model=WalletModel(row["wallet_model"]),
            value_kind=ValueKind(row["value_kind"]),
            phases=row["phases"],
            profile=MeterProfile.from_json(row["profile"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def create(c: Conn, spec: MeterTypeSpec) -> MeterType:
    now = c.now_text()
    type_id = c.insert(
        "INSERT INTO meter_types (name, protocol, wallet_model, value_kind, phases, profile, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            spec.name.strip(),
            str(spec.protocol),
            str(spec.wallet_model),
            str(spec.value_kind),
            spec.phases,
            spec.profile.to_json(),
            now,
            now,
        ),
    )
    return get(c, type_id)


def update(c: Conn, type_id: int, spec: MeterTypeSpec) -> MeterType:
    """Open accounts keep the wallet model and value kind they were opened with."""
    changed = c.execute(
        "UPDATE meter_types SET name = ?, protocol = ?, wallet_model = ?, value_kind = ?, "
        "phases = ?, profile = ?, updated_at = ? WHERE id = ?",
        (
            spec.name.strip(),
            str(spec.protocol),
            str(spec.wallet_model),
            str(spec.value_kind),
            spec.phases,
            spec.profile.to_json(),
            c.now_text(),
            type_id,
        ),
    )
    if not changed:
        raise NotFoundError(f"meter type {type_id}")
    return get(c, type_id)


def get(c: Conn, type_id: int) -> MeterType:
    row = c.one("SELECT * FROM meter_types WHERE id = ?", (type_id,))
    if row is None:
        raise NotFoundError(f"meter type {type_id}")
    return MeterType.from_row(row)


def list_all(c: Conn) -> list[MeterType]:
    return [MeterType.from_row(r) for r in c.all("SELECT * FROM meter_types ORDER BY name")]


def delete(c: Conn, type_id: int) -> None:
    """Refused (E306) while meters of this type exist."""
    if not c.execute("DELETE FROM meter_types WHERE id = ?", (type_id,)):
        raise NotFoundError(f"meter type {type_id}")
