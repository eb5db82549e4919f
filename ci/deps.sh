#!/usr/bin/env bash
# Installs every Debian 12 package that the Kiln build and its tests need.
# Idempotent: installs only what is missing and runs `apt-get update` at most once.
# `make deps` runs it; `make` runs it when root and packages are missing.
set -euo pipefail

# Every package that owns a file in ci/host-files.txt is here, even the ones every Debian
# system has (tar, bash, dpkg): internal/hostdeps checks both lists against dpkg, so a
# package installed by hand cannot hide a missing line.
#
# Build: the kernel (make, gcc and friends) from Debian's pinned source package; runc
# (containerd/) with cgo, linked statically against libseccomp-dev's libseccomp.a (cgo finds
# it through pkgconf); the Kubernetes payload carries nftables' nft with the libraries it
# loads (kube-proxy's nftables mode runs it; pipeline/nft.go).
# Boot: QEMU, OVMF, swtpm, systemd-boot + systemd-stub; iproute2 for the lab network (qemu/lab),
# and dnsmasq as the lab's plain DHCP server beside `kiln pxe serve --proxy`.
# Oracles: the real tools that check what our Go writers produce.
# API: protoc and the well-known .proto files it imports (libprotobuf-dev: protobuf-compiler
# alone, without recommends, lacks google/protobuf/timestamp.proto) for `make generate` and
# the test that the generated code is current.
PACKAGES=(
	build-essential make gcc binutils bc bison flex libelf-dev libssl-dev pahole cpio kmod rsync xz-utils zstd tar perl-base pkgconf diffutils libc-bin
	libseccomp-dev nftables libc6
	linux-source-6.1
	qemu-system-x86 qemu-utils ovmf iproute2 swtpm swtpm-tools libtss2-esys-3.0.2-0 libtss2-tcti-swtpm0 libtss2-rc0 libtss2-mu0
	systemd-boot-efi systemd-boot systemd dnsmasq-base
	squashfs-tools dosfstools mtools gdisk fdisk xorriso genisoimage sbsigntool osslsigncode efitools openssl
	e2fsprogs mount util-linux git ca-certificates jq time coreutils mawk bash dash dpkg
	protobuf-compiler libprotobuf-dev
)

missing() {
	local pkg
	for pkg in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || echo "$pkg"
	done
}

case "${1:-}" in
--missing)
	missing
	exit 0
	;;
--print)
	todo=$(missing | tr '\n' ' ')
	[ -z "$todo" ] || echo "apt-get install -y --no-install-recommends $todo"
	exit 0
	;;
esac

todo=$(missing)
if [ -z "$todo" ]; then
	echo "deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends $(echo $todo)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $todo
