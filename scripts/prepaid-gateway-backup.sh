#!/bin/bash
# Daily database backup for prepaid-gateway (run by prepaid-gateway-backup.service).
#
#   prepaid-gateway-backup.sh data   as the service user: write a consistent backup with
#                                    `prepaid-gateway db backup`, then keep the newest N
#   prepaid-gateway-backup.sh usb    as root: copy the newest backup to a USB stick whose
#                                    file system is labelled GWBACKUP, if one is plugged in
#
# Settings (environment): PREPAID_GATEWAY_BIN, PREPAID_GATEWAY_BACKUP_DIR,
# PREPAID_GATEWAY_BACKUP_KEEP (14), PREPAID_GATEWAY_USB_LABEL (GWBACKUP),
# PREPAID_GATEWAY_USB_KEEP (60), PREPAID_GATEWAY_USB_DIR (use this mounted directory instead
# of looking for the label), PREPAID_GATEWAY_BACKUP_STAMP (file time stamp, default now UTC).
set -euo pipefail

bin=${PREPAID_GATEWAY_BIN:-/opt/prepaid-gateway/venv/bin/prepaid-gateway}
backup_dir=${PREPAID_GATEWAY_BACKUP_DIR:-/var/lib/prepaid-gateway/backups}
keep=${PREPAID_GATEWAY_BACKUP_KEEP:-14}
usb_label=${PREPAID_GATEWAY_USB_LABEL:-GWBACKUP}
usb_keep=${PREPAID_GATEWAY_USB_KEEP:-60}
usb_dir=${PREPAID_GATEWAY_USB_DIR:-}
stamp=${PREPAID_GATEWAY_BACKUP_STAMP:-$(date -u +%Y%m%d-%H%M%S)}

log() { echo "prepaid-gateway-backup: $*"; }
die() { echo "prepaid-gateway-backup: $*" >&2; exit 1; }

# Names sort by time (gateway-YYYYmmdd-HHMMSS.db), so the list is oldest first.
backups_in() {
  find "$1" -maxdepth 1 -type f -name 'gateway-*.db' -printf '%f\n' | LC_ALL=C sort
}

# Delete all but the newest $2 backups in $1; only our own file names are ever touched.
rotate() {
  local dir=$1 count=$2 total name
  total=$(backups_in "$dir" | wc -l)
  [ "$total" -gt "$count" ] || return 0
  backups_in "$dir" | head -n "$((total - count))" | while read -r name; do
    rm -f -- "${dir:?}/$name"
    log "rotated out $dir/$name"
  done
}

backup_data() {
  mkdir -p "$backup_dir"
  local part="$backup_dir/.gateway-$stamp.db.part" final="$backup_dir/gateway-$stamp.db"
  rm -f -- "$part"
  "$bin" db backup "$part" || { rm -f -- "$part"; die "prepaid-gateway db backup failed"; }
  # A failed or empty backup must never rotate away a good old one.
  [ -s "$part" ] || { rm -f -- "$part"; die "the backup file is empty"; }
  mv -f -- "$part" "$final"
  sync -f "$final" 2>/dev/null || sync
  log "wrote $final ($(stat -c %s "$final") bytes)"
  rotate "$backup_dir" "$keep"
}

copy_to() {
  local target=$1 newest
  newest=$(backups_in "$backup_dir" | tail -n 1)
  [ -n "$newest" ] || { log "no backup in $backup_dir to copy"; return 0; }
  mkdir -p "$target"
  if [ -e "$target/$newest" ]; then
    log "$target/$newest already there"
    return 0
  fi
  cp -- "$backup_dir/$newest" "$target/.$newest.part"
  mv -f -- "$target/.$newest.part" "$target/$newest"
  sync
  log "copied $newest to $target"
  rotate "$target" "$usb_keep"
}

backup_usb() {
  if [ -n "$usb_dir" ]; then
    copy_to "$usb_dir"
    return 0
  fi
  local dev mnt mounted_here=""
  dev=$(blkid -L "$usb_label" 2>/dev/null || true)
  if [ -z "$dev" ]; then
    log "no USB stick labelled $usb_label: skipped"
    return 0
  fi
  mnt=$(findmnt -n -o TARGET --source "$dev" 2>/dev/null | head -n 1 || true)
  if [ -z "$mnt" ]; then
    mnt=$(mktemp -d /run/prepaid-gateway-usb.XXXXXX)
    mount -o noexec,nosuid,nodev "$dev" "$mnt" || { rmdir "$mnt"; die "cannot mount $dev"; }
    mounted_here=$mnt
  fi
  local status=0
  copy_to "$mnt/prepaid-gateway-backups/$(hostname)" || status=$?
  if [ -n "$mounted_here" ]; then
    umount "$mounted_here" && rmdir "$mounted_here"
    log "unmounted $dev: the stick can be removed"
  fi
  return "$status"
}

case "${1:-}" in
  data) backup_data ;;
  usb) backup_usb ;;
  *) die "usage: $0 data|usb" ;;
esac
