#!/bin/sh
# udhcpc event handler for the outpost installer: applies the lease with ip(8).
case "$1" in
deconfig)
  ip addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound | renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/${mask:-24}" dev "$interface"
  for r in $router; do ip route add default via "$r" dev "$interface" && break; done
  : >/etc/resolv.conf
  for s in $dns; do echo "nameserver $s" >>/etc/resolv.conf; done
  ;;
esac
exit 0
