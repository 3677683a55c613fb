#!/bin/bash
# Kernel command line of the appliance, edited in place (idempotent): edit-cmdline.sh FILE
#  - no login console on the UART: it belongs to the RS485 bus;
#  - root mounted read-only from the start (fstab keeps it so);
#  - no first-boot root resize: the free space after the root partition becomes the data
#    partition (prepaid-gateway-datapart.service). Raspberry Pi OS spells the resize trigger
#    `init=/usr/lib/raspberrypi-sys-mods/firstboot` (older) or `resize` (newer).
set -euo pipefail
file=${1:?usage: edit-cmdline.sh CMDLINE_FILE}
line=$(head -n 1 "$file")
out=()
for word in $line; do
	case "$word" in
		console=serial0,* | console=ttyAMA0,* | console=ttyS0,*) ;;
		init=/usr/lib/raspberrypi-sys-mods/firstboot | init=/usr/lib/raspi-config/init_resize.sh) ;;
		resize | ro | rw) ;;
		*) out+=("$word") ;;
	esac
done
out+=(ro)
printf '%s\n' "${out[*]}" >"$file"
