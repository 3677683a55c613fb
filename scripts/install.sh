#!/bin/bash
# Install prepaid-gateway on Raspberry Pi OS (Debian bookworm) from this checkout or a wheel.
#
#   sudo scripts/install.sh                  # then edit /etc/prepaid-gateway/gateway.toml, reboot
#
# It installs the Debian packages, the service user (sysusers.d), directories (tmpfiles.d), a
# virtual environment in /opt/prepaid-gateway/releases/<version>/venv (with the `current`
# and `venv` symlinks `prepaid-gateway update` switches), the systemd units, the polkit rule for
# pcscd, a default configuration (never overwriting one), and enables the UART for the RS485
# HAT (Bluetooth moved off it), I2C for the OLED and the hardware watchdog in config.txt.
# Running it again is safe: every edit is idempotent.
#
# Options:
#   --wheel FILE        install this wheel instead of the checkout
#   --update-key FILE   trust this release public key for `prepaid-gateway update` (repeatable)
#   --python PATH       interpreter for the virtual environment (default /usr/bin/python3)
#   --root DIR          install into DIR instead of / (a scratch root for CI or image builds)
#   --no-apt            do not install Debian packages
#   --no-venv           do not build the virtual environment
#   --no-systemctl      do not run systemctl (enabling units is left to the caller)
#   -h, --help          this text
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=/
wheel=""
python=/usr/bin/python3
do_apt=1
do_venv=1
do_systemctl=1
keys=()

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
log() { echo "install: $*"; }
die() { echo "install: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel=$(realpath "${2:?--wheel needs a file}"); shift 2 ;;
    --update-key) keys+=("$(realpath "${2:?--update-key needs a file}")"); shift 2 ;;
    --python) python=${2:?--python needs a path}; shift 2 ;;
    --root) root=$(realpath -m "${2:?--root needs a directory}"); shift 2 ;;
    --no-apt) do_apt=0; shift ;;
    --no-venv) do_venv=0; shift ;;
    --no-systemctl) do_systemctl=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

if [ "$root" = / ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo $0), or give --root DIR for a scratch install"
fi
[ -n "$wheel" ] && [ ! -f "$wheel" ] && die "no such wheel: $wheel"
R=${root%/}  # "" for the real system, so "$R/etc" is /etc
prefix=/opt/prepaid-gateway

# What the gateway needs at run time on Raspberry Pi OS: a compiler and PC/SC headers because
# pyscard builds from source, the PC/SC daemon and tools, I2C tools for commissioning, fonts.
packages=(python3-venv python3-dev gcc swig libpcsclite-dev pcscd pcsc-tools i2c-tools
  fonts-unifont fonts-wqy-zenhei openssl util-linux)

install_packages() {
  [ "$do_apt" = 1 ] || return 0
  log "installing Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # gpiozero's pin library on Raspberry Pi OS (its own archive; the venv sees system packages).
  if apt-cache show python3-lgpio >/dev/null 2>&1; then
    packages+=(python3-lgpio)
  fi
  apt-get install -y -q --no-install-recommends "${packages[@]}"
}

# Installs $1 as $2 with mode $3, creating directories.
put() { install -D -m "$3" "$1" "$R$2"; }

group_id() {  # numeric id of group $1 inside the target root (names differ from the host's)
  awk -F: -v g="$1" '$1 == g { print $3 }' "$R/etc/group" 2>/dev/null
}

install_users_and_dirs() {
  log "service user and directories"
  put "$src/systemd/sysusers.d/prepaid-gateway.conf" /etc/sysusers.d/prepaid-gateway.conf 0644
  put "$src/systemd/tmpfiles.d/prepaid-gateway.conf" /etc/tmpfiles.d/prepaid-gateway.conf 0644
  if [ -n "$R" ]; then
    mkdir -p "$R/etc"
    systemd-sysusers --root="$R" "$R/etc/sysusers.d/prepaid-gateway.conf"
    systemd-tmpfiles --create --root="$R" "$R/etc/tmpfiles.d/prepaid-gateway.conf"
  else
    systemd-sysusers /etc/sysusers.d/prepaid-gateway.conf
    systemd-tmpfiles --create /etc/tmpfiles.d/prepaid-gateway.conf
  fi
}

