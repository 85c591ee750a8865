#!/bin/sh
# Test tool (not product): what a console that stops reading does to a running 2-vCPU guest
# (issue 10, item 3). The VMM's console goes through a one-page pipe whose reader takes the first
# BYTES, then stops reading for PAUSE seconds (a terminal on hold, a log collector that stalls, a slow
# serial line), then drains the rest. Run inside the lab:
#
#   bin/jkvm lab exec -- tools/hang/console-pause.sh --vmm jkvm --jar J --log /tmp/hang/pause1
#
#   --vmm jkvm|qemu  --jar PATH  --after BYTES (8000)  --pause SECONDS (150)  --cpus N (2)  --log DIR
#
# During the pause the script records what L1 sees of the VMM (threads, kernel stacks) and, for
# jkvm, asks it for a vCPU report (SIGUSR1) twice, 20 s apart, into LOG/report.txt. The guest is the
# Debian image (systemd boots and powers off, tools/hang/build-debian-rootfs.sh); its console is
# LOG/console.out. Afterwards: did the guest report RCU stalls, and did it finish?
set -u
here=${JKVM_HOME:-$(cd "$(dirname "$0")/../.." && pwd)}
vmm=jkvm jar=$here/target/jkvm.jar after=8000 pause=150 cpus=2 log=/tmp/hang/pause
while [ $# -gt 0 ]; do
  case "$1" in
    --vmm) vmm=$2; shift ;;
    --jar) jar=$2; shift ;;
    --after) after=$2; shift ;;
    --pause) pause=$2; shift ;;
    --cpus) cpus=$2; shift ;;
    --log) log=$2; shift ;;
    *) echo "console-pause: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
kernel=$(ls /boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$here"/build/images/default-*.cpio.gz | tail -n 1)
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
mkdir -p "$log"
shm=/dev/shm/pause-$$
mkdir -p "$shm"
disk=$shm/disk.ext4
cp --sparse=always "$here/build/hang/debian12.ext4" "$disk" || exit 1
tap=tap-pause
ip tuntap add dev "$tap" mode tap 2>/dev/null
ip link set "$tap" up
cmdline="console=ttyS0 reboot=k panic=1 root=/dev/vda jkvm.loop"

mkfifo "$shm/console"
# The reader keeps everything it reads in console.out; it shrinks the pipe to one page (F_SETPIPE_SZ),
# so the VMM's writes block as soon as it stops reading instead of filling 64 KiB first.
python3 - "$shm/console" "$shm/console.out" "$shm/pause.mark" "$after" "$pause" <<'PY' &
import fcntl, os, sys, time
fifo, out, mark, after, pause = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
fd = os.open(fifo, os.O_RDONLY)
fcntl.fcntl(fd, 1031, 4096)  # F_SETPIPE_SZ
got, paused = 0, False
with open(out, "wb", buffering=0) as o:
    while True:
        b = os.read(fd, 512)
        if not b:
            break
        o.write(b)
        got += len(b)
        if not paused and got >= after:
            paused = True
            with open(mark, "w") as m:
                m.write("@@reader-pause %d\n" % time.time())
            time.sleep(pause)
            with open(mark, "a") as m:
                m.write("@@reader-resume %d\n" % time.time())
PY
t0=$(date +%s)
if [ "$vmm" = jkvm ]; then
  "$java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xms8m -Xmx256m -XX:TieredStopAtLevel=1 \
    -XX:CICompilerCount=1 -Xss1m -XX:-UsePerfData -Xshare:auto -jar "$jar" run \
    --kernel "$kernel" --initrd "$initrd" --cpus "$cpus" --memory 512M --cmdline "$cmdline" \
    --disk "path=$disk" --net "tap=$tap" </dev/null >"$shm/console" 2>"$shm/stderr" &
else
  qemu-system-x86_64 -nodefaults -no-user-config -enable-kvm -cpu host -smp "$cpus" -m 512 -M pc -no-reboot \
    -display none -vga none -monitor none -serial stdio -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
    -drive "file=$disk,if=virtio,format=raw" -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
    -device virtio-net-pci,netdev=n0 </dev/null >"$shm/console" 2>"$shm/stderr" &
fi
pid=$!
# Wait for the pause to start, then look at the VMM 30 s into it.
while [ ! -f "$shm/pause.mark" ] && kill -0 "$pid" 2>/dev/null; do sleep 1; done
sleep 30
{
  echo "@@ at pause+30 s ($(date -u +%H:%M:%S)), console bytes so far: $(stat -c %s "$shm/console.out")"
  for t in /proc/"$pid"/task/*; do
    c=$(cat "$t/comm" 2>/dev/null)
    case "$c" in vcpu*|CPU*|serial*) echo "--- $c state=$(awk '{print $3}' "$t/stat") wchan=$(cat "$t/wchan")"; cat "$t/stack" ;; esac
  done
} >"$log/l1-view.txt" 2>&1
if [ "$vmm" = jkvm ]; then
  kill -USR1 "$pid"; sleep 20; kill -USR1 "$pid"
fi
wait "$pid"
rc=$?
t1=$(date +%s)
sleep 2
cp "$shm/console.out" "$log/console.out"; cp "$shm/stderr" "$log/report.txt"; cp "$shm/pause.mark" "$log/"
stalls=$(grep -ac "rcu: INFO: .* detected stalls\|self-detected stall" "$log/console.out")
done_=$(grep -ac "jkvm-loop: up" "$log/console.out")
echo "vmm=$vmm cpus=$cpus rc=$rc secs=$((t1 - t0)) pause=$pause rcu_stall_reports=$stalls reached_userspace_unit=$done_ powered_off=$(grep -ac 'reboot: Power down' "$log/console.out")" | tee "$log/result.txt"
rm -rf "$shm"
