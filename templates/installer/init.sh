#!/bin/sh
# outpost installer: PID 1 of the installer initramfs (busybox). Finds the install medium, brings up
# the network, picks the target disk from the hints, streams the image onto it while hashing it,
# adds the config drive, reports progress, and reboots to disk. Every failure is reported with its
# reason and leaves the disk as it was (hints) or unbootable (bad checksum), never half-trusted.
# shellcheck shell=sh disable=SC1090,SC3043
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
CHUNK_MB=32
FETCH_ATTEMPTS=8

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
mkdir -p /tmp /run /media/install
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1

log() { echo "outpost-installer: $*"; }

json_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\n\r'; }

# report PHASE STATUS PROGRESS MESSAGE: best effort, never fatal.
report() {
  log "[$1] $2 ${3:+$3% }$4"
  [ -n "$OUTPOST_CALLBACK_URL" ] || return 0
  body="{\"phase\":\"$1\",\"status\":\"$2\",\"progress\":${3:-null},\"message\":\"$(json_escape "$4")\"}"
  # busybox wget's own -T crashes in Debian's static build: bound it with timeout(1) instead.
  timeout 15 wget -q -O /dev/null --header 'Content-Type: application/json' \
    --header "Authorization: Bearer $OUTPOST_CALLBACK_TOKEN" --post-data "$body" "$OUTPOST_CALLBACK_URL" 2>/dev/null ||
    log "could not reach $OUTPOST_CALLBACK_URL"
}

fail() {
  report install failed "" "$1"
  log "INSTALL FAILED: $1"
  log "the host stays powered on for inspection; nothing more will be written"
  while :; do sleep 3600; done
}

load_modules() {
  [ -f /lib/modules/load-order ] || return 0
  while read -r ko; do
    insmod "/lib/modules/$ko" 2>/dev/null || true
  done </lib/modules/load-order
}

find_install_medium() {
  i=0
  while [ $i -lt 60 ]; do
    for dev in /dev/sr* /dev/vd* /dev/sd* /dev/nvme*n*; do
      [ -b "$dev" ] || continue
      if mount -t iso9660 -o ro "$dev" /media/install 2>/dev/null; then
        [ -f /media/install/outpost/install.conf ] && return 0
        umount /media/install
      fi
    done
    i=$((i + 1))
    sleep 1
  done
  return 1
}

