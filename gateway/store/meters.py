"""The meter registry: each physical meter by its 12-digit DL/T 645 address."""

from __future__ import annotations

import enum
import re
import sqlite3
from dataclasses import dataclass

from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError, NotFoundError
from gateway.store.metertypes import ValueKind, WalletModel
from gateway.store.paging import Page, PageRequest, Where, fetch_page

_ADDRESS = re.compile(r"^\d{12}$")


class MeterState(enum.StrEnum):
    STOCK = "stock"
    INSTALLED = "installed"
    REMOVED = "removed"
    FAULTY = "faulty"


def check_address(address: str) -> str:
    if not _ADDRESS.match(address):
        raise InvalidValueError(f"meter address must be 12 digits, got {address!r}")
    return address


@dataclass(frozen=True)
class MeterSpec:
    address: str
    type_id: int
    meter_number: str = ""
    box_id: int | None = None
    position: int | None = None
    state: MeterState = MeterState.INSTALLED
    note: str = ""

    def __post_init__(self) -> None:
        check_address(self.address)
        object.__setattr__(self, "state", MeterState(self.state))


@dataclass(frozen=True)
class Meter:
    id: int
    address: str
    meter_number: str
    box_id: int | None
    box_name: str | None
    line_id: int | None
    line_name: str | None
    bus: str | None
    type_id: int
    type_name: str
    wallet_model: WalletModel
    value_kind: ValueKind
    position: int | None
    state: MeterState
    note: str
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Meter:
        return cls(
            id=row["id"],
            address=row["address"],
            meter_number=row["meter_number"],
            box_id=row["box_id"],
            box_name=row["box_name"],
            line_id=row["line_id"],
            line_name=row["line_name"],
            bus=row["bus"],
            type_id=row["type_id"],
            type_name=row["type_name"],
            wallet_model=WalletModel(row["wallet_model"]),
            value_kind=ValueKind(row["value_kind"]),
            position=row["position"],
            state=MeterState(row["state"]),
            note=row["note"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


_SELECT = (
    "SELECT m.*, b.name AS box_name, b.bus AS bus, l.id AS line_id, l.name AS line_name, "
    "t.name AS type_name, t.wallet_model, t.value_kind FROM meters AS m "
    "JOIN meter_types AS t ON t.id = m.type_id "
    "LEFT JOIN boxes AS b ON b.id = m.box_id LEFT JOIN lines AS l ON l.id = b.line_id"
)


def create(c: Conn, spec: MeterSpec) -> Meter:
    now = c.now_text()
    meter_id = c.insert(
        "INSERT INTO meters (address, meter_number, box_id, type_id, position, state, note, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            spec.address,
            spec.meter_number,
            spec.box_id,
            spec.type_id,
            spec.position,
            str(spec.state),
            spec.note,
            now,
            now,
        ),
    )
    return get(c, meter_id)


def update(c: Conn, meter_id: int, spec: MeterSpec) -> Meter:
    changed = c.execute(
        "UPDATE meters SET address = ?, meter_number = ?, box_id = ?, type_id = ?, position = ?, "
        "state = ?, note = ?, updated_at = ? WHERE id = ?",
        (
            spec.address,
            spec.meter_number,
            spec.box_id,
            spec.type_id,
            spec.position,
            str(spec.state),
            spec.note,
            c.now_text(),
            meter_id,
        ),
    )
    if not changed:
        raise NotFoundError(f"meter {meter_id}")
    return get(c, meter_id)


def set_state(c: Conn, meter_id: int, state: MeterState) -> Meter:
    if not c.execute(
        "UPDATE meters SET state = ?, updated_at = ? WHERE id = ?",
        (str(MeterState(state)), c.now_text(), meter_id),
    ):
        raise NotFoundError(f"meter {meter_id}")
    return get(c, meter_id)


def get(c: Conn, meter_id: int) -> Meter:
    row = c.one(f"{_SELECT} WHERE m.id = ?", (meter_id,))
    if row is None:
        raise NotFoundError(f"meter {meter_id}")
    return Meter.from_row(row)


def by_address(c: Conn, address: str) -> Meter | None:
    row = c.one(f"{_SELECT} WHERE m.address = ?", (check_address(address),))
    return None if row is None else Meter.from_row(row)


@dataclass(frozen=True)
class MeterFilter:
    box_id: int | None = None
    line_id: int | None = None
    bus: str | None = None
    state: MeterState | None = None
    address_prefix: str | None = None
    without_open_account: bool = False  # meters free for F2.1 "select meter"


def search(c: Conn, flt: MeterFilter, page: PageRequest) -> Page[Meter]:
    where = Where()
    if flt.box_id is not None:
        where.add("m.box_id = ?", flt.box_id)
    if flt.line_id is not None:
        where.add("b.line_id = ?", flt.line_id)
    if flt.bus is not None:
        where.add("b.bus = ?", flt.bus)
    if flt.state is not None:
        where.add("m.state = ?", str(MeterState(flt.state)))
    if flt.address_prefix:
        where.prefix("m.address", flt.address_prefix)
    if flt.without_open_account:
        where.add(
            "NOT EXISTS (SELECT 1 FROM accounts AS a WHERE a.meter_id = m.id AND a.status = 'open')"
        )
    return fetch_page(
        c,
        f"{_SELECT}{where.sql()} ORDER BY m.address",
        f"SELECT count(*) FROM meters AS m LEFT JOIN boxes AS b ON b.id = m.box_id{where.sql()}",
        where.params,
        page=page,
        build=Meter.from_row,
    )


def delete(c: Conn, meter_id: int) -> None:
    """Refused (E306) once any account or vend refers to the meter; mark it removed instead."""
    if not c.execute("DELETE FROM meters WHERE id = ?", (meter_id,)):
        raise NotFoundError(f"meter {meter_id}")
