#!/usr/bin/env bash
# Runs the whole test suite: build once, then every test target (Swift
# Testing runs tests in parallel; each test uses its own ephemeral ports).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || { echo "test.sh: Swift 6 is required (https://www.swift.org/install/)" >&2; exit 1; }
swift build --build-tests
swift test --skip-build "$@"
