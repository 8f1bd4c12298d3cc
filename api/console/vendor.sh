#!/usr/bin/env bash
# Refresh the JavaScript libraries the console ships (maintainers only; users never run this).
# Each library is fetched from npm at an exact version with `npm pack`, its integrity checked against the
# hash recorded here, and its distribution files copied under vendor/. The copies are committed, so the
# console needs no build step and nothing is fetched at run time. Licences: ../../THIRD_PARTY.md.
set -euo pipefail
cd "$(dirname "$0")"
LEAFLET_VERSION=1.9.4
LEAFLET_SHA256=84c65a256e50657896f54c33bd857b6849ebe94c817803be818bf32a3dde0b77
# the API documentation pages (/docs: Swagger UI, /redoc: ReDoc)
SWAGGER_UI_VERSION=5.35.0
SWAGGER_UI_SHA256=1b8e891893404ea4c3558b6a87e2a3e494e7eedba41168c2ece5800a391a6ea6
REDOC_VERSION=2.5.4
REDOC_SHA256=44922df4d0eb45c1b066c09ec251e6bd9bd7ded16bc69e87613337b9d911a56e

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

(cd "$tmp" && rm -rf package && npm pack --silent "swagger-ui-dist@${SWAGGER_UI_VERSION}" >/dev/null)
echo "${SWAGGER_UI_SHA256}  ${tmp}/swagger-ui-dist-${SWAGGER_UI_VERSION}.tgz" | sha256sum -c --quiet
tar -xzf "$tmp/swagger-ui-dist-${SWAGGER_UI_VERSION}.tgz" -C "$tmp"
rm -rf vendor/swagger-ui
mkdir -p vendor/swagger-ui
cp "$tmp/package/swagger-ui-bundle.js" "$tmp/package/swagger-ui.css" "$tmp/package/LICENSE" "$tmp/package/NOTICE" \
  vendor/swagger-ui/
echo "swagger-ui-dist ${SWAGGER_UI_VERSION}" > vendor/swagger-ui/VERSION
echo "vendored swagger-ui-dist ${SWAGGER_UI_VERSION} into $(pwd)/vendor/swagger-ui"

(cd "$tmp" && rm -rf package && npm pack --silent "redoc@${REDOC_VERSION}" >/dev/null)
echo "${REDOC_SHA256}  ${tmp}/redoc-${REDOC_VERSION}.tgz" | sha256sum -c --quiet
tar -xzf "$tmp/redoc-${REDOC_VERSION}.tgz" -C "$tmp"
rm -rf vendor/redoc
mkdir -p vendor/redoc
cp "$tmp/package/bundles/redoc.standalone.js" "$tmp/package/LICENSE" vendor/redoc/
echo "redoc ${REDOC_VERSION}" > vendor/redoc/VERSION
echo "vendored redoc ${REDOC_VERSION} into $(pwd)/vendor/redoc"
