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
echo "== release build"
ctest --test-dir build -j "$jobs" --output-on-failure || status=1
echo "== ASan+UBSan build"
ctest --test-dir build-asan -j "$jobs" --output-on-failure || status=1
exit $status
