#!/bin/bash
# stage2.sh - the kernel-matrix guest after switch_root (host's / read-only
# under a tmpfs overlay): mounts what a Debian 12 host has at boot, runs
# OBK_SCRIPT, writes its exit code to /mnt/obk/rc and powers off.
. /mnt/obk/env
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
export OBK_KVER OB_BUILD TESTS SOAK_SECONDS OB_SMOKE OBK_GUEST=1
for v in OB_BUILD TESTS SOAK_SECONDS OB_SMOKE; do [ -n "${!v-}" ] || unset "$v"; done

ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts 2>/dev/null
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
# /tmp and /var/tmp stay as the overlay has them (writable, on tmpfs): the
# checkout under test may live there.
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
# The unpacked kernel's modules, where modprobe looks for them.
mkdir -p "/lib/modules/$OBK_KVER" && mount --bind "$OBK_MODULES" "/lib/modules/$OBK_KVER"
case $OBK_CGROUP in
hybrid)
	# as this host: v1 controllers under /sys/fs/cgroup, v2 in unified
	mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
	for c in $(awk 'NR > 1 && $4 == 1 {print $1}' /proc/cgroups); do
		mkdir -p "/sys/fs/cgroup/$c" && mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null ||
			rmdir "/sys/fs/cgroup/$c"
	done
	mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
	;;
*) mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup ;;
esac
ip link set lo up
hostname obk-guest
ulimit -n 20000 2>/dev/null
modprobe -q veth; modprobe -q bridge
echo "obk-guest: kernel $(uname -r), cgroup $OBK_CGROUP, $(nproc) CPUs" >/mnt/obk/log
cd "$OBK_REPO" || exit 1
bash "$OBK_SCRIPT" >>/mnt/obk/log 2>&1
echo $? >/mnt/obk/rc
sync
echo o >/proc/sysrq-trigger
sleep 10