install_system_files() {
  log "systemd units, polkit rule, watchdog and module settings"
  local unit
  for unit in prepaid-gateway.service prepaid-gateway-backup.service \
    prepaid-gateway-backup.timer prepaid-gateway-update.service prepaid-gateway-update.path; do
    put "$src/systemd/$unit" "/etc/systemd/system/$unit" 0644
  done
  put "$src/systemd/polkit/50-prepaid-gateway-pcscd.rules" \
    /etc/polkit-1/rules.d/50-prepaid-gateway-pcscd.rules 0644
  put "$src/systemd/system.conf.d/50-prepaid-gateway-watchdog.conf" \
    /etc/systemd/system.conf.d/50-prepaid-gateway-watchdog.conf 0644
  put "$src/systemd/modules-load.d/prepaid-gateway.conf" \
    /etc/modules-load.d/prepaid-gateway.conf 0644
  put "$src/scripts/prepaid-gateway-backup.sh" \
    /usr/local/lib/prepaid-gateway/prepaid-gateway-backup.sh 0755
  # The commissioning and update commands on every technician's PATH, following `current`.
  mkdir -p "$R/usr/local/bin"
  ln -sfn "$prefix/venv/bin/prepaid-gateway" "$R/usr/local/bin/prepaid-gateway"
  if [ -f "$src/docs/install.md" ]; then
    put "$src/docs/install.md" "$prefix/docs/install.md" 0644
  fi
}

install_config() {
  local config=/etc/prepaid-gateway/gateway.toml example="$src/docs/gateway.example.toml" gid
  gid=$(group_id prepaid-gateway)
  if [ -e "$R$config" ]; then
    log "keeping the existing $config"
  elif [ -f "$example" ]; then
    put "$example" "$config" 0640
    [ -n "$gid" ] && chown "0:$gid" "$R$config"
    log "installed a default $config: edit it before the first start"
  else
    log "warning: $example is missing; write $config by hand (see docs/install.md)"
  fi
  # The site secret keys the IC cards' MACs ([cards] site_key). One is made here for a
  # single-gateway site; every gateway of a multi-gateway site must hold the same secret
  # (copy this file), or cards made at one are refused at the others' meters.
  local secret=/var/lib/prepaid-gateway/site-secret
  if [ ! -e "$R$secret" ]; then
    mkdir -p "$(dirname "$R$secret")"
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$R$secret")
    [ -n "$gid" ] && chown "0:$gid" "$R$secret" && chmod 0640 "$R$secret"
    log "made a new site secret $secret (copy it to every gateway of this site)"
  fi
  local key
  for key in "${keys[@]}"; do
    grep -q -- "-----BEGIN PUBLIC KEY-----" "$key" || die "$key is not a PEM public key"
    put "$key" "/etc/prepaid-gateway/update-keys/$(basename "$key")" 0644
    log "trusting release key $(basename "$key")"
  done
}

package_version() {
  if [ -n "$wheel" ]; then
    basename "$wheel" | cut -d- -f2
  else
    "$python" - "$src/pyproject.toml" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as fh:
    print(tomllib.load(fh)["project"]["version"])
PY
  fi
}

