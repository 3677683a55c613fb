#!/bin/bash -e
# Boot partition: kernel command line for a read-only appliance, and a check that the
# config.txt block (files/config.txt.fragment, written by install.sh in 00-gateway) is there.
boot="${ROOTFS_DIR}/boot/firmware"
./files/edit-cmdline.sh "${boot}/cmdline.txt"
while IFS= read -r line; do
	case "${line}" in '' | '#'* | '['*) continue ;; esac
	if ! grep -qxF -- "${line}" "${boot}/config.txt"; then
		echo "config.txt lacks '${line}' (did install.sh run?)" >&2
		exit 1
	fi
done <files/config.txt.fragment
