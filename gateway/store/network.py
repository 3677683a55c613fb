"""Lines (F1.2) and meter boxes (F1.3): where meters hang and how the gateway reaches them."""

from __future__ import annotations

import enum
import sqlite3
from dataclasses import dataclass
from typing import Literal

from gateway.store.conn import Conn
from gateway.store.errors import InvalidValueError, NotFoundError

BAUD_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
Parity = Literal["N", "E", "O"]
PARITIES: tuple[Parity, ...] = ("N", "E", "O")


class CommMode(enum.StrEnum):
    RS485 = "rs485"
    REMOTE = "remote"  # through a DTU module dialling in, or the master station


@dataclass(frozen=True)
class Line:
    id: int
    name: str
    description: str
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Line:
        return cls(row["id"], row["name"], row["description"], row["created_at"])


@dataclass(frozen=True)
class BoxSpec:
    """What an operator enters for a box; validated on construction."""

    line_id: int
    name: str
    comm_mode: CommMode
    meter_count: int = 0
    bus: str = ""
    baud: int = 2400
    parity: str = "E"  # N, E or O (checked below: form input arrives as text)
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "comm_mode", CommMode(self.comm_mode))
        if not self.name.strip():
            raise InvalidValueError("box name must not be empty")
        if self.meter_count < 0:
            raise InvalidValueError(f"meter count must be >= 0, got {self.meter_count}")
        if self.baud not in BAUD_RATES:
            raise InvalidValueError(f"baud must be one of {BAUD_RATES}, got {self.baud}")
        if self.parity not in PARITIES:
            raise InvalidValueError(f"parity must be N, E or O, got {self.parity!r}")
        if self.comm_mode is CommMode.RS485 and not self.bus:
            raise InvalidValueError("an RS485 box needs the name of its bus")


@dataclass(frozen=True)
class Box:
    id: int
    line_id: int
    line_name: str
    name: str
    meter_count: int
    comm_mode: CommMode
    bus: str
    baud: int
    parity: str
    description: str
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Box:
        return cls(
            id=row["id"],
            line_id=row["line_id"],
            line_name=row["line_name"],
            name=row["name"],
            meter_count=row["meter_count"],
            comm_mode=CommMode(row["comm_mode"]),
            bus=row["bus"],
            baud=row["baud"],
            parity=row["parity"],
            description=row["description"],
            created_at=row["created_at"],
        )


def create_line(c: Conn, name: str, description: str = "") -> Line:
    if not name.strip():
        raise InvalidValueError("line name must not be empty")
    line_id = c.insert(
        "INSERT INTO lines (name, description, created_at) VALUES (?, ?, ?)",
        (name.strip(), description, c.now_text()),
    )
    return get_line(c, line_id)


def get_line(c: Conn, line_id: int) -> Line:
    row = c.one("SELECT * FROM lines WHERE id = ?", (line_id,))
    if row is None:
        raise NotFoundError(f"line {line_id}")
    return Line.from_row(row)


def list_lines(c: Conn) -> list[Line]:
    return [Line.from_row(r) for r in c.all("SELECT * FROM lines ORDER BY name")]


def update_line(c: Conn, line_id: int, name: str, description: str) -> Line:
    if not name.strip():
        raise InvalidValueError("line name must not be empty")
    if not c.execute(
        "UPDATE lines SET name = ?, description = ? WHERE id = ?",
        (name.strip(), description, line_id),
    ):
        raise NotFoundError(f"line {line_id}")
    return get_line(c, line_id)


def delete_line(c: Conn, line_id: int) -> None:
    """Refused (E306) while boxes remain on the line."""
    if not c.execute("DELETE FROM lines WHERE id = ?", (line_id,)):
        raise NotFoundError(f"line {line_id}")


_BOX_SELECT = "SELECT b.*, l.name AS line_name FROM boxes AS b JOIN lines AS l ON l.id = b.line_id"


def create_box(c: Conn, spec: BoxSpec) -> Box:
    box_id = c.insert(
        "INSERT INTO boxes (line_id, name, meter_count, comm_mode, bus, baud, parity, "
        "description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            spec.line_id,
            spec.name.strip(),
            spec.meter_count,
            str(spec.comm_mode),
            spec.bus,
            spec.baud,
            spec.parity,
            spec.description,
            c.now_text(),
        ),
    )
    return get_box(c, box_id)


def update_box(c: Conn, box_id: int, spec: BoxSpec) -> Box:
    changed = c.execute(
        "UPDATE boxes SET line_id = ?, name = ?, meter_count = ?, comm_mode = ?, bus = ?, "
        "baud = ?, parity = ?, description = ? WHERE id = ?",
        (
            spec.line_id,
            spec.name.strip(),
            spec.meter_count,
            str(spec.comm_mode),
            spec.bus,
            spec.baud,
            spec.parity,
            spec.description,
            box_id,
        ),
    )
    if not changed:
        raise NotFoundError(f"box {box_id}")
    return get_box(c, box_id)


def get_box(c: Conn, box_id: int) -> Box:
    row = c.one(f"{_BOX_SELECT} WHERE b.id = ?", (box_id,))
    if row is None:
        raise NotFoundError(f"box {box_id}")
    return Box.from_row(row)


def list_boxes(c: Conn, line_id: int | None = None) -> list[Box]:
    if line_id is None:
        rows = c.all(f"{_BOX_SELECT} ORDER BY l.name, b.name")
    else:
        rows = c.all(f"{_BOX_SELECT} WHERE b.line_id = ? ORDER BY b.name", (line_id,))
    return [Box.from_row(r) for r in rows]


def delete_box(c: Conn, box_id: int) -> None:
    """Refused (E306) while meters remain in the box."""
    if not c.execute("DELETE FROM boxes WHERE id = ?", (box_id,)):
        raise NotFoundError(f"box {box_id}")
