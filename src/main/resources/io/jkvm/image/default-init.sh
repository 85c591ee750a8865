#!/bin/sh
# jkvm default guest /init (busybox). Kernel command line switches:
#   jkvm.demo      print the facts lines, then power off
#   jkvm.reboot    print the facts lines, then reboot (the VMM sees the i8042/ACPI reset)
#   jkvm.run=PATH  run PATH (e.g. a workload added to the initramfs), then power off
#   root=/dev/vda  mount that ext4 disk and switch_root to it (init=PATH picks its init, default /sbin/init)
#   (none)         interactive shell on the console; power off when it exits
#                  (and, with a framebuffer, another shell on tty1)
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=${TERM:-linux}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
echo 1 > /proc/sys/kernel/printk

rel=$(uname -r)
# Absent devices or already-built-in drivers make insmod fail: that is expected, stay quiet.
while read -r m; do
  insmod "/lib/modules/$rel/$m" 2>/dev/null
done < "/lib/modules/$rel/jkvm.load"
ip link set lo up 2>/dev/null
hostname jkvm-guest

mode=shell root= rootinit=/sbin/init run=
set -f  # the command line may contain glob characters
for w in $(cat /proc/cmdline); do
  case "$w" in
    jkvm.demo) mode=demo ;;
    jkvm.reboot) mode=reboot ;;
    jkvm.run=*) run=${w#jkvm.run=} ;;
    root=*) root=${w#root=} ;;
    init=*) rootinit=${w#init=} ;;
  esac
done
set +f

echo "jkvm-guest: up"
echo "jkvm-guest: kernel=$rel cpus=$(nproc) mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo) date=$(date -u +%Y-%m-%dT%H:%M:%SZ) uptime_s=$(cut -d' ' -f1 /proc/uptime)"

if [ -n "$run" ]; then
  "$run"
  echo "jkvm-guest: $run exited with $?, powering off"
  poweroff -f
fi

if [ "$root" = /dev/vda ] && [ -b /dev/vda ] && [ "$mode" = shell ]; then
  mkdir -p /newroot
  if mount -t ext4 /dev/vda /newroot; then
    echo "jkvm-guest: switch_root /dev/vda $rootinit"
    for d in dev proc sys run; do
      if [ -d "/newroot/$d" ]; then mount --move "/$d" "/newroot/$d"; else umount -l "/$d"; fi
    done
    exec switch_root /newroot "$rootinit"
  fi
  echo "jkvm-guest: cannot mount /dev/vda as ext4, staying in the initramfs"
fi

case "$mode" in
  demo) poweroff -f ;;
  reboot) reboot -f ;;
esac
# With a display (--display: the bochs driver made /dev/fb0, fbcon shows tty1) a second shell
# there, its session's controlling terminal; the console shell below still decides power-off.
if [ -e /dev/fb0 ] && [ -c /dev/tty1 ]; then
  setsid sh -c 'exec sh -l </dev/tty1 >/dev/tty1 2>&1' &
fi
setsid cttyhack sh -l
echo "jkvm-guest: shell exited, powering off"
poweroff -f
