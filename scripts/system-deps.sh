#!/usr/bin/env bash
# Install the system packages the test suite needs, only when they are missing.
# PostgreSQL: the tests start a private throw-away server (tests/pg.py).
# Chromium: the web app's browser tests and the report's PDF (print-to-PDF).
# poppler-utils: the report's PDF tests.
# Java 17: the Spark tests.
# `system-deps.sh runtime`: only what the product itself needs to run (make demo).
set -euo pipefail
need=()
# libgomp1: LightGBM's OpenMP runtime (salespulse score), a plain Debian library.
[ -e /usr/lib/x86_64-linux-gnu/libgomp.so.1 ] || [ -e /lib/x86_64-linux-gnu/libgomp.so.1 ] \
  || need+=(libgomp1)
if [ "${1:-}" != "runtime" ]; then
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# Chromium: the browser tests (tests/web) drive Debian's build; never `playwright install`.
[ -x /usr/bin/chromium ] || need+=(chromium)
# poppler-utils: the report tests read the PDF's text (pdftotext) and make page images (pdftoppm).
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
# Java 17: the Spark tests (tests/spark) run PySpark in local mode.
command -v java >/dev/null 2>&1 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ] \
  || need+=(openjdk-17-jre-headless)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