iface_for_mac() {
  for n in /sys/class/net/*; do
    [ "$(cat "$n/address" 2>/dev/null)" = "$1" ] && { basename "$n"; return 0; }
  done
  return 1
}

first_ethernet() {
  for n in /sys/class/net/*; do
    name=$(basename "$n")
    [ "$name" = lo ] && continue
    [ -e "$n/device" ] && { echo "$name"; return 0; }
  done
  return 1
}

bring_up_network() {
  [ -n "$OUTPOST_IMAGE_URL$OUTPOST_CALLBACK_URL" ] || return 0
  iface=""
  [ -n "$OUTPOST_NET_MAC" ] && iface=$(iface_for_mac "$OUTPOST_NET_MAC")
  [ -n "$iface" ] || iface=$(first_ethernet) || fail "no network interface found"
  ip link set lo up
  ip link set "$iface" up
  if [ "$OUTPOST_NET_MODE" = static ]; then
    ip addr add "$OUTPOST_NET_ADDRESS" dev "$iface" || fail "cannot set $OUTPOST_NET_ADDRESS on $iface"
    [ -n "$OUTPOST_NET_GATEWAY" ] && ip route add default via "$OUTPOST_NET_GATEWAY" dev "$iface"
    for s in $OUTPOST_NET_DNS; do echo "nameserver $s"; done >/etc/resolv.conf
  else
    udhcpc -i "$iface" -t 20 -T 3 -n -q -s /bin/udhcpc-script || fail "no DHCP answer on $iface"
  fi
  log "network: $iface $(ip -o -4 addr show dev "$iface" | awk '{print $4}')"
}

# disk_matches DEV: all hints given must hold (Metal3 root device hints).
disk_matches() {
  dev=$1; sys=/sys/block/$dev
  size=$(($(cat "$sys/size") * 512))
  [ -n "$OUTPOST_INSTALL_DEVICE" ] && [ "/dev/$dev" != "$OUTPOST_INSTALL_DEVICE" ] && return 1
  [ -n "$OUTPOST_HINT_NAME" ] && [ "/dev/$dev" != "$OUTPOST_HINT_NAME" ] && [ "$dev" != "$OUTPOST_HINT_NAME" ] && return 1
  [ -n "$OUTPOST_HINT_MIN_BYTES" ] && [ "$size" -lt "$OUTPOST_HINT_MIN_BYTES" ] && return 1
  [ -n "$OUTPOST_HINT_MAX_BYTES" ] && [ "$size" -gt "$OUTPOST_HINT_MAX_BYTES" ] && return 1
  if [ -n "$OUTPOST_HINT_SERIAL" ]; then
    serial=$(cat "$sys/serial" "$sys/device/serial" 2>/dev/null | head -n1 | tr -d ' ')
    [ "$serial" = "$OUTPOST_HINT_SERIAL" ] || return 1
  fi
  if [ -n "$OUTPOST_HINT_WWN" ]; then
    wwn=$(cat "$sys/wwid" "$sys/device/wwid" 2>/dev/null | head -n1 | tr -d ' ')
    case "$wwn" in *"$OUTPOST_HINT_WWN"*) ;; *) return 1 ;; esac
  fi
  if [ -n "$OUTPOST_HINT_ROTATIONAL" ]; then
    rot=$(cat "$sys/queue/rotational")
    { [ "$OUTPOST_HINT_ROTATIONAL" = true ] && [ "$rot" = 1 ]; } ||
      { [ "$OUTPOST_HINT_ROTATIONAL" = false ] && [ "$rot" = 0 ]; } || return 1
  fi
  [ "$size" -ge "$OUTPOST_IMAGE_SIZE" ] || return 1
  return 0
}

# Sets TARGET to the smallest matching disk, like Ironic; never the install medium itself.
# Runs in the main shell (not in $(...)) so a failure is logged and reported, not captured.
choose_disk() {
  medium=$(awk '$2 == "/media/install" {print $1}' /proc/mounts | sed 's|/dev/||; s|[0-9]*$||')
  best=""; best_size=""; seen=""
  for sys in /sys/block/*; do
    dev=$(basename "$sys")
    case "$dev" in loop* | ram* | sr* | dm-* | zram* | md*) continue ;; esac
    [ "$dev" = "$medium" ] && continue
    size=$(($(cat "$sys/size") * 512))
    seen="$seen /dev/$dev($size bytes)"
    disk_matches "$dev" || continue
    if [ -z "$best" ] || [ "$size" -lt "$best_size" ]; then best=$dev; best_size=$size; fi
  done
  [ -n "$best" ] || fail "no disk matches the root device hints (image needs $OUTPOST_IMAGE_SIZE bytes); disks:${seen:- none}"
  TARGET=$best
}

# fetch_chunk OFFSET LENGTH: one chunk of the image into /tmp/chunk, retried; the whole chunk or failure.
fetch_chunk() {
  off=$1; len=$2; attempt=1
  while [ $attempt -le $FETCH_ATTEMPTS ]; do
    rm -f /tmp/chunk
    if [ -n "$OUTPOST_IMAGE_FILE" ]; then
      dd if="/media/install/$OUTPOST_IMAGE_FILE" of=/tmp/chunk bs=1M skip=$((off / 1048576)) count=$((len / 1048576 + 1)) 2>/dev/null
      head -c "$len" /tmp/chunk >/tmp/chunk.part && mv /tmp/chunk.part /tmp/chunk
    else
      timeout 120 wget -q -O /tmp/chunk --header "Range: bytes=$off-$((off + len - 1))" "$OUTPOST_IMAGE_URL" 2>/dev/null
    fi
    [ -f /tmp/chunk ] && [ "$(stat -c %s /tmp/chunk)" -eq "$len" ] && return 0
    log "chunk at byte $off failed (attempt $attempt of $FETCH_ATTEMPTS), retrying"
    sleep $((attempt * 2))
    attempt=$((attempt + 1))
  done
  return 1
}

write_image() {
  disk=/dev/$1
  size=$OUTPOST_IMAGE_SIZE
  chunk=$((CHUNK_MB * 1048576))
  mkfifo /tmp/image.fifo /tmp/hash.fifo
  sha256sum </tmp/hash.fifo >/tmp/image.sha256 &
  tee /tmp/hash.fifo </tmp/image.fifo | dd of="$disk" bs=4M 2>/tmp/dd.log &
  writer=$!
  exec 3>/tmp/image.fifo
  off=0; last=-1
  while [ "$off" -lt "$size" ]; do
    len=$chunk
    [ $((off + len)) -gt "$size" ] && len=$((size - off))
    fetch_chunk "$off" "$len" || { exec 3>&-; fail "image download failed at byte $off after $FETCH_ATTEMPTS attempts"; }
    cat /tmp/chunk >&3
    off=$((off + len))
    pct=$((off * 100 / size))
    if [ $((pct / 10)) -ne "$last" ]; then last=$((pct / 10)); report write running "$pct" "written $off of $size bytes"; fi
  done
  exec 3>&-
  wait "$writer" || fail "writing $disk failed: $(cat /tmp/dd.log)"
  wait
  sync
  got=$(cut -d' ' -f1 /tmp/image.sha256)
  if [ "$got" != "$OUTPOST_IMAGE_SHA256" ]; then
    # A wrong image must never boot: clear the partition tables at both ends.
    dd if=/dev/zero of="$disk" bs=1M count=1 conv=fsync 2>/dev/null
    fail "checksum mismatch: expected sha256 $OUTPOST_IMAGE_SHA256, got $got"
  fi
  report write done 100 "sha256 verified"
}

write_config_drive() {
  disk=/dev/$1
  img=/media/install/$OUTPOST_CONFIG_DRIVE
  [ -n "$OUTPOST_CONFIG_DRIVE" ] && [ -f "$img" ] || return 0
  sectors=$((($(stat -c %s "$img") + 1048575) / 1048576 * 2048))
  sgdisk -e "$disk" >/dev/null || fail "config drive: $disk has no GPT (config drives need GPT images)"
  sgdisk -n "0:-${sectors}:0" -t 0:0700 -c 0:config-2 "$disk" >/dev/null || fail "config drive: no room at the end of $disk"
  part=$(sgdisk -p "$disk" | awk '$NF == "config-2" {print $1}' | tail -n1)
  start=$(sgdisk -i "$part" "$disk" | awk '/^First sector/ {print $3}')
  dd if="$img" of="$disk" bs=512 seek="$start" conv=fsync 2>/dev/null || fail "config drive: write failed"
  report config-drive done "" "partition $part at sector $start"
}

log "starting (kernel $(uname -r))"
load_modules
find_install_medium || fail "install medium with outpost/install.conf not found"
. /media/install/outpost/install.conf
bring_up_network
report install running 0 "installer started on $(uname -r)"
choose_disk
report disk done "" "selected /dev/$TARGET ($(($(cat "/sys/block/$TARGET/size") * 512)) bytes)"
write_image "$TARGET"
write_config_drive "$TARGET"
report install done 100 "image written to /dev/$TARGET; rebooting to disk"
sync
umount /media/install 2>/dev/null
if [ "$OUTPOST_REBOOT" = false ]; then poweroff -f; else reboot -f; fi