install_venv() {
  [ "$do_venv" = 1 ] || return 0
  local version release venv old=""
  version=$(package_version)
  release="$prefix/releases/$version"
  venv="$R$release/venv"
  log "virtual environment for prepaid-gateway $version in $release/venv"
  # --system-site-packages: the GPIO library (python3-lgpio) comes from Raspberry Pi OS; every
  # Python package the gateway declares is installed into the venv and takes precedence.
  [ -e "$venv/bin/python" ] || "$python" -m venv --system-site-packages "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # --ignore-installed: Debian's copies of our dependencies must not stand in for ours.
  "$venv/bin/python" -m pip install --quiet --ignore-installed "${wheel:-$src}"
  "$venv/bin/prepaid-gateway" --version >/dev/null
  # The marker `prepaid-gateway update` uses to tell a finished release from a broken one.
  printf '{\n  "version": "%s",\n  "installed_at": "%s",\n  "installed_by": "install.sh"\n}\n' \
    "$version" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$R$release/RELEASE.json"
  if [ -L "$R$prefix/current" ]; then
    old=$(readlink "$R$prefix/current")
  fi
  if [ -n "$old" ] && [ "$old" != "releases/$version" ]; then
    ln -sfn "$old" "$R$prefix/previous"
  fi
  ln -sfn "releases/$version" "$R$prefix/current"
  ln -sfn current/venv "$R$prefix/venv"
}

# config.txt: one managed block at the end, under [all], so it wins over earlier lines and
# re-running replaces it instead of adding another.
begin_mark="# BEGIN prepaid-gateway (managed by scripts/install.sh)"
end_mark="# END prepaid-gateway"

# The same lines the SD-card image uses.
fragment="$src/image-build/stage-gateway/01-boot/files/config.txt.fragment"

edit_boot_config() {
  local boot
  if [ -f "$R/boot/firmware/config.txt" ]; then
    boot="$R/boot/firmware"
  elif [ -f "$R/boot/config.txt" ]; then
    boot="$R/boot"
  else
    log "warning: no config.txt under $R/boot: not a Raspberry Pi? UART/I2C/watchdog not set"
    return 0
  fi
  log "enabling UART (Bluetooth off it), I2C and the watchdog in $boot/config.txt"
  local tmp
  tmp=$(mktemp)
  awk -v b="$begin_mark" -v e="$end_mark" '
    $0 == b { skip = 1; next }
    $0 == e { skip = 0; next }
    !skip' "$boot/config.txt" >"$tmp"
  {
    echo "$begin_mark"
    cat "$fragment"
    echo "$end_mark"
  } >>"$tmp"
  cat "$tmp" >"$boot/config.txt"
  rm -f "$tmp"
  # A login console on the UART would write boot messages onto the RS485 bus.
  if [ -f "$boot/cmdline.txt" ]; then
    sed -E -i 's/(^| )console=(serial0|ttyAMA0|ttyS0),[0-9]+//g; s/^ +//' "$boot/cmdline.txt"
  fi
}

units=(pcscd.socket prepaid-gateway.service prepaid-gateway-backup.timer
  prepaid-gateway-update.path)

enable_units() {
  [ "$do_systemctl" = 1 ] || { log "not enabling units (--no-systemctl)"; return 0; }
  local sc=(systemctl)
  # With --root, systemctl only creates the enablement symlinks: no running systemd needed.
  [ -n "$R" ] && sc=(systemctl --root="$R")
  # Only a booted system has a manager to reload (not a chroot such as the image build).
  if [ -z "$R" ] && [ -d /run/systemd/system ]; then
    "${sc[@]}" daemon-reload
  fi
  local unit present=()
  for unit in "${units[@]}"; do
    if [ -e "$R/etc/systemd/system/$unit" ] || [ -e "$R/lib/systemd/system/$unit" ] ||
      [ -e "$R/usr/lib/systemd/system/$unit" ]; then
      present+=("$unit")
    else
      log "warning: $unit is not installed; not enabling it"
    fi
  done
  "${sc[@]}" enable "${present[@]}"
  # disable-bt leaves the modem service trying to attach to a UART it no longer has.
  if [ -e "$R/lib/systemd/system/hciuart.service" ]; then
    "${sc[@]}" disable hciuart.service || true
  fi
}

install_packages
install_users_and_dirs
install_system_files
install_config
install_venv
edit_boot_config
enable_units
log "done. Edit /etc/prepaid-gateway/gateway.toml, then reboot (config.txt changes need it)."
