#!/bin/bash
# outpost appliance: once the service has made its API token, show it with the console address on the
# local console and at the login prompt. The token stays in files only root reads (0600); it is written
# to /dev/console directly, never to this unit's output (the journal).
set -euo pipefail
token_file=/var/lib/outpost/api-token
for ((i = 0; i < 600; i++)); do
  [ -s "$token_file" ] && break
  sleep 1
done
if ! [ -s "$token_file" ]; then
  echo "no API token in $token_file after 600 s: is outpost.service running? (systemctl status outpost)" >&2
  exit 1
fi
# shellcheck source=/dev/null
. /etc/default/outpost
port=${OUTPOST_LISTEN##*:}
token=$(<"$token_file")
umask 077
mkdir -p /etc/issue.d
# \4 is agetty's escape for this machine's IPv4 address.
printf 'outpost management appliance: console and API at http://\\4:%s/\nAPI token (also in %s): %s\n\n' \
  "$port" "$token_file" "$token" >/etc/issue.d/outpost.issue.tmp
mv /etc/issue.d/outpost.issue.tmp /etc/issue.d/outpost.issue
printf '\noutpost appliance: console and API on port %s; API token: %s\n\n' "$port" "$token" >/dev/console || true
agetty --reload 2>/dev/null || true
echo "outpost appliance: console and API on port $port; the API token is shown on the console"
