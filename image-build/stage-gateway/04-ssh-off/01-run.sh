#!/bin/bash -e
# SSH is off. It comes on only when the first-boot setup file gives an authorized key, and then
# for keys only. No password works for the first user either (the setup file may set a hash).
on_chroot <<CHROOT
set -e
systemctl disable ssh.service || true
# Raspberry Pi OS turns SSH on when a file named "ssh" is on the boot partition, and makes
# host keys on first boot; the first-boot setup does both only when asked for SSH.
systemctl mask sshswitch.service regenerate_ssh_host_keys.service
rm -f /etc/ssh/ssh_host_*
passwd -l "${FIRST_USER_NAME}"
CHROOT
