#!/bin/bash -e
# Install the gateway inside the image with the same script an existing Raspberry Pi OS uses
# (scripts/install.sh): service user, directories, venv in /opt/prepaid-gateway, units, polkit
# rule, default configuration, config.txt block (UART without Bluetooth, I2C, watchdog).
# image-build/build.sh placed the source tree, the wheel and release keys in files/.
src=/tmp/prepaid-gateway-src
rm -rf "${ROOTFS_DIR:?}${src}"
install -d "${ROOTFS_DIR}${src}/update-keys"
tar -xzf files/prepaid-gateway-src.tar.gz -C "${ROOTFS_DIR}${src}"
wheels=(files/prepaid_gateway-*.whl)
if [ ! -f "${wheels[0]}" ]; then
	echo "no prepaid_gateway wheel in files/: run image-build/build.sh" >&2
	exit 1
fi
install -m 0644 "${wheels[0]}" "${ROOTFS_DIR}${src}/"
wheel="${src}/$(basename "${wheels[0]}")"
key_args=""
for key in files/update-keys/*.pub; do
	[ -e "${key}" ] || continue
	install -m 0644 "${key}" "${ROOTFS_DIR}${src}/update-keys/"
	key_args="${key_args} --update-key ${src}/update-keys/$(basename "${key}")"
done
pip_env=""
if [ -d files/wheelhouse ]; then
	# Pinned dependency wheels, installed offline, make the venv reproducible.
	cp -r files/wheelhouse "${ROOTFS_DIR}${src}/wheelhouse"
	pip_env="PIP_NO_INDEX=1 PIP_FIND_LINKS=${src}/wheelhouse"
fi

on_chroot <<CHROOT
set -e
env ${pip_env} ${src}/scripts/install.sh --no-apt --wheel ${wheel} ${key_args}
CHROOT

rm -rf "${ROOTFS_DIR:?}${src}"
