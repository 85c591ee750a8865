#!/usr/bin/env bash
# Lab reliability: runs one lab test class N times with reruns off and classifies each outcome,
# so two lab settings can be compared (issue "every run", item 2). Test tooling, not product.
#   tools/lab/reliability.sh [-n N] [-t TestClass] [-o OUT] [-- ENV=VALUE ...]
# ENV=VALUE pairs set the lab's experiment knobs for the runs (JKVM_LAB_ACCEL, JKVM_LAB_CPU,
# JKVM_LAB_APPEND, JKVM_JAVA_OPTS). Each run's surefire report is kept under OUT; OUT/summary.tsv
# gets one line per run: run, outcome (pass | l1-died | jvm-crash | stuck | fail), seconds.
set -uo pipefail
n=10; test=MigrationLabTest; out=/tmp/lab-reliability
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) n=$2; shift 2 ;;
    -t) test=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [-n N] [-t TestClass] [-o OUT] [-- ENV=VALUE ...]" >&2; exit 2 ;;
  esac
done
home="$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)"
mkdir -p "$out"
export JAVA_HOME="$("$home/bin/jkvm-jdk")"
(cd "$home" && mvn -B -q -o -DskipTests test-compile) || exit 1
for i in $(seq 1 "$n"); do
  log="$out/run-$i.log"
  t0=$(date +%s)
  (cd "$home" && env "$@" mvn -B -o surefire:test -Dtest="$test" -Djkvm.test.reruns=0 >"$log" 2>&1)
  st=$?
  secs=$(( $(date +%s) - t0 ))
  if [[ $st == 0 ]]; then o=pass
  elif grep -qa 'L1 stopped before the command finished\|L1 reset while the command ran' "$log"; then o=l1-died
  elif grep -qa 'SIGSEGV\|SIGBUS\|hs_err_pid\|exit status 134\|exit=134\|A fatal error has been detected' "$log"; then o=jvm-crash
  elif grep -qa 'no output from the command or the lab machine' "$log"; then o=stuck
  else o=fail; fi
  printf '%s\t%s\t%s\n' "$i" "$o" "$secs" | tee -a "$out/summary.tsv"
  cp -r "$home/target/surefire-reports" "$out/reports-$i" 2>/dev/null
done
echo "== $test x$n ($*): $(cut -f2 "$out/summary.tsv" | sort | uniq -c | tr '\n' ' ')"
