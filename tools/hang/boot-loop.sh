#!/bin/sh
# Test tool (not product): boots the same guest N times in a row under jkvm or QEMU and records
# for each boot whether it finished (powered off) or hung, for the 2-vCPU hang (issue 10, item 3).
# Meant to run inside the lab (real nested KVM):
#
#   bin/jkvm lab exec -- tools/hang/boot-loop.sh --vmm jkvm --scenario debian --count 20 --log /tmp/hang/run1
#
#   --vmm jkvm|qemu        jkvm: java -jar $JAR (default: the worktree's target/jkvm.jar), launcher's JVM options
#   --scenario demo|pvh|reboot|lbt|restart|debian
#                          demo: default busybox initramfs, jkvm.demo (print, power off) - what the lab tests boot;
#                          pvh: the same through the ELF vmlinux's PVH entry (LinuxBootLabTest's third boot);
#                          reboot: jkvm.reboot (print, reboot -f; the VMM exits on the reset);
#                          lbt: LinuxBootLabTest's first test, boot after boot: demo, reboot, pvh, demo, ...;
#                          restart: ONE VMM with --on-reboot restart and jkvm.reboot: the guest reboots COUNT
#                            times in the same process (the typed-input test's boot after reboot -f); a "boot"
#                            is one "jkvm-guest: up";
#                          debian: Debian 12 ext4 root on virtio-blk + virtio-net on a TAP, systemd boots and
#                          powers off (tools/hang/build-debian-rootfs.sh; jkvm.loop unit)
#   --java launcher|test   JVM options of bin/jkvm with -jar (default), or those of the tests' JkvmCommand
#                          with -cp CLASSPATH (--cp; default: the tree's target/classes and target/lib)
#   --count N  --cpus C  --memory MIB  --extra "CMDLINE WORDS"  --jar PATH  --image PATH
#   --sink shm|l1-console|lab-stdout
#                          where the VMM's console goes: shm (default) a file in L1's RAM; l1-console also
#                          through L1's own serial console (a tee into /dev/ttyS0), the slow terminal a person
#                          gets from `jkvm lab run`; lab-stdout also to this script's stdout, which is the lab's
#                          virtio-serial port to the host, as in the lab tests (L1's virtio_console driver spins
#                          until the host side took each write)
#   --on-quiet kill|kick   kill (default): on a hang, report twice, then SIGKILL. kick: report (jkvm: SIGUSR1;
#                          QEMU: monitor "info registers -a" and "info lapic", which also takes every vCPU out
#                          of KVM_RUN and back) and keep watching; a boot whose console resumes within 30 s of a
#                          kick counts a "kick recovery"; after 4 kicks it is killed as a hang
#   --no-dump              do not send SIGUSR1 on a hang (jkvm builds without the vCPU dump die of it)
#   --quiet S              a boot is "hung" when the VMM is alive and its console printed nothing for S seconds (180)
#   --max S                a boot still running after S seconds (console not quiet: a guest stuck printing, such as
#                          systemd's "A start job is running") is "stuck": reported like a hang, then killed (900)
#
# The VMM's console and stderr go to a file in L1's RAM (/dev/shm) while it runs, as fast as the pipe
# the lab tests give it (a file on the 9p-shared /tmp costs a 9p round trip per console byte and
# slows the guest ~10x), and are copied to LOG afterwards.
# On a hang under jkvm the VMM gets SIGUSR1 twice, 15 s apart (vCPU/LAPIC/IOAPIC dump on its stderr),
# then SIGKILL. Each boot's console and stderr are kept in LOG/boot-I.out; LOG/results.txt has one line per boot.
set -u
# bin/jkvm exports JKVM_HOME and the lab passes it on, so a copy of this script run from elsewhere finds the tree.
here=${JKVM_HOME:-$(cd "$(dirname "$0")/../.." && pwd)}
onquiet=kill javastyle=launcher cp= sink=shm dump=yes vmm=jkvm scenario=demo count=1 cpus=2 mem=512 extra= quiet=180 max=900 jar=$here/target/jkvm.jar log=/tmp/hang/loop
image=$here/build/hang/debian12.ext4
while [ $# -gt 0 ]; do
  case "$1" in
    --vmm) vmm=$2; shift ;;
    --scenario) scenario=$2; shift ;;
    --count) count=$2; shift ;;
    --cpus) cpus=$2; shift ;;
    --memory) mem=$2; shift ;;
    --extra) extra=$2; shift ;;
    --quiet) quiet=$2; shift ;;
    --max) max=$2; shift ;;
    --jar) jar=$2; shift ;;
    --image) image=$2; shift ;;
    --log) log=$2; shift ;;
    --no-dump) dump=no ;;
    --sink) sink=$2; shift ;;
    --java) javastyle=$2; shift ;;
    --on-quiet) onquiet=$2; shift ;;
    --cp) cp=$2; shift ;;
    *) echo "boot-loop: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
