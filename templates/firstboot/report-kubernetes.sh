#!/bin/bash
# outpost: follows RKE2 on this host after first boot installed it and reports each stage to the
# management service (best effort, through the same callback as first boot):
#   {"step":"kubernetes-installed","status":"ok"}, then "kubernetes-started", then "kubernetes-registered"
#   (the node is Ready), or {"step":"kubernetes","status":"failed","message":"<why>"}.
# It also writes the outcome to /var/lib/outpost/kubernetes.status. It never stops RKE2 or the host.
set -uo pipefail
readonly STATE_DIR=${OUTPOST_STATE_DIR:-/var/lib/outpost}
readonly STATUS=$STATE_DIR/kubernetes.status
readonly START_LIMIT=${OUTPOST_RKE2_START_LIMIT:-1200}
readonly READY_LIMIT=${OUTPOST_RKE2_READY_LIMIT:-1200}
log() { printf 'outpost-kubernetes-report: %s\n' "$*"; }
CALLBACK_URL=
if [ -f "$STATE_DIR/kubernetes/outpost-callback.sh" ]; then
  # shellcheck source=/dev/null
  . "$STATE_DIR/kubernetes/outpost-callback.sh"
  CALLBACK_URL=$(find_callback_url || true)
fi
field() { sed -n "s/^$1=//p" "$STATUS" | tail -n1; }
unit=$(field unit)
role=$(field role)
node=$(field node_name)

# send STEP STATUS [MESSAGE]: records it, then posts it (a few tries: the network may still be settling).
send() {
  local step=$1 status=$2 message=${3-} body attempt
  echo "$step=$status" >>"$STATUS"
  log "$step: $status${message:+ ($message)}"
  [ -n "$CALLBACK_URL" ] || return 0
  message=$(printf '%s' "$message" | tr -d '"\\' | tr '\n\t' '  ' | cut -c1-500)
  body=$(printf '{"step":"%s","status":"%s"%s}' "$step" "$status" "${message:+,\"message\":\"$message\"}")
  for attempt in 1 2 3 4 5 6; do
    post_json "$CALLBACK_URL" "$body" && return 0
    sleep 10
  done
  log "could not deliver $step=$status"
}

# The initializer hands the cluster's admin kubeconfig to the management service, which points it at the
# VIP (or this node's address) and watches the Nodes with it. Once, as soon as RKE2 has written it; in
# base64 so no JSON escaping of YAML is needed. It is a secret: it goes only to the callback URL.
admin_kubeconfig=${OUTPOST_RKE2_KUBECONFIG:-/etc/rancher/rke2/rke2.yaml}
kubeconfig_sent=
send_kubeconfig() {
  [ "$role" = initializer ] && [ -z "$kubeconfig_sent" ] && [ -n "$CALLBACK_URL" ] && [ -s "$admin_kubeconfig" ] || return 0
  local body attempt
  body=$(printf '{"phase":"kubeconfig","status":"ok","kubeconfig":"%s"}' "$(base64 -w0 "$admin_kubeconfig")")
  for attempt in 1 2 3 4 5 6; do
    if post_json "$CALLBACK_URL" "$body"; then
      kubeconfig_sent=1
      echo "kubeconfig=sent" >>"$STATUS"
      log "kubeconfig: sent"
      return 0
    fi
    sleep 10
  done
  log "could not deliver the kubeconfig"
}

why_not_up() {
  local state journal
  state=$(systemctl show -p ActiveState -p SubState -p Result -p NRestarts "$unit.service" 2>/dev/null | tr '\n' ' ')
  journal=$(journalctl -u "$unit.service" -n 3 -o cat --no-pager 2>/dev/null | tr '\n' ' ')
  printf '%s: %s%s' "$unit" "$state" "${journal:+ last log: $journal}"
}

fail() {
  send kubernetes failed "$1"
  touch "$STATE_DIR/kubernetes.reported"
  log "RKE2 did not come up; the host stays reachable for inspection"
  exit 0
}

send kubernetes-installed ok "role $role"
deadline=$((SECONDS + START_LIMIT))
until systemctl is-active --quiet "$unit.service"; do
  ((SECONDS < deadline)) || fail "not active after ${START_LIMIT}s: $(why_not_up)"
  sleep 5
done
send kubernetes-started ok "$unit active"

kubectl=/var/lib/rancher/rke2/bin/kubectl
[ -x "$kubectl" ] || kubectl=$(command -v kubectl || true)
kubeconfig=/etc/rancher/rke2/rke2.yaml
[ "$role" != agent ] || kubeconfig=/var/lib/rancher/rke2/agent/kubelet.kubeconfig
kubeconfig=${OUTPOST_RKE2_KUBECONFIG:-$kubeconfig} # tests
deadline=$((SECONDS + READY_LIMIT))
ready=
while ((SECONDS < deadline)); do
  send_kubeconfig
  if [ -n "$kubectl" ] && [ -f "$kubeconfig" ]; then
    ready=$("$kubectl" --kubeconfig "$kubeconfig" get node "$node" \
      -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
    [ "$ready" != True ] || break
  fi
  systemctl is-active --quiet "$unit.service" || fail "$unit stopped before the node registered: $(why_not_up)"
  sleep 10
done
send_kubeconfig
[ "$ready" = True ] || fail "node $node not Ready after ${READY_LIMIT}s (Ready=${ready:-unknown}; kubectl ${kubectl:-missing}, kubeconfig $kubeconfig): $(why_not_up)"
send kubernetes-registered ok "node $node Ready"
touch "$STATE_DIR/kubernetes.reported"
