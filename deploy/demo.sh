#!/usr/bin/env bash
# The demo: installs what it needs, builds, starts a coordinator, the target
# simulator and eight agents in five simulated regions on loopback, injects
# an outage in waves, prints the outage report and the status table, and
# stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/build.sh build
exec tests/e2e/run-scenario --bin build/bin --show deploy/demo-scenario.yaml