kernel=$(ls /boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$here"/build/images/default-*.cpio.gz | tail -n 1)
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
mkdir -p "$log"
shm=/dev/shm/hang-run-$$
mkdir -p "$shm"

disk=
if [ "$scenario" = debian ]; then
  # Guest disk in L1's RAM (tmpfs): 9p under TCG is slow, and the image is the same for every boot.
  disk=/dev/shm/hang-$vmm.ext4
  [ -f "$disk" ] || cp --sparse=always "$image" "$disk" || exit 1
  tap=tap-$vmm
  ip tuntap add dev "$tap" mode tap 2>/dev/null
  ip link set "$tap" up
fi

bzimage=$kernel
[ -n "$cp" ] || cp="$here/target/classes:$(ls "$here"/target/lib/*.jar | tr '\n' ':')"
# Sets kernel and cmdline for boot $1 (lbt cycles through LinuxBootLabTest's three boots).
configure_boot() {
  sc=$scenario
  if [ "$scenario" = lbt ]; then
    case $(( $1 % 3 )) in 1) sc=demo ;; 2) sc=reboot ;; 0) sc=pvh ;; esac
  fi
  kernel=$bzimage
  case "$sc" in
    demo) cmdline="console=ttyS0 reboot=k panic=1 jkvm.demo $extra" ;;
    pvh) cmdline="console=ttyS0 reboot=k panic=1 jkvm.demo $extra"
         kernel=$(ls "$here"/build/lab/vmlinux-* | sort -V | tail -n 1) ;;
    reboot|restart) cmdline="console=ttyS0 reboot=k panic=1 jkvm.reboot $extra" ;;
    debian) cmdline="console=ttyS0 reboot=k panic=1 root=/dev/vda jkvm.loop $extra" ;;
    *) echo "boot-loop: unknown scenario $scenario" >&2; exit 2 ;;
  esac
}
configure_boot 1

# Runs "$@" in the background with the console (stdout) going to the sink; sets pid to the VMM's.
launch() {
  if [ "$sink" != shm ]; then
    rm -f "$out.fifo"; mkfifo "$out.fifo"
    if [ "$sink" = l1-console ]; then tee "$out" <"$out.fifo" >/dev/ttyS0 & else tee "$out" <"$out.fifo" & fi
    "$@" </dev/null >"$out.fifo" 2>"$out.err" &
  else
    "$@" </dev/null >"$out" 2>&1 &
  fi
  pid=$!
}

start_vmm() { # $1 = output file; sets out and pid
  out=$1; shift
  if [ "$vmm" = jkvm ]; then
    set -- --kernel "$kernel" --initrd "$initrd" --cpus "$cpus" --memory "${mem}M" --cmdline "$cmdline"
    if [ "$scenario" = restart ]; then set -- "$@" --on-reboot restart; fi
    if [ -n "$disk" ]; then set -- "$@" --disk "path=$disk" --net "tap=$tap"; fi
    if [ "$javastyle" = test ]; then
      launch "$java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
        -cp "$cp" io.jkvm.cli.Main run "$@"
    else
      launch "$java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xms8m -Xmx256m -XX:TieredStopAtLevel=1 \
        -XX:CICompilerCount=1 -Xss1m -XX:-UsePerfData -Xshare:auto -jar "$jar" run "$@"
    fi
  else
    set -- -nodefaults -no-user-config -enable-kvm -cpu host -smp "$cpus" -m "$mem" -M pc -no-reboot \
      -display none -vga none -monitor "unix:$out.mon,server,nowait" -serial stdio -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
    if [ -n "$disk" ]; then
      set -- "$@" -drive "file=$disk,if=virtio,format=raw" \
        -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" -device virtio-net-pci,netdev=n0
    fi
    launch qemu-system-x86_64 "$@"
  fi
}

