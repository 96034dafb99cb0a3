#!/usr/bin/env bash
# Runs a command with a NATS server with JetStream on 127.0.0.1:4222 (the
# NATS bus's tests and the gateway's NATS tests need one): the one that
# answers there, else Debian's nats-server (installed if missing), started
# for the command and stopped after it.
set -euo pipefail

# A NATS server greets every connection with INFO.
nats_answers() {
	[ "$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/4222 && head -c 4 <&3' 2>/dev/null)" = INFO ]
}
if ! nats_answers; then
	echo "NATS is not answering on 127.0.0.1:4222; starting nats-server with JetStream"
	nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
	if [ ! -x "$nats_server" ]; then
		sudo=""
		if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo=sudo; fi
		apt_get() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
		apt_get install -y nats-server || { apt_get update && apt_get install -y nats-server; }
		nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
	fi
	nats_dir=$(mktemp -d)
	"$nats_server" -a 127.0.0.1 -p 4222 -js -sd "$nats_dir" >"$nats_dir/log" 2>&1 &
	nats_pid=$!
	trap 'kill "$nats_pid" 2>/dev/null || true; rm -rf "$nats_dir"' EXIT
	for _ in $(seq 100); do
		nats_answers && break
		kill -0 "$nats_pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! nats_answers; then
		echo "nats-server did not start:"
		cat "$nats_dir/log"
		exit 1
	fi
fi
"$@"
