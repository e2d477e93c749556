#!/usr/bin/env bash
# Runs the whole test suite: build once, then every test target (Swift
# Testing runs tests in parallel; each test uses its own ephemeral ports).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || { echo "test.sh: Swift 6 is required (https://www.swift.org/install/)" >&2; exit 1; }
swift build --build-tests
# The in-process agent tests await their Python peers in Swift tasks; many other
# tests block a cooperative thread while a real peer (openssl, curl, python)
# runs, and on a 2-core machine that can starve the agents' tasks. So they get
# a run of their own, after everything else.
swift test --skip-build --skip PortholeAgentTests --skip PollingManyAgentsTests "$@"
swift test --skip-build --filter PortholeAgentTests "$@"
# Issue 4's load test at full size, alone: 1,000 agents connected at once,
# each answering 10 calls dispatched concurrently (about 20 s on 2 cores).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PORTHOLE_POLLING_AGENTS=1000 swift test --skip-build --filter PollingManyAgentsTests "$@"
