#!/usr/bin/env bash
# Refresh the JavaScript libraries the console ships (maintainers only; users never run this).
# Each library is fetched from npm at an exact version with `npm pack`, its integrity checked against the
# hash recorded here, and its distribution files copied under vendor/. The copies are committed, so the
# console needs no build step and nothing is fetched at run time. Licences: ../../THIRD_PARTY.md.
set -euo pipefail
cd "$(dirname "$0")"
LEAFLET_VERSION=1.9.4
LEAFLET_SHA256=84c65a256e50657896f54c33bd857b6849ebe94c817803be818bf32a3dde0b77

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "leaflet@${LEAFLET_VERSION}" >/dev/null)
echo "${LEAFLET_SHA256}  ${tmp}/leaflet-${LEAFLET_VERSION}.tgz" | sha256sum -c --quiet
tar -xzf "$tmp/leaflet-${LEAFLET_VERSION}.tgz" -C "$tmp"
rm -rf vendor/leaflet
mkdir -p vendor/leaflet/images
cp "$tmp/package/dist/leaflet.js" "$tmp/package/dist/leaflet.css" "$tmp/package/LICENSE" vendor/leaflet/
cp "$tmp/package/dist/images/"*.png vendor/leaflet/images/
echo "leaflet ${LEAFLET_VERSION}" > vendor/leaflet/VERSION
echo "vendored leaflet ${LEAFLET_VERSION} into $(pwd)/vendor/leaflet"
