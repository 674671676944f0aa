# outpost first boot: progress reports to the management service (sourced by the runner and by the
# completion reporter; the caller defines log). Best effort: a report never fails the boot.
# The URL comes from the kernel argument outpost.callback=URL or the config drive's
# openstack/latest/meta_data.json key "outpost_callback". It may carry a token: never log it.
find_callback_url() {
  local arg args dev mnt url=
  read -ra args </proc/cmdline
  for arg in "${args[@]}"; do
    case $arg in outpost.callback=*) url=${arg#outpost.callback=} ;; esac
  done
  if [ -z "$url" ] && command -v blkid >/dev/null && dev=$(blkid -L config-2 2>/dev/null); then
    mnt=$(mktemp -d)
    if mount -o ro "$dev" "$mnt" 2>/dev/null; then
      url=$(grep -o '"outpost_callback"[[:space:]]*:[[:space:]]*"[^"]*"' "$mnt/openstack/latest/meta_data.json" 2>/dev/null |
        sed -e 's/^.*"\([^"]*\)"$/\1/' -e 's,\\/,/,g' || true)
      umount "$mnt"
    fi
    rmdir "$mnt"
  fi
  printf '%s' "$url"
}
# post_json URL BODY: curl, else wget, else plain HTTP through bash's /dev/tcp (minimal images have
# neither client). Bounded to 5 s.
post_json() {
  local url=$1 body=$2
  if command -v curl >/dev/null; then
    curl -fsS -m 5 -o /dev/null -H 'Content-Type: application/json' --data "$body" "$url" 2>/dev/null
  elif command -v wget >/dev/null; then
    wget -q -T 5 -O /dev/null --header='Content-Type: application/json' --post-data="$body" "$url" 2>/dev/null
  elif [[ $url =~ ^http://([^/:]+)(:([0-9]+))?(/.*)?$ ]]; then
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
      printf "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s" \
        "$3" "$1" "${#4}" "$4" >&3
      read -r _ code _ <&3
      [[ $code == 2?? ]]' _ "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]:-80}" "${BASH_REMATCH[4]:-/}" "$body" 2>/dev/null
  else
    return 0
  fi
}

# report STEP STATUS: {"step":...,"status":...}; step names are plain (checked at build time).
# Said once: before the network is up no report gets through, and the completion unit reports later.
report() {
  [ -n "$CALLBACK_URL" ] || return 0
  post_json "$CALLBACK_URL" "$(printf '{"step":"%s","status":"%s"}' "$1" "$2")" && return 0
  [ -n "${REPORTS_UNDELIVERED-}" ] ||
    log "progress reports cannot be delivered yet (report $1=$2 failed); the outcome is reported once the network is up"
  REPORTS_UNDELIVERED=1
}