# What L1 sees of a stuck VMM: every thread's name, state, wait channel and kernel stack (a vCPU
# thread in kvm_vcpu_halt is a halted vCPU, one in svm_vcpu_run is in the guest, one outside KVM is
# in userspace), and KVM's own per-VM statistics.
host_view() {
  echo "@@host-view of pid $1 at $(date -u +%H:%M:%S)"
  for t in /proc/"$1"/task/*; do
    echo "--- tid ${t##*/} $(cat "$t/comm" 2>/dev/null) state=$(awk '{print $3}' "$t/stat" 2>/dev/null) wchan=$(cat "$t/wchan" 2>/dev/null)"
    case "$(cat "$t/comm" 2>/dev/null)" in vcpu*|CPU*|*KVM*|main|java) cat "$t/stack" 2>/dev/null ;; esac
  done
  d=$(ls -d /sys/kernel/debug/kvm/"$1"-* 2>/dev/null | head -n 1)
  if [ -n "$d" ]; then
    echo "--- KVM debugfs $d"
    for f in "$d"/*; do [ -f "$f" ] && echo "${f##*/}=$(cat "$f" 2>/dev/null)"; done
    for v in "$d"/vcpu*; do
      [ -d "$v" ] || continue
      echo "--- ${v##*/}: $(for f in "$v"/*; do [ -f "$f" ] && printf '%s=%s ' "${f##*/}" "$(cat "$f" 2>/dev/null)"; done)"
    done
  fi
}
mount -t debugfs none /sys/kernel/debug 2>/dev/null

# QEMU's view of a quiet guest through its monitor; the commands synchronise vCPU state, which takes
# each vCPU out of KVM_RUN and back (the same kick as jkvm's report).
monitor() {
  python3 - "$1" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(5)
out = b""
for cmd in (b"info registers -a\n", b"info lapic 0\n", b"info lapic 1\n"):
    s.sendall(cmd)
    end = time.time() + 20
    while time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        out += d
sys.stdout.write(out.decode("utf-8", "replace"))
PY
}

if [ "$scenario" = restart ]; then
  # One VMM; each reboot is the next boot. Hang: alive and silent for --quiet seconds.
  [ "$vmm" = jkvm ] || { echo "boot-loop: restart is a jkvm scenario" >&2; exit 2; }
  out=$shm/restart.out
  t0=$(date +%s)
  start_vmm "$out"
  last_size=-1 last_change=$t0 result=pass ups=0
  while :; do
    ups=$(grep -ac "jkvm-guest: up" "$out")
    if [ "$ups" -gt "$count" ]; then kill -TERM "$pid"; wait "$pid" 2>/dev/null; break; fi
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; result="fail(rc=$?)"; break; fi
    now=$(date +%s) size=$(stat -c %s "$out")
    if [ "$size" != "$last_size" ]; then last_size=$size last_change=$now; fi
    if [ $((now - last_change)) -ge "$quiet" ]; then
      result=hang
      host_view "$pid" >>"$out.dump"
      if [ "$dump" = yes ]; then
        echo "@@hang-dump-1 at $(date -u +%H:%M:%S)" >>"$out.dump"; kill -USR1 "$pid"; sleep 15
        echo "@@hang-dump-2 at $(date -u +%H:%M:%S)" >>"$out.dump"; kill -USR1 "$pid"; sleep 15
      fi
      kill -KILL "$pid"; wait "$pid" 2>/dev/null
      break
    fi
    sleep 2
  done
  cp "$out" "$log/"; for x in dump err; do [ -f "$out.$x" ] && cp "$out.$x" "$log/"; done
  lastk=$(grep -a '^\[ *[0-9.]*\]' "$out" | tail -n 1 | cut -c1-120)
  echo "SUMMARY vmm=$vmm scenario=restart cpus=$cpus boots_completed=$((ups > count ? count : ups)) result=$result secs=$(( $(date +%s) - t0 )) last_kernel_line='$lastk'" | tee -a "$log/results.txt"
  exit 0
