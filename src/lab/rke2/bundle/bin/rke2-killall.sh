#!/bin/sh
# Stops the RKE2 stand-in on this node (the lab's bin/rke2 runs no containers, so there is nothing else to stop).
[ "$(id -u)" -eq 0 ] || exec sudo "$0" "$@"
for service in rke2-server rke2-agent; do
  systemctl stop "$service.service" 2>/dev/null || true
done
pkill -TERM -x rke2 2>/dev/null || true
exit 0
