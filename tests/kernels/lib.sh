# tests/kernels/lib.sh - Debian 12's kernels under qemu (TCG), for the kernel
# matrix (matrix.sh) and the guest smoke of make test (smoke.sh). Sourced.
#
# Nothing goes into /boot and the host's boot is never touched: the kernel
# packages are fetched with `apt-get download` and unpacked with
# `dpkg-deb -x` under $OBK_CACHE. A guest shares the host's / read-only
# over 9p, with an overlay on tmpfs above it (guest/init), so it runs the
# very binaries and tests of this checkout. /dev/kvm on these machines is
# PVM, which hangs stock kernels: TCG it is (a guest boots in about 4 s and
# runs 10 to 30 times slower).
# shellcheck shell=bash

OBK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OBK_CACHE=${OBK_CACHE:-/var/cache/oci-bypass/kernels}
# The kernels of the matrix: Debian 12's default (6.1) and its backport
# (6.12), newest build of each that the archive offers.
OBK_SERIES=${OBK_SERIES:-"6.1 6.12"}

obk_log() { printf '  [kernels] %s\n' "$*" >&2; }

# obk_package SERIES: the newest linux-image package of a series.
obk_package() {
	local re
	case $1 in
	6.1) re='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
	6.12) re='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
	*) obk_log "unknown kernel series '$1' (6.1 or 6.12)"; return 1 ;;
	esac
	apt-cache search --names-only "$re" 2>/dev/null | awk '{print $1}' | sort -V | tail -n 1
}

