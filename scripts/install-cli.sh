#!/usr/bin/env bash
# Makes `outpost` a command: installs a small wrapper (default /usr/local/bin/outpost) that runs this
# checkout's bin/outpost.js with the checkout's own Node.js 24 (node_modules/.bin/node, from `npm install`).
# Safe to run again; scripts/install-deps.sh runs it. Usage: scripts/install-cli.sh [WRAPPER-PATH]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${1:-/usr/local/bin/outpost}
# printf %q quotes the checkout path for the shell, whatever characters it has.
node_q=$(printf '%q' "$root/node_modules/.bin/node")
cli_q=$(printf '%q' "$root/bin/outpost.js")
tmp=$(mktemp "$(dirname "$target")/.outpost.XXXXXX")
cat >"$tmp" <<WRAPPER
#!/usr/bin/env bash
# outpost from the checkout $root (installed by its scripts/install-cli.sh).
if [ ! -x $node_q ]; then
  echo "outpost: no Node.js 24 in $root/node_modules yet: run npm install there" >&2
  exit 2
fi
exec $node_q $cli_q "\$@"
WRAPPER
chmod 0755 "$tmp"
mv -f "$tmp" "$target"
echo "installed $target -> $root/bin/outpost.js"
