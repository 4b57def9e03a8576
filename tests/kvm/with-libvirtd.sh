#!/usr/bin/env bash
# Runs a command (the test suite) with virtlogd and libvirtd up. These machines have no systemd, so the daemons
# are started here when they are not running, and only those started here are stopped afterwards.
set -u
started=()

daemon_up() { [ -f "/run/$1.pid" ] && kill -0 "$(cat "/run/$1.pid")" 2>/dev/null; }

stop_started() {
  local i name pid
  for (( i=${#started[@]}-1; i>=0; i-- )); do
    name=${started[i]}
    pid=$(cat "/run/$name.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null && echo "with-libvirtd: stopped the $name this run started (pid $pid)"
  done
}

if [ "$(id -u)" = 0 ] && command -v libvirtd >/dev/null 2>&1; then
  if ! daemon_up virtlogd && ! pgrep -x virtlogd >/dev/null; then
    virtlogd -d && started+=(virtlogd)
  fi
  if ! daemon_up libvirtd && ! virsh -c qemu:///system version >/dev/null 2>&1; then
    # Ours: the libvirtd crash test may kill it (it leaves a daemon that other sessions use alone).
    libvirtd -d && started+=(libvirtd) && export KVM_TEST_OWN_LIBVIRTD=1
    for _ in $(seq 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  [ ${#started[@]} -gt 0 ] && echo "with-libvirtd: started ${started[*]} for this run"
fi
trap stop_started EXIT
trap 'exit 130' INT TERM
"$@"
