#!/usr/bin/env bash
# Installs the Debian 12 packages Porthole needs to build, run and test.
# The one list of packages: README, CI and the benchmark harness use it.
# Swift 6 itself comes from swift.org (it is not a Debian package).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (sudo bash scripts/install-deps.sh)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }  # wait, do not fail, if another apt runs
# .ci/run updates the package lists itself first.
[ "${PORTHOLE_APT_UPDATED:-}" = 1 ] || apt_get update -qq
packages=(
  # build: the system libraries behind COpenSSL, CNGHTTP2 and CZlib
  libssl-dev libnghttp2-dev zlib1g-dev pkg-config
  # test peers: real clients and servers the tests start on 127.0.0.1
  openssl curl nghttp2-client python3 procps tinyproxy
  # benchmarks/run.sh --smoke (CI): HTTP/1.1 load and CPU pinning
  wrk util-linux
  # headless browser for the status page test
  chromium
)
# benchmarks/run.sh --install: the reference servers and the charts
if [ "${1:-}" = "--benchmarks" ]; then
  packages+=(nginx libnginx-mod-stream haproxy python3-matplotlib)
fi
apt_get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps.sh: installed ${packages[*]}"
