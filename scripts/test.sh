#!/usr/bin/env bash
# The one test command (README, `npm test`, .ci/run): installs what the tests need, type-checks,
# lints, and runs every test. Run `npm ci` first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-system-deps.sh

echo "== type-check and build"
# A clean build: compiled files of moved or deleted sources must not run as tests or ship.
rm -rf dist
npx tsc -p tsconfig.json
# The examples import "grpc-ha" by name, so they build after the package (in place, beside their .proto).
npx tsc -p examples/tsconfig.json

echo "== lint"
npx eslint .

echo "== tests"
# Server state changes log at info; keep the test output to warnings unless asked otherwise.
export GRPC_HA_LOG_LEVEL=${GRPC_HA_LOG_LEVEL:-warn}
mapfile -t files < <(find dist/src dist/test -name '*.test.js' | sort)
# One file at a time: integration tests start real servers and processes, and this machine has 2 cores.
node --test --test-concurrency=1 --test-timeout=240000 "${files[@]}"
