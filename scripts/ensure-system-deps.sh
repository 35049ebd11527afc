#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing (we run as root with apt-get
# here; elsewhere it prints exactly what to install). Add a package to NEEDED when a test needs it.
set -euo pipefail

# command-name:debian-package
NEEDED=(
  etcd:etcd-server      # test/discovery-etcd.test.ts, bench discovery: a real etcd on loopback
  etcdctl:etcd-client   # the Go naming-format interop test writes entries with etcdctl
  chromium:chromium     # test/observe-dashboard.test.ts: Playwright drives headless Chromium on the dashboard
  dnsmasq:dnsmasq-base  # test/discovery-dns.test.ts, bench discovery: a real DNS server on loopback (no system service)
)

missing=()
for entry in "${NEEDED[@]}"; do
  cmd=${entry%%:*}
  pkg=${entry#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
# Python modules of Debian's python3 (not a pyenv one): the proxy tests run grpcio clients and
# servers (test/python/grpc_peer.py, echo_client.py) and hand-made HTTP/2 peers on h2
# (test/python/h2_peer.py). python3 itself is usually there already, so test the imports.
/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1 || missing+=(python3-grpcio)
/usr/bin/python3 -c 'import h2' >/dev/null 2>&1 || missing+=(python3-h2)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "== installing system packages the tests need: ${missing[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
