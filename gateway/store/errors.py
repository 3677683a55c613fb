"""Errors of the ledger database, each with a stable code (E3xx) and a remedy in zh and en.

Triggers in the schema raise ``RAISE(ABORT, 'E3xx: ...')``; :func:`translate` turns those and the
usual SQLite constraint failures into these classes, so callers never parse SQLite messages.
"""

from __future__ import annotations

import sqlite3
from typing import ClassVar


class StoreError(Exception):
    """Base of every ledger-database error; ``detail`` says what exactly went wrong."""

    code: ClassVar[str] = "E300"
    summary_en: ClassVar[str] = "database error"
    summary_zh: ClassVar[str] = "数据库错误"
    remedy_en: ClassVar[str] = (
        "Retry; if it persists run `prepaid-gateway db check` and call support."
    )
    remedy_zh: ClassVar[str] = "请重试；如仍失败，运行 `prepaid-gateway db check` 并联系技术支持。"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.code} {self.summary_en}: {detail}")
        self.detail = detail

    def describe(self) -> str:
        """Multi-line text for a terminal: code, what happened, what to do (both languages)."""
        return (
            f"{self.code}: {self.summary_en} / {self.summary_zh}\n"
            f"  {self.detail}\n"
            f"  remedy: {self.remedy_en}\n"
            f"  处理: {self.remedy_zh}"
        )


class SchemaTooNewError(StoreError):
    code = "E301"
    summary_en = "database was written by a newer version of prepaid-gateway"
    summary_zh = "数据库来自更新版本的软件"
    remedy_en = "Upgrade prepaid-gateway, or restore a backup made by this version."
    remedy_zh = "请升级本软件，或恢复由当前版本生成的备份。"


class NotOurDatabaseError(StoreError):
    code = "E302"
    summary_en = "not a prepaid-gateway database"
    summary_zh = "不是本系统的数据库文件"
    remedy_en = "Choose a backup file made by prepaid-gateway (数据备份, F6.1)."
    remedy_zh = "请选择由本系统“数据备份”生成的文件。"


class CorruptDatabaseError(StoreError):
    code = "E303"
    summary_en = "database file is damaged"
    summary_zh = "数据库文件已损坏"
    remedy_en = (
        "Restore the latest good backup (数据恢复, F6.2); keep the damaged file for support."
    )
    remedy_zh = "请恢复最近一次完好的备份（数据恢复），并保留损坏的文件供技术支持分析。"


class NotFoundError(StoreError):
    code = "E304"
    summary_en = "record not found"
    summary_zh = "记录不存在"
    remedy_en = "Refresh the page and select the record again."
    remedy_zh = "请刷新页面后重新选择。"


class DuplicateError(StoreError):
    code = "E305"
    summary_en = "a record with this key already exists"
    summary_zh = "记录已存在（编号或名称重复）"
    remedy_en = "Use a different number or name, or edit the existing record."
    remedy_zh = "请使用其他编号或名称，或修改已有记录。"


class InUseError(StoreError):
    code = "E306"
    summary_en = "record is still in use and cannot be deleted"
    summary_zh = "记录仍被使用，不能删除"
    remedy_en = "Delete or move what refers to it first (e.g. boxes on a line, meters in a box)."
    remedy_zh = "请先删除或移走引用它的记录（如线路下的表箱、表箱内的电表）。"


class IllegalVendTransitionError(StoreError):
    code = "E307"
    summary_en = "illegal vend state change"
    summary_zh = "售电状态变更不允许"
    remedy_en = "The sale is already finished or in another state; reload it before acting."
    remedy_zh = "该笔售电已完成或处于其他状态，请刷新后再操作。"


class IdempotencyConflictError(StoreError):
    code = "E308"
    summary_en = "request key reused for a different request"
    summary_zh = "请求编号重复但内容不同"
    remedy_en = "Reload the form (a new request key is issued) and submit again."
    remedy_zh = "请重新打开表单（生成新的请求编号）后再提交。"


class AppendOnlyError(StoreError):
    code = "E309"
    summary_en = "money records are append-only"
    summary_zh = "资金记录只能追加，不能修改或删除"
    remedy_en = "Correct a mistake with a new adjustment or reversal record."
    remedy_zh = "如需更正，请录入新的调整或冲正记录。"


class InvalidValueError(StoreError, ValueError):
    code = "E310"
    summary_en = "invalid value"
    summary_zh = "输入值无效"
    remedy_en = "Correct the field named in the message and submit again."
    remedy_zh = "请按提示修改相应字段后重新提交。"


