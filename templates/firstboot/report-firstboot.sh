#!/bin/bash
# outpost first boot: tells the management service how first boot ended, once the network is up.
# The runner itself runs before the network (so its keyfiles are in place when NetworkManager starts);
# its own reports only arrive when a network already works. This unit retries for up to 15 minutes.
set -uo pipefail
readonly STATE_DIR=/var/lib/outpost
log() { printf 'outpost-firstboot-report: %s\n' "$*"; }
# shellcheck source=/dev/null
. /usr/local/lib/outpost/outpost-callback.sh
CALLBACK_URL=$(find_callback_url || true)
if [ -z "$CALLBACK_URL" ]; then
  log "no callback URL (kernel argument outpost.callback= or config drive): nothing to report"
  exit 0
fi
if [ -f "$STATE_DIR/firstboot.done" ]; then
  status=ok
elif [ -f "$STATE_DIR/firstboot.failed" ]; then
  status=failed
else
  log "first boot has not finished: nothing to report yet"
  exit 0
fi
for attempt in $(seq 1 90); do
  if post_json "$CALLBACK_URL" "$(printf '{"step":"firstboot","status":"%s"}' "$status")"; then
    touch "$STATE_DIR/firstboot.reported"
    log "reported first boot $status (attempt $attempt)"
    exit 0
  fi
  sleep 10
done
log "could not report first boot $status after 90 attempts; giving up (the next boot tries again)"
exit 1
