#!/bin/sh
# The baseline's haproxy check (bench/failover.ts): is the process in the pid file alive?
# (`killall -0 haproxy` as in the classic config would see every namespace's haproxy in the lab.)
kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null
