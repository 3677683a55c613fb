#!/bin/bash
# First boot: turn the free space after the root partition into the data partition (ext4,
# label GWDATA) and seed it with what the image ships in the directories it will cover.
# Each step is skipped once done (a marker file records the seeding), so a power cut halfway
# through is finished on the next boot, and later boots cost one quick mount.
set -euo pipefail
label=GWDATA
marker=.prepaid-gateway-seeded

log() { echo "prepaid-gateway-datapart: $*"; }

create_partition() {
	local root_part disk part
	root_part=$(findmnt -n -o SOURCE /)
	disk="/dev/$(lsblk -n -d -o PKNAME "$root_part")"
	if [ ! -b "$disk" ]; then
		log "cannot find the disk holding $root_part"
		exit 1
	fi
	log "creating the data partition on $disk after $root_part"
	# One Linux partition over all the free space after the last one. If the root was expanded
	# over the whole card (a resize on first boot) there is none: say so instead of guessing.
	if ! echo ',,L' | sfdisk --append --no-reread --wipe-partitions always "$disk"; then
		log "no free space after the root partition; see docs/install.md (data partition)"
		exit 1
	fi
	partx --update "$disk" || partprobe "$disk" || true
	udevadm settle
	part="/dev/$(lsblk -n -r -o NAME,TYPE "$disk" | awk '$2 == "part" { n = $1 } END { print n }')"
	if [ ! -b "$part" ] || [ "$part" = "$root_part" ]; then
		log "the new partition did not appear"
		exit 1
	fi
	mkfs.ext4 -q -F -L "$label" -O ^huge_file "$part"
}

seed() {
	local mnt=$1
	install -d -m 0750 -o prepaid-gateway -g prepaid-gateway \
		"$mnt/state" "$mnt/state/backups" "$mnt/log"
	install -d -m 0755 "$mnt/update" "$mnt/system"
	install -d -m 0770 -g prepaid-gateway "$mnt/update/inbox"
	# What the image holds under the bind-mount targets becomes the starting content.
	[ -e "$mnt/config" ] || cp -a /etc/prepaid-gateway "$mnt/config"
	[ -e "$mnt/system/systemd" ] || cp -a /var/lib/systemd "$mnt/system/systemd"
	[ -e "$mnt/system/nm-connections" ] ||
		cp -a /etc/NetworkManager/system-connections "$mnt/system/nm-connections"
	if [ -f /etc/fake-hwclock.data ] && [ ! -e "$mnt/system/fake-hwclock.data" ]; then
		cp -a /etc/fake-hwclock.data "$mnt/system/fake-hwclock.data"
	fi
	sync
	touch "$mnt/$marker"
	sync
}

blkid -L "$label" >/dev/null 2>&1 || create_partition
part=$(blkid -L "$label")
mnt=$(mktemp -d /run/prepaid-gateway-data.XXXXXX)
mount "$part" "$mnt"
trap 'umount "$mnt"; rmdir "$mnt"' EXIT
if [ ! -e "$mnt/$marker" ]; then
	seed "$mnt"
	log "data partition $part ready"
fi
