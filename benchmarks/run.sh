#!/usr/bin/env bash
# Porthole benchmark harness: Porthole side by side with nginx and HAProxy.
#
#   benchmarks/run.sh [--quick | --smoke] [--install] [--no-build] [--out DIR]
#
#   (default)  full run, under 30 minutes on 2 cores
#   --quick    every scenario with shorter runs, under 5 minutes
#   --smoke    Porthole only, one short run per scenario, no comparison; uses
#              the debug build that `swift build` (scripts/test.sh) already made,
#              so CI runs it without a release build. Fails if a scenario fails.
#   --install  apt-get install what the harness needs first (needs root)
#   --no-build measure the existing binary (.build/release/porthole, or
#              .build/debug/porthole with --smoke) without building
#
# Results: benchmarks/results/<UTC timestamp>/{report.md,results.json,*.png}.
# See benchmarks/README.md for how to read them.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full install=false build=true out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --smoke) mode=smoke ;;
    --full) mode=full ;;
    --install) install=true ;;
    --no-build) build=false ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# Debian packages (the one list is scripts/install-deps.sh --benchmarks).
if $install; then
  if [ "$(id -u)" -ne 0 ]; then echo "run.sh --install: run as root (sudo)" >&2; exit 1; fi
  bash scripts/install-deps.sh --benchmarks
fi

# What each mode cannot do without.
needed=(taskset openssl h2load wrk)
[ "$mode" = smoke ] || needed+=(nginx haproxy)
missing=()
for tool in "${needed[@]}"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "run.sh: missing ${missing[*]}. Install with: sudo bash scripts/install-deps.sh --benchmarks (or run.sh --install)" >&2
  exit 1
fi
if [ "$mode" != smoke ] && [ ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
  echo "run.sh: nginx's stream module is missing (Debian package libnginx-mod-stream; or run.sh --install)" >&2
  exit 1
fi
if [ "$(nproc)" -lt 2 ]; then
  echo "run.sh: needs 2 CPUs (front on CPU 0, load on CPU 1); this machine has $(nproc)" >&2
  exit 1
fi

# Debian's python3 (it has python3-matplotlib); any python3 runs the harness without charts.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

if [ "$mode" = smoke ]; then
  configuration=debug
else
  configuration=release
fi
if $build; then
  if [ "$mode" = smoke ]; then
    swift build >/dev/null
  else
    echo "run.sh: building Porthole in release mode (swift build -c release)" >&2
    swift build -c release >&2
  fi
fi
porthole="$(pwd)/.build/$configuration/porthole"
[ -x "$porthole" ] || { echo "run.sh: $porthole not found (build it, or drop --no-build)" >&2; exit 1; }

# Many connections: as many file descriptors as allowed (the hard limit caps N).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

[ -n "$out" ] || out="benchmarks/results/$(date -u +%Y%m%dT%H%M%SZ)-$mode"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
echo "run.sh: $mode run, results in $out (open files limit $(ulimit -n))" >&2
# The harness itself runs with the load, on CPU 1.
exec taskset -c 1 "$python" benchmarks/harness/bench.py --mode "$mode" --porthole "$porthole" --out "$out"
