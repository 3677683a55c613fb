"""Operator-facing errors of the appliance layer (updates, first-boot setup), codes E901..E9xx.

Each code has a stable meaning and a remedy in Chinese and English, because the person reading
it is a technician in a meter cabinet with a USB stick, not a developer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    title_en: str
    title_zh: str
    remedy_en: str
    remedy_zh: str


CATALOGUE: dict[str, ErrorInfo] = {
    info.code: info
    for info in (
        ErrorInfo(
            "E901",
            "not a readable update bundle",
            "不是有效的升级包",
            "Copy the bundle file again (the copy may be incomplete) and retry.",
            "请重新拷贝升级包文件(可能未拷贝完整)后重试。",
        ),
        ErrorInfo(
            "E902",
            "update bundle signature is not valid for any trusted key",
            "升级包签名无效或不是受信任的密钥签发",
            "Use a bundle published for this site; check the keys in "
            "/etc/prepaid-gateway/update-keys/.",
            "请使用为本站点发布的升级包;检查 /etc/prepaid-gateway/update-keys/ 中的公钥。",
        ),
        ErrorInfo(
            "E903",
            "update bundle content does not match its signed manifest",
            "升级包内容与签名清单不一致(文件被篡改或损坏)",
            "The bundle was altered or damaged: obtain a fresh copy from the release server.",
            "升级包已被修改或损坏:请从发布服务器重新获取。",
        ),
        ErrorInfo(
            "E904",
            "no trusted update keys are installed",
            "未安装受信任的升级公钥",
            "Install the release public key (*.pub) in /etc/prepaid-gateway/update-keys/.",
            "请将发布公钥(*.pub)放入 /etc/prepaid-gateway/update-keys/。",
        ),
        ErrorInfo(
            "E905",
            "this version is already the running version",
            "该版本已是当前运行版本",
            "Nothing to do. To repair this version, install a bundle with a newer version.",
            "无需操作。如需修复该版本,请安装更高版本的升级包。",
        ),
        ErrorInfo(
            "E906",
            "installing the new version failed; the running version is unchanged",
            "新版本安装失败,当前运行版本未改变",
            "Check that the bundle contains every wheel for this Raspberry Pi and free space "
            "on /opt, then retry.",
            "请确认升级包包含本设备所需的全部 wheel 文件且 /opt 空间充足,然后重试。",
        ),
        ErrorInfo(
            "E907",
            "database backup before the update failed; the running version is unchanged",
            "升级前数据库备份失败,当前运行版本未改变",
            "Free space on the data partition and check `prepaid-gateway db backup`, then retry.",
            "请清理数据分区空间并检查 `prepaid-gateway db backup`,然后重试。",
        ),
        ErrorInfo(
            "E908",
            "the new version failed its health check and was rolled back",
            "新版本健康检查失败,已回滚到原版本",
            "The previous version is running again. Send the log "
            "(journalctl -u prepaid-gateway) to support before retrying.",
            "原版本已恢复运行。请将日志(journalctl -u prepaid-gateway)发给技术支持后再重试。",
        ),
        ErrorInfo(
            "E909",
            "rollback to the previous version also failed its health check",
            "回滚到原版本后健康检查仍失败",
            "The gateway is not serving. Check `systemctl status prepaid-gateway` on site and "
            "call support; the pre-update database backup is kept.",
            "网关当前未正常运行。请现场检查 `systemctl status prepaid-gateway` 并联系技术支持;"
            "升级前的数据库备份已保留。",
        ),
        ErrorInfo(
            "E910",
            "another update is in progress",
            "另一个升级正在进行",
            "Wait for it to finish (see `prepaid-gateway update status`), then retry.",
            "请等待其完成(查看 `prepaid-gateway update status`)后重试。",
        ),
        ErrorInfo(
            "E911",
            "the first-boot setup file is not valid",
            "首次启动配置文件无效",
            "Correct the file on the boot partition (see docs/install.md) and reboot.",
            "请按 docs/install.md 修正启动分区上的配置文件后重启。",
        ),
        ErrorInfo(
            "E912",
            "key file is not a valid Ed25519 key",
            "密钥文件不是有效的 Ed25519 密钥",
            "Use the files written by `prepaid-gateway update keygen` (PEM format).",
            "请使用 `prepaid-gateway update keygen` 生成的 PEM 格式密钥文件。",
        ),
        ErrorInfo(
            "E913",
            "there is no previous version to roll back to",
            "没有可回滚的旧版本",
            "Install a signed bundle of the wanted version instead.",
            "请改为安装所需版本的签名升级包。",
        ),
    )
}


class ApplianceError(Exception):
    """An error with a stable code; ``detail`` says what exactly was found."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.info = CATALOGUE[code]
        self.code = code
        self.detail = detail
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line for logs and the CLI: code, English title, detail."""
        text = f"{self.code} {self.info.title_en}"
        return f"{text}: {self.detail}" if self.detail else text

    def for_operator(self) -> str:
        """Bilingual message with remedy, as shown by the CLI and the web UI."""
        lines = [
            f"{self.code} {self.info.title_zh} / {self.info.title_en}",
        ]
        if self.detail:
            lines.append(f"  {self.detail}")
        lines.append(f"  处理办法: {self.info.remedy_zh}")
        lines.append(f"  Remedy: {self.info.remedy_en}")
        return "\n".join(lines)
