#!/bin/bash
# Build the prepaid-gateway SD-card image with pi-gen (in Docker). Needs git, docker, python3
# with pip, and network access to the Raspberry Pi OS and Debian archives and to PyPI.
#
#   image-build/build.sh [--wheelhouse DIR] [--update-key FILE.pub ...]
#
#   --wheelhouse DIR   install the gateway's dependencies from these arm64 wheels only
#                      (pip --no-index), for a build that does not depend on PyPI's state
#   --update-key FILE  bake a trusted release public key into the image (repeatable)
#
# The image lands in image-build/work/pi-gen/deploy/. Pin another pi-gen release with
# PI_GEN_REF=<tag>. SOURCE_DATE_EPOCH defaults to the last commit's time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${WORK_DIR:-$here/work}
pi_gen_url=${PI_GEN_URL:-https://github.com/RPi-Distro/pi-gen.git}
# The arm64 release of Raspberry Pi OS Lite (bookworm) this image is built on.
pi_gen_ref=${PI_GEN_REF:-2024-11-19-raspios-bookworm-arm64}
wheelhouse=""
keys=()

while [ $# -gt 0 ]; do
  case "$1" in
    --wheelhouse) wheelhouse=$(realpath "${2:?}"); shift 2 ;;
    --update-key) keys+=("$(realpath "${2:?}")"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct)}
mkdir -p "$work"

if [ ! -d "$work/pi-gen/.git" ]; then
  git clone --depth 1 --branch "$pi_gen_ref" "$pi_gen_url" "$work/pi-gen"
fi
pigen="$work/pi-gen"
stage="$pigen/stage-gateway"

# The stage, with the gateway's wheel and source tree (units, scripts, docs) in its files/.
rm -rf "$stage"
cp -a "$here/stage-gateway" "$stage"
files="$stage/00-gateway/files"
mkdir -p "$files/update-keys"
python3 -m pip wheel --no-deps --wheel-dir "$files" "$repo"
tar -C "$repo" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  --exclude=.git --exclude=.venv --exclude=image-build/work --exclude='*.egg-info' \
  --exclude=__pycache__ --exclude=.mypy_cache --exclude=.ruff_cache --exclude=.pytest_cache \
  -czf "$files/prepaid-gateway-src.tar.gz" .
for key in "${keys[@]}"; do
  cp "$key" "$files/update-keys/"
done
if [ -n "$wheelhouse" ]; then
  cp -a "$wheelhouse" "$files/wheelhouse"
fi

# Only our stage exports an image; stage2 would otherwise export plain Lite too.
touch "$pigen/stage2/SKIP_IMAGES"
cp "$here/config" "$pigen/config"
echo "FIRST_USER_PASS=\"$(head -c 24 /dev/urandom | base64 | tr -d '/+=')\"" >>"$pigen/config"

cd "$pigen"
./build-docker.sh -c config
ls -l deploy/
