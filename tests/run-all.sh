#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds a release and an
# ASan+UBSan tree, and runs every test (unit and end-to-end scenarios, in
# parallel) in both.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
jobs=$(nproc)
deploy/build.sh build
deploy/build.sh build-asan -DVTG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
# Unit tests use the CPU, but the longest integration tests and the
# end-to-end scenarios mostly wait on their own clocks (a minute without an
# agent, a 150 s scenario), so they run side by side, more of them than
# there are cores: the suite stays within its 20 minutes on 2 cores.
for tree in build build-asan; do
  echo "== $tree: unit and integration"
  ctest --test-dir "$tree" -LE e2e -j $((jobs * 2)) --output-on-failure || status=1
done
for tree in build build-asan; do
  echo "== $tree: end-to-end scenarios"
  ctest --test-dir "$tree" -L e2e -j 10 --output-on-failure || status=1
done
exit $status
