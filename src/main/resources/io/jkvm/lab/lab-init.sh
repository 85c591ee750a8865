#!/bin/sh
# jkvm lab L1 /init (busybox): mounts the host over virtio-9p, loads KVM and runs one job.
#
# Kernel command line: jkvm.lab=<job dir>, a directory under the host's /tmp holding
#   job     shell fragment sourced here: TTY=0|1, ROWS/COLS, "share TAG PATH" lines
#   cmd.sh  the command, run by the host's /bin/sh inside the chroot
# Results: <job dir>/status gets "exit N" or "error MESSAGE"; the console gets the same as the
# markers @@JKVM-LAB-EXIT N@@ / @@JKVM-LAB-ERROR MESSAGE@@ (fallback for the host side).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Kernel messages would land in the middle of the command's console output: only KERN_EMERG
# reaches the console. Not 0: panic() and oops raise the level only when it is not 0
# (console_verbose), and a lab machine that panics must say why instead of vanishing.
echo 1 > /proc/sys/kernel/printk
# The project's hosts run transparent huge pages "madvise" (docs/host-kvm.md); Debian's kernel
# defaults to "always", and then khugepaged collapses the guest RAM of every VMM in L1 (private
# anonymous memory) on an emulated CPU: seen stuck for minutes (soft lockups) while a lab test
# timed out. L1 stands for such a host, so it runs the hosts' setting.
echo madvise > /sys/kernel/mm/transparent_hugepage/enabled

# Progress lines (with L1 uptime) stay in the console log, which the host shows on failure.
say() { echo "jkvm-lab: $(cut -d' ' -f1 /proc/uptime) $*"; }
say "init started"
rel=$(uname -r)
# A module's parameters come from the kernel command line (kvm_amd.npt=0), as modprobe would
# give them; busybox insmod does not read it. JKVM_LAB_APPEND puts them there.
params_for() {
  for w in $(cat /proc/cmdline); do case "$w" in "$1".*=*) printf '%s ' "${w#"$1".}" ;; esac; done
}
while read -r m; do
  name=$(basename "$m"); name=$(echo "${name%%.ko*}" | tr - _)
  # shellcheck disable=SC2046 # one word per parameter
  insmod "/lib/modules/$rel/$m" $(params_for "$name") 2>/dev/null
done < "/lib/modules/$rel/jkvm.load"
say "modules loaded"

set -f
job=
for w in $(cat /proc/cmdline); do
  case "$w" in jkvm.lab=*) job=${w#jkvm.lab=} ;; esac
done
set +f

R=/newroot
status_ok=
finish() {
  [ -n "$status_ok" ] && echo "$1" > "$R$job/status"
  case "$1" in
    exit*) echo "@@JKVM-LAB-EXIT ${1#exit }@@" ;;
    *) echo "@@JKVM-LAB-ERROR ${1#error }@@" ;;
  esac
  poweroff -f
}
fail() { finish "error $*"; }

O9P=trans=virtio,version=9p2000.L,msize=262144
mkdir -p $R
[ -n "$job" ] || fail "no jkvm.lab= on the kernel command line"
# The host root, read-only: binaries, libraries and the JDK at their usual paths.
mount -t 9p -o "$O9P,ro,cache=mmap" root $R || fail "cannot mount the host root over 9p"
mount -t 9p -o "$O9P" tmp $R/tmp || fail "cannot mount the host /tmp over 9p"
say "host root and /tmp mounted"
[ -f "$R$job/job" ] || fail "no job file $job/job"
status_ok=1

share() {
  mount -t 9p -o "$O9P,cache=mmap" "$1" "$R$2" || fail "cannot mount host $2 over 9p"
}
TTY=0 ROWS= COLS=
. "$R$job/job"

mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o ptmxmode=0666,gid=5,mode=620 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t tmpfs -o mode=755 tmpfs $R/run
ip link set lo up
hostname jkvm-lab

[ -c /dev/kvm ] || fail "no /dev/kvm in L1 (kvm_amd did not load: $(dmesg | grep -i -m1 -e svm -e kvm))"

run() {
  /bin/env -i /bin/chroot $R /bin/sh "$job/cmd.sh"
}

say "ready"
if [ "$TTY" = 1 ]; then
  [ -n "$ROWS" ] && stty -F /dev/ttyS0 rows "$ROWS" cols "$COLS"
  # Drop what the UART picked up during boot (a stray NUL): the host sends input only after START.
  stty -F /dev/ttyS0 -icanon min 0 time 0 && cat /dev/ttyS0 >/dev/null
  stty -F /dev/ttyS0 icanon min 1
  echo "@@JKVM-LAB-START@@"
  # A session of its own with the console as controlling terminal: ^C and job control work.
  setsid -c /bin/env -i /bin/chroot $R /bin/sh "$job/cmd.sh" </dev/ttyS0 >/dev/ttyS0 2>&1
  st=$?
else
  # stdin, stdout and stderr travel over virtio-serial ports: binary-clean, and closing the
  # host end of jkvm.stdin gives the command end-of-file (a serial line cannot).
  for p in stdin stdout stderr; do
    i=0
    while ! grep -qx "jkvm.$p" /sys/class/virtio-ports/*/name 2>/dev/null; do
      i=$((i + 1))
      [ $i -gt 400 ] && fail "virtio-serial port jkvm.$p did not appear"
      usleep 10000  # the port is announced by the host asynchronously after the driver loads
    done
  done
  for d in /sys/class/virtio-ports/*; do
    case "$(cat "$d/name")" in
      jkvm.stdin) pin=/dev/${d##*/} ;;
      jkvm.stdout) pout=/dev/${d##*/} ;;
      jkvm.stderr) perr=/dev/${d##*/} ;;
    esac
  done
  echo "@@JKVM-LAB-START@@"
  run <"$pin" >"$pout" 2>"$perr"
  st=$?
fi
finish "exit $st"
