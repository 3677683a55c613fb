#!/bin/bash -e
# Read-only root with a data partition: fstab, volatile journal, first-boot partitioning,
# and no background jobs that expect to write to the root file system.
install -m 0644 files/fstab "${ROOTFS_DIR}/etc/fstab"
install -D -m 0644 files/journald-volatile.conf \
	"${ROOTFS_DIR}/etc/systemd/journald.conf.d/50-prepaid-gateway-volatile.conf"
install -m 0644 files/e2fsck.conf "${ROOTFS_DIR}/etc/e2fsck.conf"
install -m 0644 files/fake-hwclock "${ROOTFS_DIR}/etc/default/fake-hwclock"
install -D -m 0644 files/fake-hwclock-data.conf \
	"${ROOTFS_DIR}/etc/systemd/system/fake-hwclock.service.d/50-data.conf"
for unit in prepaid-gateway.service prepaid-gateway-backup.service prepaid-gateway-update.service; do
	install -D -m 0644 files/needs-data.conf "${ROOTFS_DIR}/etc/systemd/system/${unit}.d/50-image.conf"
done
install -D -m 0644 files/networkmanager-data.conf \
	"${ROOTFS_DIR}/etc/systemd/system/NetworkManager.service.d/50-data.conf"
install -D -m 0755 files/prepaid-gateway-datapart.sh \
	"${ROOTFS_DIR}/usr/local/lib/prepaid-gateway/prepaid-gateway-datapart.sh"
install -m 0644 files/prepaid-gateway-datapart.service "${ROOTFS_DIR}/etc/systemd/system/"
install -m 0755 files/prepaid-gateway-rw "${ROOTFS_DIR}/usr/local/sbin/prepaid-gateway-rw"
install -d "${ROOTFS_DIR}/data" "${ROOTFS_DIR}/etc/NetworkManager/system-connections" \
	"${ROOTFS_DIR}/var/lib/prepaid-gateway-update"

on_chroot <<CHROOT
set -e
# Writers to the root file system with nothing to do on an appliance.
systemctl mask dphys-swapfile.service apt-daily.timer apt-daily-upgrade.timer man-db.timer \
	logrotate.timer e2scrub_all.timer e2scrub_reap.service
CHROOT
