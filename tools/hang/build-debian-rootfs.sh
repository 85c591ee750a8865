#!/bin/sh
# Test tool (not product): builds a Debian 12 ext4 root file system for the 2-vCPU hang
# reproduction (issue 10, item 3): systemd as init, udev, systemd-networkd on the virtio-net
# interface, cpuid, and a unit that reports and powers off when the kernel command line has
# jkvm.loop (jkvm.facts adds CPUID, CPU flags and clock/APIC dmesg lines between markers;
# jkvm.kallsyms saves /proc/kallsyms to /root/kallsyms.txt on the image).
#
#   tools/hang/build-debian-rootfs.sh [OUT.ext4]      (default build/hang/debian12.ext4; needs root)
#
# Boot it with the default initramfs (bin/jkvm image build), which loads the virtio and ext4
# modules and switch_roots to /dev/vda:
#   jkvm run --kernel K --initrd build/images/default-*.cpio.gz --cpus 2 --memory 1G \
#     --disk path=debian12.ext4 --net tap=tap0 --cmdline "console=ttyS0 root=/dev/vda jkvm.loop"
set -eu
out=${1:-build/hang/debian12.ext4}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rel=$(ls /lib/modules | sort -V | tail -n 1)
work=$(mktemp -d /tmp/hang-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$(dirname "$out")"

mmdebstrap --variant=minbase --mode=root \
  --include=systemd,systemd-sysv,udev,kmod,iproute2,procps,cpuid,e2fsprogs \
  --customize-hook='echo jkvm-debian > "$1/etc/hostname"' \
  --customize-hook='chroot "$1" passwd -d root' \
  --customize-hook='printf "/dev/vda / ext4 defaults 0 1\n" > "$1/etc/fstab"' \
  --customize-hook="mkdir -p \"\$1/lib/modules\" && cp -a /lib/modules/$rel \"\$1/lib/modules/\"" \
  --customize-hook='mkdir -p "$1/etc/systemd/network" && printf "[Match]\nName=en* eth*\n\n[Network]\nAddress=10.0.2.15/24\n" > "$1/etc/systemd/network/10-virtio.network"' \
  --customize-hook='chroot "$1" systemctl enable systemd-networkd' \
  --customize-hook='cat > "$1/usr/local/sbin/jkvm-loop" <<"SCRIPT"
#!/bin/sh
# Reports that the system is up (and, with jkvm.facts, what the guest sees), then powers off.
exec >/dev/console 2>&1
echo "jkvm-loop: up uptime_s=$(cut -d" " -f1 /proc/uptime) cpus=$(nproc)"
if grep -qw jkvm.facts /proc/cmdline; then
  echo "@@facts-begin"
  echo "## cpuid -r"; cpuid -r
  echo "## cpuinfo flags"; grep -m1 "^flags" /proc/cpuinfo
  echo "## clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource) available: $(cat /sys/devices/system/clocksource/clocksource0/available_clocksource)"
  echo "## dmesg"; dmesg | grep -iE "tsc|clocksource|kvm|x2apic|apic|pv|smp|hpet|clock|timer|rcu|hypervisor|paravirt|steal|cpu ?[01]|ioapic"
  echo "@@facts-end"
fi
if grep -qw jkvm.kallsyms /proc/cmdline; then
  # For symbolising vCPU report RIPs (boot with nokaslr): read the image afterwards with debugfs.
  cat /proc/kallsyms >/root/kallsyms.txt; sync
  echo "jkvm-loop: /root/kallsyms.txt written"
fi
echo "jkvm-loop: powering off"
systemctl poweroff --no-block
SCRIPT
chmod 755 "$1/usr/local/sbin/jkvm-loop"' \
  --customize-hook='cat > "$1/etc/systemd/system/jkvm-loop.service" <<"UNIT"
[Unit]
Description=jkvm boot loop: report and power off
ConditionKernelCommandLine=jkvm.loop
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/jkvm-loop

[Install]
WantedBy=multi-user.target
UNIT
chroot "$1" systemctl enable jkvm-loop.service' \
  bookworm "$work/root" "$mirror"

rm -f "$out"
truncate -s 2G "$out"
mke2fs -q -t ext4 -L debian12 -d "$work/root" "$out"
echo "built $out ($(du -h "$out" | cut -f1) used)"
