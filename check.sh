#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine with Python 3.11, then run lint, format, the layer
# contract, types, the docs build and the tests.
# People and CI (.ci/run) use this same script.
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the test-suite uses (servers are started by the tests themselves, on loopback only)
# chromium + chromium-driver: the console's browser tests; fonts-wqy-microhei: Chinese labels in their screenshots
# python3-gi + gir1.2-gst-rtsp-server-1.0 + gstreamer1.0-plugins-*: the real RTSP server of the stream tests (system python3)
APT_PACKAGES=(ffmpeg postgresql redis-server chromium chromium-driver fonts-wqy-microhei
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PY=$(command -v python3.11 || command -v python3)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
# the layers of ARCHITECTURE.md ([tool.importlinter] in pyproject.toml): a wrong import fails here
.venv/bin/lint-imports
.venv/bin/mypy
# the docs site: a broken link or anchor fails (no -q: it would hide the warnings that --strict counts)
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
.venv/bin/mkdocs build --strict -d "$site"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
