#!/usr/bin/env bash
# Installs the OS packages kite-algo needs when they are missing (Debian/Ubuntu): redis-server, and
# chromium for the dashboard's browser test (headless, driven by Playwright; no browser download).
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing ${need[*]} and this is not a Debian/Ubuntu system: install ${need[*]} with your package manager" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "error: missing ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2; exit 1
  fi
fi
echo "installing ${need[*]} from the OS packages"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
