#!/bin/sh
# Adds a broker account to the Mosquitto password file and prints its password once.
#
#   create-lot-credentials.sh <lotId>     account for one lot (username = the lot id)
#   create-lot-credentials.sh --cloud     the cloud service's account (username "cloud")
#
# Environment: MOSQUITTO_PASSWORD_FILE (default /mosquitto/config/passwd),
#              MOSQUITTO_PASSWD (default: mosquitto_passwd on PATH),
#              MOSQUITTO_FILE_OWNER (e.g. mosquitto:mosquitto; the broker's user must read the file).
# Running it again for the same account replaces the password (rotation). Mosquitto reads the
# file again on SIGHUP: `docker kill -s HUP <broker>` / `systemctl reload mosquitto`.
# The username scheme and why it is the lot id: protocol/acl.ts and deploy/mosquitto/acl.
set -eu

usage() {
  echo "usage: $0 <lotId> | --cloud" >&2
  exit 64
}

[ "$#" -eq 1 ] || usage
case "$1" in
  --cloud) username=cloud ;;
  -*) usage ;;
  cloud)
    echo "\"cloud\" is the cloud service's account, not a lot id (use --cloud)" >&2
    exit 65
    ;;
  *)
    # Same rule as protocol/acl.ts isValidLotId: 1-64 of A-Z a-z 0-9 _ -
    if ! printf '%s' "$1" | grep -Eq '^[A-Za-z0-9_-]{1,64}$'; then
      echo "not a lot id: \"$1\" (1-64 letters, digits, - or _)" >&2
      exit 65
    fi
    username=$1
    ;;
esac

password_file=${MOSQUITTO_PASSWORD_FILE:-/mosquitto/config/passwd}
tool=${MOSQUITTO_PASSWD:-$(command -v mosquitto_passwd || true)}
if [ -z "$tool" ] || [ ! -x "$tool" ]; then
  echo "mosquitto_passwd not found (install mosquitto or set MOSQUITTO_PASSWD)" >&2
  exit 69
fi

# 24 random bytes, base64url without padding: 32 characters, safe in files and on command lines.
password=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')

umask 077
if [ -s "$password_file" ]; then
  "$tool" -b "$password_file" "$username" "$password"
else
  "$tool" -c -b "$password_file" "$username" "$password"
fi
if [ -n "${MOSQUITTO_FILE_OWNER:-}" ]; then
  chown "$MOSQUITTO_FILE_OWNER" "$password_file"
fi

printf 'username: %s\npassword: %s\n' "$username" "$password"
echo "Store the password now (balena device variable MQTT_PASSWORD for a lot); it is not shown again." >&2
