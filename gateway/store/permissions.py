"""The permission catalogue (F5.4) as the database sees it.

The catalogue itself is ``gateway.permissions`` (one key per group of the manual's functions),
shared by the services, the web UI and this store. The table ``permissions`` mirrors it (synced
at every open), so ``operator_permissions`` can only hold known keys (a foreign key).
Changing one's own password (F5.5) needs no permission.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway import permissions as catalogue
from gateway.store.conn import Conn


@dataclass(frozen=True)
class Permission:
    code: str
    features: str
    name_zh: str
    name_en: str


CATALOGUE: tuple[Permission, ...] = tuple(
    Permission(p.key, ",".join(p.features), p.label_zh, p.label_en) for p in catalogue.PERMISSIONS
)

ALL_CODES: frozenset[str] = frozenset(p.code for p in CATALOGUE)
BY_CODE: dict[str, Permission] = {p.code: p for p in CATALOGUE}
# Who may manage operators (F5.4): the last active holder cannot lose it (no lock-out).
OPERATORS_ADMIN: str = next(p.code for p in CATALOGUE if "F5.4" in p.features.split(","))


def sync_catalogue(c: Conn) -> None:
    """Insert or rename catalogue rows; codes no longer listed stay (operators may hold them)."""
    c.executemany(
        "INSERT INTO permissions (code, features, name_zh, name_en) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (code) DO UPDATE SET features = excluded.features, "
        "name_zh = excluded.name_zh, name_en = excluded.name_en "
        "WHERE (features, name_zh, name_en) IS NOT (excluded.features, excluded.name_zh, "
        "excluded.name_en)",
        [(p.code, p.features, p.name_zh, p.name_en) for p in CATALOGUE],
    )