# obk_fetch SERIES: downloads and unpacks the newest kernel of SERIES (once)
# and prints its version (uname -r). Needs Debian's archive.
obk_fetch() {
	local pkg ver dir deb
	pkg=$(obk_package "$1")
	if [ -z "$pkg" ]; then
		apt-get update -qq >/dev/null 2>&1
		pkg=$(obk_package "$1")
	fi
	[ -n "$pkg" ] || { obk_log "no linux-image package for $1 in the archive"; return 1; }
	ver=${pkg#linux-image-}
	dir=$OBK_CACHE/$ver
	if [ ! -e "$dir/.unpacked" ]; then
		mkdir -p "$OBK_CACHE" || return 1
		rm -rf "$dir" "$OBK_CACHE/dl.$$"
		mkdir -p "$OBK_CACHE/dl.$$"
		( cd "$OBK_CACHE/dl.$$" && apt-get download -qq "$pkg" >/dev/null 2>&1 ) ||
			{ obk_log "apt-get download $pkg failed"; rm -rf "$OBK_CACHE/dl.$$"; return 1; }
		deb=$(ls "$OBK_CACHE/dl.$$"/*.deb)
		dpkg-deb -x "$deb" "$dir" || { rm -rf "$OBK_CACHE/dl.$$" "$dir"; return 1; }
		rm -rf "$OBK_CACHE/dl.$$"
		depmod -b "$dir" "$ver" || return 1
		touch "$dir/.unpacked"
	fi
	echo "$ver"
}

# obk_initramfs VER: busybox-static as init plus the modules that mount the
# host's root (virtio PCI, 9p, netfs, overlay), decompressed; prints its path.
obk_initramfs() {
	local ver=$1 dir=$OBK_CACHE/$1 img=$OBK_CACHE/$1/initramfs.cpio.gz
	local tmp m f order=""
	if [ -e "$img" ] && [ "$img" -nt "$OBK_DIR/guest/init" ]; then
		echo "$img"
		return 0
	fi
	tmp=$(mktemp -d) || return 1
	mkdir -p "$tmp/bin" "$tmp/modules" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/mnt"
	cp /bin/busybox "$tmp/bin/busybox" || { rm -rf "$tmp"; return 1; }
	for m in virtio_pci 9pnet_virtio 9p overlay; do
		for f in $(modprobe -d "$dir" -S "$ver" --show-depends "$m" 2>/dev/null |
			awk '$1 == "insmod" {print $2}'); do
			case " $order " in *" $(basename "$f") "*) continue ;; esac
			case $f in
			*.xz) xz -dc "$f" >"$tmp/modules/$(basename "$f" .xz)" ;;
			*.zst) zstd -qdc "$f" >"$tmp/modules/$(basename "$f" .zst)" ;;
			*) cp "$f" "$tmp/modules/" ;;
			esac || { rm -rf "$tmp"; return 1; }
			order="$order $(basename "$f")"
		done
	done
	# load order, dependencies first, without the compression suffix
	for f in $order; do f=${f%.xz}; echo "${f%.zst}"; done >"$tmp/modules/order"
	cp "$OBK_DIR/guest/init" "$tmp/init" && chmod 755 "$tmp/init"
	( cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1 ) >"$img.tmp" &&
		mv "$img.tmp" "$img"
	rm -rf "$tmp"
	[ -e "$img" ] && echo "$img"
}

# obk_run VER TIMEOUT OUTDIR CGROUP SCRIPT: obk_boot, again (at most twice
# more) if the guest died before it ran SCRIPT: Debian's 6.12 under TCG
# now and then panics on an int3 while the kernel patches its own text at
# boot (about 1 boot in 10 here, before init; the console keeps it).
obk_run() {
	local rc try
	for try in 1 2 3; do
		obk_boot "$@"
		rc=$?
		[ $rc = 125 ] && ! grep -q '^obk-guest:' "$3/log" 2>/dev/null &&
			grep -q 'Kernel panic' "$3/console" 2>/dev/null || return $rc
		obk_log "$1: the guest died at boot (try $try): $(grep -m1 -E 'Oops|BUG' "$3/console")"
		cp "$3/console" "$3/console.boot$try"
	done
	return $rc
}

# obk_boot VER TIMEOUT OUTDIR CGROUP SCRIPT: boots kernel VER, runs a copy of
# the bash SCRIPT inside as root, in this checkout, with the cgroup layout
# CGROUP (v2: pure cgroup v2 as Debian 12 has it; hybrid: as this host).
# Its output goes to OUTDIR/log, its exit code to OUTDIR/rc (missing: the
# guest died or timed out); the console goes to OUTDIR/console. Returns the
# script's exit code, or 124 on a timeout, 125 if the guest never ran it.
obk_boot() {
	local ver=$1 tmo=$2 out=$3 cg=$4 script=$5 dir=$OBK_CACHE/$1 img rc
	img=$(obk_initramfs "$ver") || return 125
	mkdir -p "$out" && rm -f "$out/rc" "$out/log" "$out/console"
	cp "$script" "$out/script.sh" || return 125
	printf 'OBK_KVER=%q\nOBK_MODULES=%q\nOBK_CGROUP=%q\nOBK_SCRIPT=%q\nOBK_REPO=%q\n' \
		"$ver" "$dir/lib/modules/$ver" "$cg" /mnt/obk/script.sh "$(cd "$OBK_DIR/../.." && pwd)" >"$out/env"
	# Environment the script needs (OB_BUILD, TESTS, ...), by name.
	local v
	for v in OB_BUILD TESTS SOAK_SECONDS OB_SMOKE; do
		[ -n "${!v-}" ] && printf '%s=%q\n' "$v" "${!v}" >>"$out/env"
	done
	timeout --kill-after=10 "$tmo" qemu-system-x86_64 -accel tcg -cpu max -m 4G -smp 2 \
		-nographic -no-reboot -nodefaults -serial stdio -net none \
		-kernel "$dir/boot/vmlinuz-$ver" -initrd "$img" \
		-append "console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off" \
		-fsdev local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
		-fsdev local,id=obkout,path="$out",security_model=passthrough,multidevs=remap \
		-device virtio-9p-pci,fsdev=obkout,mount_tag=obkout \
		</dev/null >"$out/console" 2>&1
	rc=$?
	[ $rc = 124 ] || [ $rc = 137 ] && return 124
	[ -s "$out/rc" ] || return 125
	return "$(cat "$out/rc")"
}
