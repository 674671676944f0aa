#!/bin/bash
# Example user script (band 50-99): runs once at first boot after outpost's own steps.
set -euo pipefail
site=$(cat "${OUTPOST_FILES:-files}/site-name")
printf 'Welcome to outpost site %s (%s)\n' "$site" "$(hostname)" > /etc/motd
echo "site-motd: wrote /etc/motd for site $site"
