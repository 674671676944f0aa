#!/bin/sh
# Removes what the RKE2 stand-in installed and wrote on this node. install.sh rewrites /usr/local to the
# prefix it used, as for the real script.
set -e
[ "$(id -u)" -eq 0 ] || exec sudo "$0" "$@"
PREFIX=/usr/local
"$PREFIX/bin/rke2-killall.sh" || true
for service in rke2-server rke2-agent; do
  systemctl disable "$service.service" 2>/dev/null || true
  rm -f "/etc/systemd/system/$service.service" "$PREFIX/lib/systemd/system/$service.service" \
    "$PREFIX/lib/systemd/system/$service.env"
done
systemctl daemon-reload 2>/dev/null || true
rm -rf /etc/rancher/rke2 /etc/rancher/node /var/lib/rancher/rke2 "$PREFIX/share/rke2"
rm -f "$PREFIX/bin/rke2" "$PREFIX/bin/rke2-killall.sh"
rm -f "$0"
