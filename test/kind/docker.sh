#!/usr/bin/env bash
# docker.sh start|stop|status: makes Docker usable for the kind scripts on a machine
# that may have none. start installs docker.io from Debian when dockerd is missing and,
# when no daemon answers, starts dockerd in the background (these machines run no init
# system), recording its PID in $KIND_ROOT/dockerd.pid; stop stops only that dockerd.
# dockerd may set the iptables FORWARD policy to DROP (it does when it turns ip_forward
# on itself) and leaves its rules behind: the simulator's data plane copes (see
# test/iaassim/dataplane/README.md, "iptables").
source "$(dirname "$0")/lib.sh"
PIDFILE=$KIND_ROOT/dockerd.pid

running() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

case ${1:-start} in
start)
  if running; then log "dockerd is running"; exit 0; fi
  if ! command -v dockerd >/dev/null; then
    step "apt-get install docker.io" bash -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; }'
  fi
  # Its own session: a Ctrl-C or a CI timeout that ends the make which happened to
  # start it must not stop the Docker every kind cluster of this machine runs on.
  setsid nohup dockerd >"$KIND_ROOT/dockerd.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 60); do running && break; sleep 0.5; done
  running || { tail -20 "$KIND_ROOT/dockerd.log" >&2; exit 1; }
  log "dockerd started (pid $(cat "$PIDFILE"), log $KIND_ROOT/dockerd.log)"
  ;;
stop)
  [[ -s $PIDFILE ]] || { log "no dockerd started by these scripts"; exit 0; }
  pid=$(cat "$PIDFILE")
  # The recorded PID may belong to another process by now (dockerd died, the machine
  # restarted): only a dockerd is ours to stop.
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    log "dockerd $pid stopped"
  fi
  rm -f "$PIDFILE"
  ;;
status) running && echo running || { echo stopped; exit 1; } ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
