#!/bin/sh
# outpost installer: PID 1 of the installer initramfs (busybox). Finds the install medium, brings up
# the network, picks the target disk from the hints, writes the image's data ranges verifying each one,
# adds the config drive, reports progress, and reboots to disk. Every failure is reported with its
# reason and leaves the disk as it was (hints) or unbootable (bad checksum), never half-trusted.
# shellcheck shell=sh disable=SC1090,SC3043
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
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
# A byte count in MiB (binary units, as the service shows sizes), rounded up.
mib() { echo "$((($1 + 1048575) / 1048576)) MiB"; }

report() {
  log "[$1] $2 ${3:+$3% }$4"
  [ -n "$OUTPOST_CALLBACK_URL" ] || return 0
  body="{\"phase\":\"$1\",\"status\":\"$2\",${3:+\"progress\":$3,}\"message\":\"$(json_escape "$4")\"}"
  answer=$(curl -sS --max-time 15 --retry 3 --retry-connrefused -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $OUTPOST_CALLBACK_TOKEN" \
    --data "$body" "$OUTPOST_CALLBACK_URL" 2>&1)
  case "$answer" in 2??) ;; *) log "progress report not accepted by the service: $answer" ;; esac
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
  best=""; best_size=""; seen=""; matches=0
  for sys in /sys/block/*; do
    dev=$(basename "$sys")
    case "$dev" in loop* | ram* | sr* | dm-* | zram* | md*) continue ;; esac
    [ "$dev" = "$medium" ] && continue
    size=$(($(cat "$sys/size") * 512))
    seen="$seen /dev/$dev($(mib "$size"))"
    disk_matches "$dev" || continue
    matches=$((matches + 1))
    if [ -z "$best" ] || [ "$size" -lt "$best_size" ]; then best=$dev; best_size=$size; fi
  done
  [ -n "$best" ] || fail "no disk matches the root device hints (image needs $(mib "$OUTPOST_IMAGE_SIZE")); disks:${seen:- none}"
  if [ "$OUTPOST_DISK_POLICY" = unique ] && [ "$matches" -gt 1 ]; then
    fail "$matches disks could take the image and none was named: set isoConfiguration.installDevice; disks:$seen"
  fi
  TARGET=$best
}

# fetch_range OFFSET LENGTH DATA_OFFSET SHA256: one data range of the image into /tmp/range, verified
# against its own SHA-256; refetched on a short read, a dropped connection or a wrong hash.
fetch_range() {
  off=$1; len=$2; data_off=$3; want=$4; attempt=1
  while [ $attempt -le $FETCH_ATTEMPTS ]; do
    rm -f /tmp/range
    if [ -n "$OUTPOST_IMAGE_FILE" ]; then
      # Packed data on the install medium: ranges are whole MiB except the image's last one.
      dd if="/media/install/$OUTPOST_IMAGE_FILE" of=/tmp/range bs=1M skip=$((data_off / 1048576)) \
        count=$(((len + 1048575) / 1048576)) 2>/dev/null
    else
      curl -fsS --max-time 600 --connect-timeout 15 -r "$off-$((off + len - 1))" -o /tmp/range "$OUTPOST_IMAGE_URL" ||
        log "download of bytes $off-$((off + len - 1)) failed"
    fi
    if [ -f /tmp/range ] && [ "$(stat -c %s /tmp/range)" -eq "$len" ]; then
      got=$(sha256sum /tmp/range | cut -d' ' -f1)
      [ "$got" = "$want" ] && return 0
      log "bytes $off-$((off + len - 1)): sha256 $got, expected $want (attempt $attempt of $FETCH_ATTEMPTS)"
      last_mismatch="checksum mismatch at bytes $off-$((off + len - 1)): expected sha256 $want, got $got"
    else
      log "bytes $off-$((off + len - 1)) incomplete (attempt $attempt of $FETCH_ATTEMPTS)"
    fi
    sleep $((attempt * 2))
    attempt=$((attempt + 1))
  done
  return 1
}

# zero_fill DISK FROM TO: the image's zero ranges are zeroed on the disk (BLKZEROOUT), not transferred.
zero_fill() {
  [ "$3" -gt "$2" ] || return 0
  /usr/sbin/blkdiscard -z -o "$2" -l $(($3 - $2)) "$1" 2>/tmp/zero.log ||
    dd if=/dev/zero of="$1" bs=1M seek=$(($2 / 1048576)) count=$((($3 - $2) / 1048576)) conv=notrunc 2>>/tmp/zero.log ||
    fail "zeroing bytes $2-$3 of $1 failed: $(cat /tmp/zero.log)"
}

# Writes the image from its block map: each data range fetched, verified and written; the gaps zeroed.
write_image() {
  disk=/dev/$1
  map=/media/install/outpost/image.map
  [ -f "$map" ] || fail "install medium has no outpost/image.map"
  header=$(head -n1 "$map")
  data_total=${header##* data }
  [ "$(echo "$header" | cut -d' ' -f8)" = "$OUTPOST_IMAGE_SHA256" ] ||
    fail "image map is for another image (expected sha256 $OUTPOST_IMAGE_SHA256)"
  done_bytes=0; last=-1; pos=0; last_mismatch=""
  while read -r off len want data_off; do
    case "$off" in '#'* | '') continue ;; esac
    zero_fill "$disk" "$pos" "$off"
    if ! fetch_range "$off" "$len" "$data_off" "$want"; then
      # A wrong image must never boot: clear the partition table at the start of the disk.
      dd if=/dev/zero of="$disk" bs=1M count=1 conv=fsync 2>/dev/null
      fail "${last_mismatch:-image download failed at byte $off after $FETCH_ATTEMPTS attempts}"
    fi
    dd if=/tmp/range of="$disk" bs=1M seek=$((off / 1048576)) conv=notrunc 2>/tmp/dd.log ||
      fail "writing $disk at byte $off failed: $(cat /tmp/dd.log)"
    pos=$((off + len))
    done_bytes=$((done_bytes + len))
    pct=$((done_bytes * 100 / data_total))
    if [ $((pct / 10)) -ne "$last" ]; then
      last=$((pct / 10))
      report write running "$pct" "written $(mib "$done_bytes") of $(mib "$data_total") of data (image $(mib "$OUTPOST_IMAGE_SIZE"))"
    fi
  done <"$map"
  zero_fill "$disk" "$pos" "$OUTPOST_IMAGE_SIZE"
  sync
  report write done 100 "$(mib "$data_total") of data verified range by range (image sha256 $OUTPOST_IMAGE_SHA256)"
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
report disk done "" "selected /dev/$TARGET ($(mib $(($(cat "/sys/block/$TARGET/size") * 512))))"
write_image "$TARGET"
write_config_drive "$TARGET"
report install done 100 "image written to /dev/$TARGET; rebooting to disk"
sync
umount /media/install 2>/dev/null
if [ "$OUTPOST_REBOOT" = false ]; then poweroff -f; else reboot -f; fi
