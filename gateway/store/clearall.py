"""Clear all customer data (F6.5): customers, accounts, vends, money records and receipts go;
settings, operators, tariffs, meter types, lines, boxes, meters and the operation log stay.

The append-only triggers normally refuse these deletes. They let them through only while a
``clear_all`` row exists in ``maintenance_guard``; this function inserts that row, deletes, and
removes the row again inside one transaction, so no other connection ever sees it and a crash
rolls the whole clear back. The receipt sequence is kept (numbers never repeat). The ledger's
hash chain is rebased: ``chain_heads.base_*`` moves to the last hash, so verification of the rows
written afterwards starts from there, and the operation-log entry of the clear records that hash.
The outbox is kept: the cloud still receives what happened before, and the clear itself.
The current operator's password is checked by the caller (gateway.store.auth) before this runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.store import oplog
from gateway.store.conn import Conn

# Children before parents (foreign keys).
_TABLES = (
    "receipt_prints",
    "receipts",
    "refunds",
    "replacements",
    "card_issues",
    "ledger",
    "account_balances",
    "vend_events",
    "vends",
    "accounts",
    "customers",
)


@dataclass(frozen=True)
class ClearAllResult:
    removed: dict[str, int]
    ledger_base_id: int
    ledger_base_hash: str
    log_entry_id: int


def clear_customer_data(c: Conn, *, operator_id: int | None) -> ClearAllResult:
    c.execute("INSERT INTO maintenance_guard (name) VALUES ('clear_all')")
    removed: dict[str, int] = {}
    for table in _TABLES:
        if table == "accounts":
            c.execute("UPDATE customers SET current_account_id = NULL")
        removed[table] = c.execute(f"DELETE FROM {table}")
    c.execute(
        "UPDATE chain_heads SET base_id = last_id, base_hash = last_hash WHERE name = 'ledger'"
    )
    c.execute("DELETE FROM maintenance_guard WHERE name = 'clear_all'")
    head = c.one("SELECT base_id, base_hash FROM chain_heads WHERE name = 'ledger'")
    assert head is not None
    entry = oplog.append(
        c,
        "system.clear_all",
        operator_id=operator_id,
        target="customer data",
        detail={
            "removed": removed,
            "ledger_base_id": head["base_id"],
            "ledger_base_hash": head["base_hash"],
        },
    )
    return ClearAllResult(removed, int(head["base_id"]), str(head["base_hash"]), entry.id)
