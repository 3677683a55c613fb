"""The SQLite ledger: schema, migrations, repositories, backup/restore, checks.

Open once per process and pass the ``Database`` around::

    db = await Database.open(path, clock=clock)
    vend, created = await db.write(vends.create, NewVend(...))

Repository modules hold synchronous functions ``fn(c: Conn, ...)`` for one concern each:
``network`` (lines, boxes), ``metertypes``, ``meters``, ``tariffs``, ``customers`` (and
accounts), ``vends``, ``ledger``, ``receipts``, ``refunds``, ``replacements``, ``cards``,
``sales`` (queries), ``operators`` (+ ``auth``, ``passwords``, ``permissions``), ``oplog``,
``siteinfo`` (organisation, receipt template, settings), ``clearall``, ``check``.
Compose them in one function to make one transaction. Outbox tables exist (migration 0003) for
gateway.sync to write in the same transaction. See docs/database.md.
"""

from gateway.store.backup import BackupResult, RestoreResult
from gateway.store.clock import Clock, system_clock
from gateway.store.conn import Conn
from gateway.store.database import AsyncTx, Database
from gateway.store.errors import StoreError
from gateway.store.migrations import LATEST_VERSION
from gateway.store.paging import Page, PageRequest

__all__ = [
    "LATEST_VERSION",
    "AsyncTx",
    "BackupResult",
    "Clock",
    "Conn",
    "Database",
    "Page",
    "PageRequest",
    "RestoreResult",
    "StoreError",
    "system_clock",
]