fi

passes=0 hangs=0 fails=0
i=1
while [ "$i" -le "$count" ]; do
  out=$shm/boot-$i.out
  configure_boot "$i"
  t0=$(date +%s)
  start_vmm "$out"
  last_size=-1 last_change=$t0 result= first=- kicks=0 recoveries=0 kicked_at= kicked_size=
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"; rc=$?
      if [ "$rc" = 0 ] && { grep -q "jkvm-guest: up" "$out" || grep -q "jkvm-loop: up" "$out"; }; then
        result=pass
      else
        result="fail(rc=$rc)"
      fi
      break
    fi
    now=$(date +%s)
    size=$(stat -c %s "$out")
    if [ "$size" != "$last_size" ]; then last_size=$size last_change=$now; fi
    if [ "$first" = - ] && [ "$size" -gt 0 ]; then first=$((now - t0)); fi
    if [ -n "$kicked_at" ] && [ "$size" != "$kicked_size" ]; then
      if [ $((now - kicked_at)) -le 30 ]; then
        recoveries=$((recoveries + 1))
        echo "@@console resumed $((now - kicked_at)) s after kick $kicks" >>"$out.dump"
      fi
      kicked_at=
    fi
    if [ $((now - last_change)) -ge "$quiet" ] && [ "$onquiet" = kick ] && [ "$kicks" -lt 4 ]; then
      kicks=$((kicks + 1))
      echo "@@kick $kicks at $(date -u +%H:%M:%S), console bytes $size" >>"$out.dump"
      host_view "$pid" >>"$out.dump"
      if [ "$vmm" = jkvm ]; then kill -USR1 "$pid"; else monitor "$out.mon" >>"$out.dump" 2>&1; fi
      kicked_at=$now kicked_size=$size last_change=$(date +%s)
    fi
    if [ $((now - last_change)) -ge "$quiet" ] || [ $((now - t0)) -ge "$max" ]; then
      if [ $((now - last_change)) -ge "$quiet" ]; then result=hang; else result=stuck; fi
      host_view "$pid" >>"$out.dump"
      if [ "$vmm" = jkvm ] && [ "$dump" = yes ]; then
        echo "@@hang-dump-1 at $(date -u +%H:%M:%S)" >>"$out.dump"
        kill -USR1 "$pid"; sleep 15
        echo "@@hang-dump-2 at $(date -u +%H:%M:%S)" >>"$out.dump"
        kill -USR1 "$pid"; sleep 15
      fi
      kill -KILL "$pid"; wait "$pid" 2>/dev/null
      break
    fi
    sleep 2
  done
  secs=$(( $(date +%s) - t0 ))
  cp "$out" "$log/"; for x in dump err; do [ -f "$out.$x" ] && cp "$out.$x" "$log/"; done
  case "$result" in pass) passes=$((passes + 1)) ;; hang|stuck) hangs=$((hangs + 1)) ;; *) fails=$((fails + 1)) ;; esac
  lastline=$(grep -av '^\s*$' "$out" | grep -av 'jkvm: \|^\[' | tail -n 1 | cut -c1-120)
  lastk=$(grep -a '^\[ *[0-9.]*\]' "$out" | tail -n 1 | cut -c1-120)
  line="boot=$i vmm=$vmm scenario=$scenario/$sc cpus=$cpus result=$result secs=$secs first_output_s=$first kicks=$kicks kick_recoveries=$recoveries last_kernel_line='$lastk' last_line='$lastline'"
  echo "$line" | tee -a "$log/results.txt"
  i=$((i + 1))
done
echo "SUMMARY vmm=$vmm scenario=$scenario cpus=$cpus boots=$count pass=$passes hang=$hangs fail=$fails" | tee -a "$log/results.txt"
