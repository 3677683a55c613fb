#!/bin/bash -e
# First-boot setup unit and the example setup file on the boot partition.
install -m 0644 files/prepaid-gateway-firstboot.service "${ROOTFS_DIR}/etc/systemd/system/"
install -m 0644 files/prepaid-gateway-setup.example.toml \
	"${ROOTFS_DIR}/boot/firmware/prepaid-gateway-setup.example.toml"

on_chroot <<CHROOT
systemctl enable prepaid-gateway-firstboot.service
CHROOT
