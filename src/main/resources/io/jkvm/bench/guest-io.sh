#!/bin/sh
# Bench guest workload (jkvm bench's virtio I/O figures): jkvm.run=/bench/run.sh on the kernel
# command line makes the default /init run this, then power off. jkvm.rounds=N, jkvm.secs=S.
rounds=3 secs=2
for w in $(cat /proc/cmdline); do
  case "$w" in
    jkvm.rounds=*) rounds=${w#jkvm.rounds=} ;;
    jkvm.secs=*) secs=${w#jkvm.secs=} ;;
  esac
done
ip addr add 10.98.0.2/24 dev eth0 && ip link set eth0 up
io=/bench/guest-io
i=1
while [ "$i" -le "$rounds" ]; do
  r="$($io seqread /dev/vda "$secs") $($io seqwrite /dev/vda "$secs") $($io randread /dev/vda "$secs")"
  r="$r $($io nettx 10.98.0.1 5202 "$secs") $($io netrx 10.98.0.1 5201)"
  echo "jkvm-io: round=$i $r"
  i=$((i+1))
done
echo "jkvm-io: done"