class MeterHasOpenAccountError(StoreError):
    code = "E311"
    summary_en = "meter already belongs to an open account"
    summary_zh = "该电表已有在用账户"
    remedy_en = "Close (refund/deregister) the other account or choose another meter."
    remedy_zh = "请先销户或注销原账户，或选择其他电表。"


class AccountClosedError(StoreError):
    code = "E312"
    summary_en = "account is closed"
    summary_zh = "账户已销户"
    remedy_en = "Open a new account for the customer (开户购电, F2.1)."
    remedy_zh = "请为该用户重新开户（开户购电）。"


class WeakPasswordError(StoreError):
    code = "E313"
    summary_en = "password does not meet the rules"
    summary_zh = "密码不符合要求"
    remedy_en = "Use at least 8 characters, not the factory default 00000000."
    remedy_zh = "密码至少 8 位，且不能是初始密码 00000000。"


class AuthenticationError(StoreError):
    code = "E314"
    summary_en = "wrong operator name or password"
    summary_zh = "操作员或密码错误"
    remedy_en = "Check the name and password; after repeated failures the operator is locked."
    remedy_zh = "请检查操作员名称和密码；多次错误后账号将被锁定。"


class OperatorLockedError(StoreError):
    code = "E315"
    summary_en = "operator is locked after too many failed logins"
    summary_zh = "操作员因多次登录失败已被锁定"
    remedy_en = "Ask an administrator, or run `prepaid-gateway operator reset-password NAME`."
    remedy_zh = "请联系管理员，或运行 `prepaid-gateway operator reset-password 名称` 重置密码。"


class BackupError(StoreError):
    code = "E316"
    summary_en = "backup could not be written"
    summary_zh = "备份失败"
    remedy_en = (
        "Choose a new file name; check free space and that the folder or USB stick is writable."
    )
    remedy_zh = "请换一个文件名；并检查磁盘空间，以及目标目录或U盘是否可写。"


class ChainBrokenError(StoreError):
    code = "E320"
    summary_en = "record does not extend the hash chain"
    summary_zh = "记录与哈希链不连续"
    remedy_en = "Another writer changed the database; run `prepaid-gateway db check`."
    remedy_zh = "数据库被其他程序修改，请运行 `prepaid-gateway db check` 检查。"


class InvalidReferenceError(StoreError):
    code = "E321"
    summary_en = "refers to a record that does not exist"
    summary_zh = "引用的记录不存在"
    remedy_en = "Refresh the page; the line, box, meter, type or customer may have been deleted."
    remedy_zh = "请刷新页面；所选线路、表箱、电表、类型或用户可能已被删除。"


_BY_CODE: dict[str, type[StoreError]] = {
    cls.code: cls
    for cls in (
        StoreError,
        SchemaTooNewError,
        NotOurDatabaseError,
        CorruptDatabaseError,
        NotFoundError,
        DuplicateError,
        InUseError,
        IllegalVendTransitionError,
        IdempotencyConflictError,
        AppendOnlyError,
        InvalidValueError,
        MeterHasOpenAccountError,
        AccountClosedError,
        WeakPasswordError,
        AuthenticationError,
        OperatorLockedError,
        BackupError,
        ChainBrokenError,
        InvalidReferenceError,
    )
}


def by_code(code: str) -> type[StoreError]:
    return _BY_CODE.get(code, StoreError)


def translate(exc: sqlite3.Error, sql: str) -> StoreError:
    """Map a SQLite error raised by ``sql`` onto a coded error."""
    message = str(exc)
    head, sep, rest = message.partition(": ")
    if sep and len(head) == 4 and head.startswith("E") and head[1:].isdigit():
        return by_code(head)(rest)
    if isinstance(exc, sqlite3.IntegrityError):
        if message.startswith("UNIQUE constraint failed"):
            return DuplicateError(message.removeprefix("UNIQUE constraint failed: "))
        if message.startswith("FOREIGN KEY constraint failed"):
            verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
            if verb in {"DELETE", "UPDATE"}:
                return InUseError(message)
            return InvalidReferenceError(message)
        if message.startswith(("CHECK constraint failed", "NOT NULL constraint failed")):
            return InvalidValueError(message)
        if message.startswith("cannot store"):
            return InvalidValueError(message)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in message:
        return StoreError(f"database busy: {message}")
    if isinstance(exc, sqlite3.DatabaseError) and (
        "malformed" in message or "not a database" in message
    ):
        return CorruptDatabaseError(message)
    return StoreError(message)
