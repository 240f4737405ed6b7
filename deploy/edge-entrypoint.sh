#!/bin/sh
# Entry point of the edge container (deploy/edge.Dockerfile): puts the lot configuration in place,
# then runs the controller as the node user, or as root when GPIO/hidraw need it (EDGE_RUN_AS_ROOT=1).
set -eu

data_dir="${EDGE_DATA_DIR:-/data}"
mkdir -p "$data_dir"

# Provisioning channel on balena: the lot's YAML/JSON configuration as a base64 device variable.
if [ -n "${EDGE_CONFIG_B64:-}" ]; then
  umask 077
  tmp="$data_dir/lot.yaml.$$"
  if ! printf '%s' "$EDGE_CONFIG_B64" | base64 -d >"$tmp" 2>/dev/null; then
    rm -f "$tmp"
    echo "parkedge: EDGE_CONFIG_B64 is not valid base64" >&2
    exit 78
  fi
  mv "$tmp" "$data_dir/lot.yaml"
  export EDGE_CONFIG="$data_dir/lot.yaml"
elif [ -z "${EDGE_CONFIG:-}" ] && [ -f "$data_dir/lot.yaml" ]; then
  export EDGE_CONFIG="$data_dir/lot.yaml"
fi
if [ -z "${EDGE_CONFIG:-}" ]; then
  echo "parkedge: no lot configuration; set the device variable EDGE_CONFIG_B64 (deploy/README.md)" >&2
  exit 78
fi
unset EDGE_CONFIG_B64

if [ "${EDGE_RUN_AS_ROOT:-0}" = "1" ]; then
  exec "$@"
fi
chown -R node:node "$data_dir"
exec setpriv --reuid=node --regid=node --init-groups --inh-caps=-all --bounding-set=-all -- "$@"
