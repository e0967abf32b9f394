#!/usr/bin/env bash
# Install the system packages the twin needs (Debian): Chromium for the viewer tests and briefing
# maps, PostgreSQL (+PostGIS where available) for the scale-out store tests, fonts with Vietnamese
# diacritics and Pango for the PDF briefing, poppler-utils to check PDFs, Mosquitto (MQTT broker) for the
# camera gateway tests, wrk for the
# ingest and reliability benchmarks, HAProxy for the multi-instance (cluster) tests and `make run-cluster`. Idempotent and quiet.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
command -v wrk >/dev/null 2>&1 || need+=(wrk)  # load generator of the ingest and reliability benches
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || need+=(mosquitto)  # MQTT broker of the gateway tests
[ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null 2>&1 || need+=(haproxy)  # load balancer of the cluster tests
fc-list 2>/dev/null | grep -qi "NotoSans-Regular" || need+=(fonts-noto-core)
ldconfig -p 2>/dev/null | grep -q libpangoft2 || need+=(libpango-1.0-0 libpangoft2-1.0-0)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "setup-system: missing system packages: ${need[*]}" >&2
  echo "  run as root, or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "setup-system: installing ${need[*]} (apt-get)…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# PostGIS where Debian provides it for the installed server (optional).
pgver=$(ls /usr/lib/postgresql | sort -n | tail -1)
apt-get install -y -qq --no-install-recommends "postgresql-${pgver}-postgis-3" >/dev/null 2>&1 || true
