#!/usr/bin/env bash
# Stop exactly the daemons tests/slurm/start.sh started and remove the links it made
# (recorded in STATE_DIR/started).
set -uo pipefail
state="${1:-/tmp/glmeval-slurm}"
[ -f "$state/started" ] || exit 0
tac "$state/started" | while read -r name pid; do   # reverse order: links, slurmd, slurmctld, munged
    if [ "$name" = link ]; then
        [ -L "$pid" ] && rm -f "$pid"
        continue
    fi
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null && echo "stop.sh: $name ($pid) killed" >&2
    fi
done
rm -f "$state/started"
