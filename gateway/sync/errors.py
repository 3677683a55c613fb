"""Stable error codes of the sync subsystem (E700..E799), each with bilingual text and a remedy.

Codes are part of the MQTT contract: a command result carries the code, so integrators can act
on it without parsing text. Never renumber; add new codes at the end of their block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: str
    en: str
    zh: str
    remedy_en: str
    remedy_zh: str

    def as_json(self, detail: str | None = None) -> dict[str, object]:
        """The ``error`` object of a command result (see result.json)."""
        out: dict[str, object] = {
            "code": self.code,
            "message": {"en": self.en, "zh": self.zh},
            "remedy": {"en": self.remedy_en, "zh": self.remedy_zh},
        }
        if detail:
            out["detail"] = detail
        return out


def _e(code: str, en: str, zh: str, remedy_en: str, remedy_zh: str) -> ErrorInfo:
    return ErrorInfo(code, en, zh, remedy_en, remedy_zh)


# Commands from the cloud (E701..E719).
MALFORMED = _e(
    "E701",
    "Malformed command: not a JSON object matching the command schema.",
    "命令格式错误：不是符合命令模式的 JSON 对象。",
    "Fix the payload so it validates against command.json (integers only, no floats).",
    "按 command.json 修正命令内容（数值只能是整数，不能用小数）。",
)
UNKNOWN_COMMAND = _e(
    "E702",
    "Unknown command.",
    "未知命令。",
    "Use one of: vend, relay, read_now, tariff_update, customer_upsert, keep_power.",
    "请使用以下命令之一：vend、relay、read_now、tariff_update、customer_upsert、keep_power。",
)
NOT_ALLOWED = _e(
    "E703",
    "This command is not allowed on this gateway.",
    "本网关不允许执行此命令。",
    "Ask the site to add it to mqtt.allowed_commands in the gateway configuration.",
    "请现场在网关配置 mqtt.allowed_commands 中加入该命令。",
)
UNSIGNED = _e(
    "E704",
    "Money and relay commands must be signed with the site key.",
    "售电和拉合闸类命令必须用站点密钥签名。",
    "Add the HMAC-SHA256 signature field (see docs/mqtt.md, Signing).",
    "请加上 HMAC-SHA256 签名字段（见 docs/mqtt.md 签名一节）。",
)
BAD_SIGNATURE = _e(
    "E705",
    "The command signature does not match.",
    "命令签名不匹配。",
    "Sign the canonical JSON (sorted keys, no spaces, without 'signature') with this site's key.",
    "请用本站点密钥对规范化 JSON（键排序、无空格、不含 signature）重新签名。",
)
STALE = _e(
    "E706",
    "The command was issued outside the replay window (replayed, or clocks disagree).",
    "命令发出时间超出防重放时间窗（可能是重放，或时钟不一致）。",
    "Send a new command with a new id and the current time; check both clocks (NTP).",
    "请用新的命令编号和当前时间重新下发；并检查双方时钟（NTP）。",
)
EXPIRED = _e(
    "E707",
    "The command expired before it reached the gateway.",
    "命令到达网关前已过期。",
    "Send a new command if it is still wanted.",
    "如仍需执行，请重新下发命令。",
)
ID_REUSED = _e(
    "E708",
    "This command id was already used for a different command.",
    "该命令编号已被另一条不同的命令使用。",
    "Use a new unique id for every new command; repeat an id only to repeat the same command.",
    "每条新命令使用新的唯一编号；只有重发同一命令时才可重复编号。",
)
WRONG_TARGET = _e(
    "E709",
    "The command is addressed to another site, gateway or command topic.",
    "命令的站点、网关或命令主题与本网关不符。",
    "Publish to the topic of the gateway named in the command.",
    "请发布到命令中所指网关的主题。",
)
NO_SITE_KEY = _e(
    "E710",
    "This gateway has no site key, so it cannot verify signed commands.",
    "本网关未配置站点密钥，无法校验签名命令。",
    "Install the site key file and set mqtt.site_key_file, then restart.",
    "请安装站点密钥文件并设置 mqtt.site_key_file，然后重启。",
)
NO_HANDLER = _e(
    "E711",
    "The gateway cannot execute commands right now (service not ready).",
    "网关暂时无法执行命令（服务未就绪）。",
    "Retry the same command (same id) later.",
    "请稍后用相同编号重发该命令。",
)
HANDLER_FAILED = _e(
    "E712",
    "The command failed inside the gateway; its outcome was not recorded.",
    "命令在网关内部执行失败，结果未记录。",
    "Repeat the same command with the same id: it is idempotent. Check the gateway log.",
    "请用相同编号重发该命令（命令是幂等的），并查看网关日志。",
)

# Broker connection (E720..E729).
BAD_LOGIN = _e(
    "E720",
    "The MQTT broker refused the login (bad user name or password, or not authorised).",
    "MQTT 服务器拒绝登录（用户名或密码错误，或未授权）。",
    "Check mqtt.username and the password file, and the broker's ACL for this gateway.",
    "请检查 mqtt.username、密码文件以及服务器对本网关的访问控制。",
)
UNREACHABLE = _e(
    "E721",
    "The MQTT broker cannot be reached.",
    "无法连接 MQTT 服务器。",
    "Check the network, mqtt.host and mqtt.port. Sales continue offline and sync later.",
    "请检查网络、mqtt.host 和 mqtt.port。离线期间可照常售电，恢复后自动补传。",
)
TLS_FAILED = _e(
    "E722",
    "The TLS handshake with the MQTT broker failed.",
    "与 MQTT 服务器的 TLS 握手失败。",
    "Check mqtt.ca_file (it must sign the broker's certificate), the host name and the clock.",
    "请检查 mqtt.ca_file（须能验证服务器证书）、主机名和系统时间。",
)
CONNECTION_LOST = _e(
    "E723",
    "The connection to the MQTT broker was lost.",
    "与 MQTT 服务器的连接中断。",
    "Nothing to do: the gateway reconnects by itself and replays unacknowledged events.",
    "无需处理：网关会自动重连并补传未确认的事件。",
)
SECRETS_UNREADABLE = _e(
    "E724",
    "The MQTT password file or site key file cannot be read or is invalid.",
    "无法读取 MQTT 密码文件或站点密钥文件，或其内容无效。",
    "Check the paths in [mqtt], the file permissions for the service user and the key format.",
    "请检查 [mqtt] 中的路径、服务用户对文件的读取权限以及密钥格式。",
)
SYNC_FAULT = _e(
    "E725",
    "MQTT sync stopped on an internal error (e.g. database busy); it retries by itself.",
    "MQTT 同步因内部错误（如数据库忙）中断，将自动重试。",
    "If it repeats, report it with the gateway log; sales are not affected.",
    "如反复出现，请连同网关日志一起报告；售电不受影响。",
)

# Outbox and offline transfer (E730..E749).
EXPORT_CORRUPT = _e(
    "E730",
    "The outbox file is damaged or incomplete (checksum mismatch).",
    "离线事件文件已损坏或不完整（校验和不符）。",
    "Export the file again from the gateway and copy it completely before removing the stick.",
    "请在网关上重新导出，并在拔出 U 盘前确保复制完成。",
)
EXPORT_BAD_SIGNATURE = _e(
    "E731",
    "The outbox file's signature does not match the site key.",
    "离线事件文件的签名与站点密钥不符。",
    "Use the key file of the site that exported it; never import a file of unknown origin.",
    "请使用导出该文件的站点的密钥；不要导入来源不明的文件。",
)
EXPORT_FORMAT = _e(
    "E732",
    "This is not an outbox export file of a supported version.",
    "不是受支持版本的离线事件导出文件。",
    "Export it again with a gateway of this version, or upgrade the master station.",
    "请用本版本网关重新导出，或升级主站。",
)
ACK_BEYOND_END = _e(
    "E733",
    "The acknowledgement names a sequence number the gateway never produced.",
    "确认的序号超出网关已产生的事件。",
    "Check the master station: it must acknowledge only events it received from this gateway.",
    "请检查主站：只能确认从本网关收到的事件。",
)
BAD_EVENT = _e(
    "E734",
    "An event does not match the MQTT contract and was not written.",
    "事件不符合 MQTT 接口规范，未写入。",
    "This is a software fault: report it with the gateway log.",
    "这是软件故障：请连同网关日志一起报告。",
)
OUTBOX_BACKLOG = _e(
    "E735",
    "The outbox holds more unsynchronised events than the alarm threshold.",
    "待上传事件数超过告警阈值。",
    "Restore the link to the master station, or export the outbox to a USB stick.",
    "请恢复与主站的连接，或将待传事件导出到 U 盘。",
)
RECEIPT_INVALID = _e(
    "E736",
    "The receipt file is damaged, not for this gateway, or not signed with the site key.",
    "回执文件已损坏、不属于本网关，或未用站点密钥签名。",
    "Create the receipt again at the master station for this gateway.",
    "请在主站为本网关重新生成回执。",
)

ALL: Final[tuple[ErrorInfo, ...]] = (
    MALFORMED,
    UNKNOWN_COMMAND,
    NOT_ALLOWED,
    UNSIGNED,
    BAD_SIGNATURE,
    STALE,
    EXPIRED,
    ID_REUSED,
    WRONG_TARGET,
    NO_SITE_KEY,
    NO_HANDLER,
    HANDLER_FAILED,
    BAD_LOGIN,
    UNREACHABLE,
    TLS_FAILED,
    CONNECTION_LOST,
    SECRETS_UNREADABLE,
    SYNC_FAULT,
    EXPORT_CORRUPT,
    EXPORT_BAD_SIGNATURE,
    EXPORT_FORMAT,
    ACK_BEYOND_END,
    BAD_EVENT,
    OUTBOX_BACKLOG,
    RECEIPT_INVALID,
)
BY_CODE: Final[dict[str, ErrorInfo]] = {e.code: e for e in ALL}


class SyncError(Exception):
    """An operation refused with a stable code; ``str()`` is the English text plus detail."""

    def __init__(self, info: ErrorInfo, detail: str | None = None) -> None:
        super().__init__(f"{info.code} {info.en}" + (f" ({detail})" if detail else ""))
        self.info = info
        self.detail = detail

    @property
    def code(self) -> str:
        return self.info.code
