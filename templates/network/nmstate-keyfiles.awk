# outpost first-boot nmstate generator (POSIX awk: mawk, gawk and busybox awk).
#
# The image has no Node.js, yet a config drive attached at deploy time carries nmstate YAML that must
# become NetworkManager keyfiles on the host. This program is the first-boot twin of outpost's
# TypeScript generator (src/network/): same supported subset, same profiles byte for byte, same host
# map. outpost's test suite runs both over the same inputs and requires identical output.
#
# Usage: awk -v host=NAME -v outdir=DIR -f nmstate-keyfiles.awk FILE.yaml
# Writes DIR/NAME/<id>.nmconnection and DIR/host_config.yaml. Errors: "FILE:LINE: field: message" on
# stderr, exit 2, nothing written.
#
# YAML: block style (mappings, lists, lists of mappings), plain and quoted scalars, comments, and the
# flow forms [] {} and [a, b]. Anchors, tags, multi-line scalars and other flow mappings are refused.

BEGIN {
  NSOCT = "\\023\\161\\265\\074\\031\\042\\133\\306\\264\\105\\204\\117\\150\\330\\223\\163"
  HEX = "0123456789abcdef"
  nerr = 0; depth = 0
  typ[0] = "map"; pth[0] = ""; cind[0] = -1
  if (host == "" || host !~ /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/ && host != "_all") fatal(0, "", "host name '" host "' is not valid")
  if (outdir == "") fatal(0, "", "outdir is not set")
  allowed_fields()
}

# ---------------------------------------------------------------- YAML to flat paths (a.0.b = value)
{
  line = $0
  sub(/\r$/, "", line)
  if (line ~ /^\t/ || line ~ /^ *\t/) { yerr(NR, "tabs are not allowed for indentation"); next }
  if (line ~ /^---[ \t]*$/ || line ~ /^\.\.\.[ \t]*$/) next
  content = strip_comment(line)
  if (content ~ /^[ ]*$/) next
  match(content, /^ */); n = RLENGTH
  c = substr(content, n + 1)
  sub(/[ ]+$/, "", c)
  place(n, c, NR)
}

function place(n, c, ln,   dash, rest, off) {
  dash = (c ~ /^-( |$)/)
  while (1) {
    if (typ[depth] == "pending") {
      if (dash && n >= pind[depth]) { typ[depth] = "seq"; cind[depth] = n; kind[pth[depth]] = "seq"; cnt[depth] = 0; break }
      if (n > pind[depth]) { typ[depth] = "map"; cind[depth] = n; kind[pth[depth]] = "map"; break }
      setval(pth[depth], "", 0, pline[depth]); depth--; continue
    }
    if (depth == 0 && cind[0] < 0) { cind[0] = n; kind[""] = "map" }
    if (typ[depth] == "seq") {
      if (n == cind[depth] && dash) break
      # A field at the list's own indentation ends a list written flush with its parent's fields.
      if (n < cind[depth] || (n == cind[depth] && !dash)) { depth--; continue }
      yerr(ln, "unexpected indentation"); return
    }
    if (n == cind[depth] && !dash) break
    if (n < cind[depth] && depth > 0) { depth--; continue }
    yerr(ln, dash ? "a list item where a field was expected" : "unexpected indentation"); return
  }
  if (typ[depth] == "seq") {
    path = pth[depth] "." cnt[depth]; cnt[depth]++
    count[pth[depth]] = cnt[depth]
    lineof[path] = ln
    rest = substr(c, 2); match(rest, /^ */); off = RLENGTH + 1; rest = substr(rest, off)
    if (rest == "") { yerr(ln, "nested lists are not supported"); return }
    if (is_key(rest)) {
      depth++; typ[depth] = "map"; pth[depth] = path; cind[depth] = n + off; kind[path] = "map"
      map_entry(n + off, rest, ln)
    } else setscalar(path, rest, ln)
    return
  }
  map_entry(n, c, ln)
}

function is_key(s) {
  return s ~ /^[A-Za-z0-9_.-]+:( |$)/ || s ~ /^"[^"]*":( |$)/ || s ~ /^'[^']*':( |$)/
}

function map_entry(n, c, ln,   key, rest, p) {
  if (!is_key(c)) { yerr(ln, "expected 'field: value', got '" c "'"); return }
  p = index(c, ":")
  if (c ~ /^["']/) p = index(substr(c, 2), substr(c, 1, 1)) + 2
  key = substr(c, 1, p - 1); rest = substr(c, p + 1); sub(/^ +/, "", rest)
  if (key ~ /^["']/) key = substr(key, 2, length(key) - 2)
  path = (pth[depth] == "") ? key : pth[depth] "." key
  if (path in lineof) { yerr(ln, "field '" key "' is given twice"); return }
  lineof[path] = ln
  keys[pth[depth]] = keys[pth[depth]] SUBSEP key
  if (rest == "") { depth++; typ[depth] = "pending"; pth[depth] = path; pind[depth] = n; pline[depth] = ln; return }
  setscalar(path, rest, ln)
}

function setscalar(path, s, ln,   items, k, i, item) {
  if (s == "[]") { kind[path] = "seq"; count[path] = 0; return }
  if (s == "{}") { kind[path] = "map"; return }
  if (s ~ /^\[.*\]$/) {
    kind[path] = "seq"; s = substr(s, 2, length(s) - 2)
    k = split(s, items, ",")
    for (i = 1; i <= k; i++) {
      item = items[i]; sub(/^ +/, "", item); sub(/ +$/, "", item)
      if (item == "" || item ~ /^[\[{]/) { yerr(ln, "only simple flow lists like [a, b] are supported"); return }
      lineof[path "." (i - 1)] = ln; setval(path "." (i - 1), unquote(item, ln), item ~ /^["']/, ln)
    }
    count[path] = k; return
  }
  if (s ~ /^[{&*!|>]/) { yerr(ln, "this YAML form (flow mapping, anchor, alias, tag or block scalar) is not supported"); return }
  setval(path, unquote(s, ln), s ~ /^["']/, ln)
}

function setval(path, v, quoted, ln) { val[path] = v; isq[path] = quoted; kind[path] = "scalar"; lineof[path] = ln }

function unquote(s, ln,   q, out, i, ch) {
  q = substr(s, 1, 1)
  if (q != "\"" && q != "'") return s
  if (substr(s, length(s)) != q || length(s) < 2) { yerr(ln, "unterminated quoted string"); return "" }
  s = substr(s, 2, length(s) - 2)
  if (q == "'") { gsub(/''/, "'", s); return s }
  out = ""
  for (i = 1; i <= length(s); i++) {
    ch = substr(s, i, 1)
    if (ch == "\\") { i++; ch = substr(s, i, 1); if (ch == "n") ch = "\n"; else if (ch == "t") ch = "\t" }
    out = out ch
  }
  return out
}

function strip_comment(s,   i, ch, q) {
  q = ""
  for (i = 1; i <= length(s); i++) {
    ch = substr(s, i, 1)
    if (q != "") { if (ch == q) q = ""; continue }
    if ((ch == "\"" || ch == "'") && (i == 1 || substr(s, i - 1, 1) ~ /[ :\[,-]/)) { q = ch; continue }
    if (ch == "#" && (i == 1 || substr(s, i - 1, 1) == " ")) return substr(s, 1, i - 1)
  }
  return s
}

# ---------------------------------------------------------------- errors
function yerr(ln, msg) { printf "%s:%d: %s\n", FILENAME, ln, msg > "/dev/stderr"; nerr++ }
function ferr(path, msg,   p, ln) {
  p = path
  while (!(p in lineof) && p != "") { if (p ~ /\./) sub(/\.[^.]*$/, "", p); else p = "" }
  ln = (p in lineof) ? lineof[p] : 1
  printf "%s:%d: %s: %s\n", FILENAME, ln, dotted(path), msg > "/dev/stderr"; nerr++
}
function fatal(ln, path, msg) { aborted = 1; printf "%s:%d: %s%s\n", (FILENAME == "" ? "input" : FILENAME), ln, (path == "" ? "" : dotted(path) ": "), msg > "/dev/stderr"; exit 2 }
function dotted(path,   out) { out = path; while (match(out, /\.[0-9]+/)) out = substr(out, 1, RSTART - 1) "[" substr(out, RSTART + 1, RLENGTH - 1) "]" substr(out, RSTART + RLENGTH); return out }

# Every field outside this list is refused, as the build-time validator does.
function allowed_fields(   list, names, k, i, j) {
  list = "interfaces routes dns-resolver " \
    "interfaces.# interfaces.#.name interfaces.#.type interfaces.#.state interfaces.#.description " \
    "interfaces.#.mac-address interfaces.#.identifier interfaces.#.mtu interfaces.#.ethernet " \
    "interfaces.#.ethernet.auto-negotiation interfaces.#.ethernet.speed interfaces.#.ethernet.duplex " \
    "interfaces.#.link-aggregation interfaces.#.link-aggregation.mode interfaces.#.link-aggregation.options " \
    "interfaces.#.link-aggregation.options.* interfaces.#.link-aggregation.options.*.# " \
    "interfaces.#.link-aggregation.port interfaces.#.link-aggregation.port.# interfaces.#.link-aggregation.port.#.name " \
    "interfaces.#.link-aggregation.ports interfaces.#.link-aggregation.ports.# interfaces.#.link-aggregation.ports.#.name " \
    "interfaces.#.vlan interfaces.#.vlan.base-iface interfaces.#.vlan.id " \
    "interfaces.#.bridge interfaces.#.bridge.options interfaces.#.bridge.options.* interfaces.#.bridge.options.stp.* " \
    "interfaces.#.bridge.port interfaces.#.bridge.port.# interfaces.#.bridge.port.#.name " \
    "routes.config routes.running routes.config.# routes.config.#.destination routes.config.#.next-hop-address " \
    "routes.config.#.next-hop-interface routes.config.#.metric routes.config.#.table-id routes.config.#.state " \
    "dns-resolver.config dns-resolver.running dns-resolver.config.server dns-resolver.config.server.# " \
    "dns-resolver.config.search dns-resolver.config.search.#"
  k = split(list, names, " ")
  for (i = 1; i <= k; i++) allowed[names[i]] = 1
  k = split("enabled dhcp address auto-dns auto-gateway auto-routes auto-route-table-id address.# address.#.ip address.#.prefix-length address.#.valid-left address.#.preferred-left", names, " ")
  for (j = 4; j <= 6; j += 2) {
    allowed["interfaces.#.ipv" j] = 1
    for (i = 1; i <= k; i++) allowed["interfaces.#.ipv" j "." names[i]] = 1
  }
  allowed["interfaces.#.ipv6.autoconf"] = 1
}

function pattern_of(path,   out, parts, k, i) {
  k = split(path, parts, ".")
  out = ""
  for (i = 1; i <= k; i++) out = out (i > 1 ? "." : "") (parts[i] ~ /^[0-9]+$/ ? "#" : parts[i])
  return out
}

function field_allowed(path,   p, q) {
  p = pattern_of(path)
  if (p in allowed) return 1
  if (p ~ /^routes\.running\./ || p ~ /^dns-resolver\.running\./) return 1
  q = p; sub(/\.[^.]*$/, ".*", q); if (q in allowed) return 1
  q = p; sub(/\.[^.]*\.#$/, ".*.#", q); if (q in allowed) return 1
  return 0
}

# ---------------------------------------------------------------- typed readers
function has(p) { return (p in kind) && !(kind[p] == "scalar" && val[p] == "") }
function str(p) { return (p in val) ? val[p] : "" }
function bool(p, dflt) {
  if (!has(p)) return dflt
  if (kind[p] != "scalar" || isq[p] || tolower(val[p]) !~ /^(true|false)$/) { ferr(p, "must be true or false, not '" val[p] "'"); return dflt }
  return tolower(val[p]) == "true"
}
function num(p, lo, hi,   v) {
  if (!has(p)) return ""
  v = val[p]
  if (kind[p] != "scalar" || v !~ /^-?[0-9]+$/) { ferr(p, "must be an integer, not '" v "'"); return "" }
  v = v + 0
  if (v < lo) { ferr(p, "must be at least " lo ", not " v); return "" }
  if (v > hi) { ferr(p, "must be at most " hi ", not " v); return "" }
  return v
}
function oneof(p, list, dflt,   v, opts, k, i) {
  if (!has(p)) return dflt
  v = val[p]; k = split(list, opts, " ")
  for (i = 1; i <= k; i++) if (tolower(opts[i]) == tolower(v)) return opts[i]
  ferr(p, "must be one of " list ", not '" v "'"); return dflt
}
function is_ipv4(s,   parts, k, i) {
  if (s !~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) return 0
  k = split(s, parts, ".")
  for (i = 1; i <= 4; i++) if (parts[i] + 0 > 255 || (length(parts[i]) > 1 && parts[i] ~ /^0/)) return 0
  return 1
}
function is_ipv6(s) { return s ~ /^[0-9A-Fa-f:.]+$/ && s ~ /:.*:/ && s !~ /:::/ }

# ---------------------------------------------------------------- nmstate semantics
END {
  if (aborted) exit 2
  while (depth > 0) { if (typ[depth] == "pending") setval(pth[depth], "", 0, pline[depth]); depth-- }
  if (nerr) exit 2
  if (!("interfaces" in kind)) fatal(1, "interfaces", "is required: list the host interfaces")
  for (p in kind) if (p != "" && !field_allowed(p)) ferr(p, "unknown field '" substr(p, match(p, /[^.]*$/)) "'")
  if (nerr) exit 2
  ni = count["interfaces"] + 0
  for (i = 0; i < ni; i++) read_iface(i)
  read_routes(); read_dns()
  if (nerr) exit 2
  render()
  if (nerr) exit 2
}

function read_iface(i,   b, name, t, mac, j, f, o, nk, ks, ns, sk, m) {
  b = "interfaces." i
  if (kind[b] != "map") { ferr(b, "must be a mapping with name and type"); return }
  name = str(b ".name")
  if (name == "") { ferr(b ".name", "is required"); return }
  if (!ifname_ok(name)) { ferr(b ".name", "'" name "' is not a valid interface name"); return }
  if (name in idx) ferr(b ".name", "interface '" name "' is already defined")
  t = oneof(b ".type", "ethernet bond vlan linux-bridge dummy loopback ovs-bridge ovs-interface", "")
  if (t == "") { if (!has(b ".type")) ferr(b ".type", "is required"); return }
  idx[name] = i; NAME[i] = name; TYPE[i] = t
  STATE[i] = oneof(b ".state", "up down absent", "up")
  IDENT[i] = oneof(b ".identifier", "name mac-address", "name")
  mac = str(b ".mac-address")
  if (mac != "" && mac !~ /^[0-9A-Fa-f][0-9A-Fa-f](:[0-9A-Fa-f][0-9A-Fa-f])(:[0-9A-Fa-f][0-9A-Fa-f])(:[0-9A-Fa-f][0-9A-Fa-f])(:[0-9A-Fa-f][0-9A-Fa-f])(:[0-9A-Fa-f][0-9A-Fa-f])$/) ferr(b ".mac-address", "'" mac "' is not a MAC address")
  MAC[i] = mac
  if (IDENT[i] == "mac-address" && mac == "") ferr(b ".identifier", "'mac-address' needs the interface's mac-address field")
  if (IDENT[i] == "mac-address" && t != "ethernet") ferr(b ".identifier", "only ethernet interfaces can be identified by mac-address")
  MTU[i] = num(b ".mtu", 68, 65536)
  DESC[i] = str(b ".description"); HASDESC[i] = has(b ".description")
  if (t == "loopback" && name != "lo") ferr(b ".name", "a loopback interface must be named 'lo'")
  if (t == "loopback") for (f = 4; f <= 6; f += 2) if (!bool(b ".ipv" f ".enabled", 0) || bool(b ".ipv" f ".dhcp", 0) || bool(b ".ipv" f ".autoconf", 0)) ferr(b ".ipv" f, "a loopback interface needs enabled: true with static addresses (no dhcp/autoconf)")
  only(b, "ethernet", t, "ethernet"); only(b, "link-aggregation", t, "bond"); only(b, "vlan", t, "vlan")
  if (has(b ".bridge") && t != "linux-bridge" && t != "ovs-bridge") ferr(b ".bridge", "is only valid for interfaces of type linux-bridge or ovs-bridge, not " t)
  for (f = 4; f <= 6; f += 2) read_ip(i, b ".ipv" f, f)
  AUTONEG[i] = ""; if (has(b ".ethernet.auto-negotiation")) AUTONEG[i] = bool(b ".ethernet.auto-negotiation", 0) ? "true" : "false"
  SPEED[i] = num(b ".ethernet.speed", 1, 4294967295)
  DUPLEX[i] = oneof(b ".ethernet.duplex", "full half", "")
  OPTS[i] = ""; PORTS[i] = ""
  if (t == "bond") {
    if (!has(b ".link-aggregation")) { if (STATE[i] != "absent") ferr(b ".link-aggregation", "is required for a bond: give its mode and ports") }
    else if (!has(b ".link-aggregation.mode") && STATE[i] != "absent") ferr(b ".link-aggregation.mode", "is required")
    BONDMODE[i] = oneof(b ".link-aggregation.mode", "balance-rr active-backup balance-xor broadcast 802.3ad balance-tlb balance-alb", "balance-rr")
    read_options(i, b ".link-aggregation.options", "miimon updelay downdelay use_carrier xmit_hash_policy lacp_rate ad_select ad_actor_sys_prio ad_user_port_key min_links primary primary_reselect fail_over_mac arp_interval arp_ip_target arp_validate arp_all_targets all_slaves_active resend_igmp num_grat_arp packets_per_slave peer_notif_delay lp_interval tlb_dynamic_lb")
    if (has(b ".link-aggregation.port") && has(b ".link-aggregation.ports")) ferr(b ".link-aggregation.ports", "use either 'port' or 'ports', not both")
    read_ports(i, has(b ".link-aggregation.port") ? b ".link-aggregation.port" : b ".link-aggregation.ports")
  }
  if (t == "vlan") {
    if (!has(b ".vlan")) { if (STATE[i] != "absent") ferr(b ".vlan", "is required for a vlan: give base-iface and id") }
    else {
      VBASE[i] = str(b ".vlan.base-iface"); if (VBASE[i] == "") ferr(b ".vlan.base-iface", "is required"); else if (!ifname_ok(VBASE[i])) ferr(b ".vlan.base-iface", "'" VBASE[i] "' is not a valid interface name")
      VID[i] = num(b ".vlan.id", 0, 4094); if (!has(b ".vlan.id")) ferr(b ".vlan.id", "is required")
    }
  }
  if (t == "linux-bridge") {
    o = b ".bridge.options"
    nk = split(keys[o], ks, SUBSEP)
    for (j = 2; j <= nk; j++) {
      f = ks[j]
      if (f == "stp") {
        if (kind[o ".stp"] != "map") { ferr(o ".stp", "must be a mapping"); continue }
        ns = split(keys[o ".stp"], sk, SUBSEP)
        for (m = 2; m <= ns; m++) {
          if (sk[m] == "enabled") add_opt(i, "stp", bool(o ".stp.enabled", 0) ? "true" : "false")
          else if (sk[m] ~ /^(forward-delay|hello-time|max-age|priority)$/) add_opt(i, sk[m], num(o ".stp." sk[m], 0, 4294967295))
          else ferr(o ".stp." sk[m], "unknown field '" sk[m] "'")
        }
      } else if (f == "mac-ageing-time") add_opt(i, "ageing-time", num(o "." f, 0, 4294967295))
      else if (f == "multicast-snooping") add_opt(i, f, bool(o "." f, 0) ? "true" : "false")
      else if (f == "group-forward-mask") add_opt(i, f, num(o "." f, 0, 4294967295))
      else ferr(o "." f, "unknown field '" f "'")
    }
    read_ports(i, b ".bridge.port")
  }
  if (t == "ovs-bridge") {
    if (!has(b ".bridge") && STATE[i] != "absent") ferr(b ".bridge", "is required for an ovs-bridge: list its ports")
    o = b ".bridge.options"
    nk = split(keys[o], ks, SUBSEP)
    for (j = 2; j <= nk; j++) {
      f = ks[j]
      if (f == "stp" || f == "rstp") add_opt(i, f "-enable", bool(o "." f, 0) ? "true" : "false")
      else if (f == "mcast-snooping-enable") add_opt(i, f, bool(o "." f, 0) ? "true" : "false")
      else ferr(o "." f, "unknown field '" f "'")
    }
    read_ports(i, b ".bridge.port")
    if (NPORTS[i] == 0 && STATE[i] != "absent") ferr(b ".bridge.port", "an ovs-bridge needs at least one port")
    if (V4EN[i] || V6EN[i]) ferr(b ".ipv4", "an ovs-bridge carries no IP: put addresses on an ovs-interface")
  }
}

function only(b, key, t, want) { if (has(b "." key) && t != want) ferr(b "." key, "is only valid for interfaces of type " want ", not " t) }
function add_opt(i, k, v) { if (v == "") return; OPTS[i] = OPTS[i] k "=" v "\n" }

function read_options(i, o, known,   nk, ks, j, m, p, v) {
  known = " " known " "
  nk = split(keys[o], ks, SUBSEP)
  for (j = 2; j <= nk; j++) {
    p = o "." ks[j]
    if (index(known, " " ks[j] " ") == 0) { ferr(p, "unknown field '" ks[j] "'"); continue }
    if (kind[p] == "seq") { v = ""; for (m = 0; m < count[p]; m++) v = v (m ? "," : "") val[p "." m]; add_opt(i, ks[j], v) }
    else add_opt(i, ks[j], val[p])
  }
}

function read_ports(i, p,   k, name) {
  NPORTS[i] = 0
  for (k = 0; k < count[p] + 0; k++) {
    name = (kind[p "." k] == "map") ? str(p "." k ".name") : str(p "." k)
    if (name == "") { ferr(p "." k, "is required"); continue }
    if (!ifname_ok(name)) { ferr(p "." k, "'" name "' is not a valid port name"); continue }
    PORT[i, NPORTS[i]++] = name
  }
}

function read_ip(i, b, f,   en, dhcp, ac, k, a, ip, pl, n, vl, pf, d) {
  n = 0; en = bool(b ".enabled", 0); dhcp = bool(b ".dhcp", 0); ac = (f == 6) ? bool(b ".autoconf", 0) : 0
  for (k = 0; k < count[b ".address"] + 0; k++) {
    a = b ".address." k
    if (kind[a] != "map") { ferr(a, "must be a mapping with ip and prefix-length"); continue }
    ip = str(a ".ip"); pl = num(a ".prefix-length", 0, f == 4 ? 32 : 128)
    if (ip == "") { ferr(a ".ip", "is required"); continue }
    if (!has(a ".prefix-length")) { ferr(a ".prefix-length", "is required"); continue }
    if (pl == "") continue
    if (f == 4 ? !is_ipv4(ip) : !is_ipv6(ip)) { ferr(a ".ip", "'" ip "' is not an IPv" f " address"); continue }
    vl = str(a ".valid-left"); pf = str(a ".preferred-left")
    if ((vl != "" && vl != "forever") || (pf != "" && pf != "forever")) continue
    if (f == 6 && tolower(ip) ~ /^fe[89ab]/) continue
    ADDR[i, f, n++] = ip "/" pl
  }
  NADDR[i, f] = n
  if (f == 4) { V4EN[i] = en; V4DHCP[i] = dhcp } else { V6EN[i] = en; V6DHCP[i] = dhcp; V6AC[i] = ac }
  AUTODNS[i, f] = has(b ".auto-dns") ? (bool(b ".auto-dns", 1) ? "true" : "false") : ""
  AUTOGW[i, f] = has(b ".auto-gateway") ? (bool(b ".auto-gateway", 1) ? "true" : "false") : ""
  AUTORT[i, f] = has(b ".auto-routes") ? (bool(b ".auto-routes", 1) ? "true" : "false") : ""
  RTTABLE[i, f] = num(b ".auto-route-table-id", 0, 4294967295)
  split("auto-dns auto-gateway auto-routes auto-route-table-id", d, " ")
  for (k = 1; k <= 4; k++) if (has(b "." d[k]) && !(dhcp || ac)) ferr(b "." d[k], "only applies with dhcp" (f == 6 ? " or autoconf" : ""))
  if (!en && (dhcp || ac || n > 0)) ferr(b ".enabled", "ipv" f " settings are given but enabled is not true")
}

function read_routes(   k, r, dst, hop, dev, fam, ii) {
  NR_ = 0
  for (k = 0; k < count["routes.config"] + 0; k++) {
    r = "routes.config." k
    if (kind[r] != "map") { ferr(r, "must be a mapping with destination and next-hop-interface"); continue }
    if (oneof(r ".state", "absent", "") == "absent") continue
    dst = str(r ".destination"); hop = str(r ".next-hop-address"); dev = str(r ".next-hop-interface")
    if (dst == "") { ferr(r ".destination", "is required"); continue }
    if (dev == "") { ferr(r ".next-hop-interface", "is required"); continue }
    fam = cidr_family(dst)
    if (!fam) { ferr(r ".destination", "'" dst "' is not an IPv4 or IPv6 network in CIDR form (e.g. 0.0.0.0/0)"); continue }
    if (hop != "" && (fam == 4 ? !is_ipv4(hop) : !is_ipv6(hop))) { ferr(r ".next-hop-address", "'" hop "' is not an IPv" fam " address like the destination"); continue }
    if (!(dev in idx) || STATE[idx[dev]] == "absent") { ferr(r ".next-hop-interface", "interface '" dev "' is not defined" ((dev in idx) ? " (it is marked absent)" : "") " in this file"); continue }
    ii = idx[dev]
    if (!(fam == 4 ? V4EN[ii] : V6EN[ii])) { ferr(r ".next-hop-interface", "interface '" dev "' does not have ipv" fam " enabled"); continue }
    RDST[NR_] = dst; RHOP[NR_] = hop; RDEV[NR_] = dev; RFAM[NR_] = fam
    RMET[NR_] = num(r ".metric", 0, 4294967295); RTAB[NR_] = num(r ".table-id", 0, 4294967295)
    NR_++
  }
}

function cidr_family(s,   a, pl) {
  if (s !~ /^[^\/]+\/[0-9]+$/) return 0
  a = substr(s, 1, index(s, "/") - 1); pl = substr(s, index(s, "/") + 1) + 0
  if (is_ipv4(a) && pl <= 32) return 4
  if (is_ipv6(a) && pl <= 128) return 6
  return 0
}

function read_dns(   k, s) {
  ND4 = 0; ND6 = 0; NS_ = 0
  for (k = 0; k < count["dns-resolver.config.server"] + 0; k++) {
    s = str("dns-resolver.config.server." k)
    if (is_ipv4(s)) D4[ND4++] = s
    else if (is_ipv6(s)) D6[ND6++] = s
    else ferr("dns-resolver.config.server." k, "'" s "' is not an IP address")
  }
  for (k = 0; k < count["dns-resolver.config.search"] + 0; k++) SEARCH[NS_++] = str("dns-resolver.config.search." k)
}

# ---------------------------------------------------------------- rendering (mirrors src/network/render.ts)
function dns_holder(f,   k, i, dflt) {
  dflt = (f == 4) ? "0.0.0.0/0" : "::/0"
  for (k = 0; k < NR_; k++) if (RFAM[k] == f && RDST[k] == dflt) { i = idx[RDEV[k]]; if (usable(i, f)) return i; break }
  for (i = 0; i < ni; i++) if ((i in NAME) && usable(i, f) && NADDR[i, f] > 0) return i
  for (i = 0; i < ni; i++) if ((i in NAME) && usable(i, f) && (f == 4 ? V4DHCP[i] : (V6DHCP[i] || V6AC[i]))) return i
  return -1
}
function usable(i, f) { return STATE[i] != "absent" && (f == 4 ? V4EN[i] : V6EN[i]) }

function render(   i, k, p, n, h4, h6, searchon4, live, port, hm, ids, c) {
  # References, as the build-time validator checks them.
  for (i = 0; i < ni; i++) {
    if (!(i in NAME) || STATE[i] == "absent") continue
    for (k = 0; k < NPORTS[i] + 0; k++) {
      port = PORT[i, k]
      if (port == NAME[i]) ferr("interfaces." i, "'" port "' cannot be a port of itself")
      if (port in CTRL) ferr("interfaces." i, "'" port "' is already a port of '" CTRL[port] "'")
      CTRL[port] = NAME[i]
      if ((port in idx) && STATE[idx[port]] == "absent") ferr("interfaces." i, "port '" port "' is marked absent")
      if ((port in idx) && TYPE[idx[port]] != "ovs-interface" && (V4EN[idx[port]] || V6EN[idx[port]])) ferr("interfaces." i, "port '" port "' has ipv4/ipv6 enabled: a port carries no IP of its own")
      if (!(port in idx)) { n = ni + NIMPL++; NAME[n] = port; TYPE[n] = "ethernet"; STATE[n] = "up"; IDENT[n] = "name"; idx[port] = n }
      if (TYPE[i] == "ovs-bridge") { OVSBR[port] = NAME[i]; CTYPE[port] = "ovs-port"; CNAME[port] = port }
      else { CTYPE[port] = (TYPE[i] == "bond") ? "bond" : "bridge"; CNAME[port] = NAME[i] }
    }
    if (TYPE[i] == "vlan" && !(VBASE[i] in idx)) ferr("interfaces." i ".vlan.base-iface", "base interface '" VBASE[i] "' is not defined in this file")
  }
  for (i = 0; i < ni; i++) if ((i in NAME) && TYPE[i] == "ovs-interface" && STATE[i] != "absent" && !(NAME[i] in CTRL)) ferr("interfaces." i ".name", "ovs-interface '" NAME[i] "' is not a port of any ovs-bridge")
  if ((ND4 || (NS_ && dns_holder(6) < 0)) && dns_holder(4) < 0) ferr("dns-resolver.config", "no interface has ipv4 enabled to carry the IPv4 DNS settings")
  if (ND6 && dns_holder(6) < 0) ferr("dns-resolver.config", "no interface has ipv6 enabled to carry the IPv6 DNS settings")
  if (nerr) return
  h4 = dns_holder(4); h6 = dns_holder(6)
  searchon4 = NS_ > 0 && h4 >= 0 && (ND4 > 0 || !ND6 || h6 < 0)
  DNSAT[4] = (h4 >= 0 && (ND4 || searchon4)) ? h4 : -1
  DNSAT[6] = (h6 >= 0 && (ND6 || (NS_ && !searchon4))) ? h6 : -1
  SEARCHF = searchon4 ? 4 : 6
  system("mkdir -p '" outdir "/" host "'")
  hm = "- hostname: " host "\n  interfaces:"
  c = 0
  for (i = 0; i < ni + NIMPL; i++) {
    if (!(i in NAME) || STATE[i] == "absent") continue
    ids = ""
    if (NAME[i] in OVSBR) { write_ovs_port(i); ids = ids "        - " NAME[i] "-port\n" }
    write_profile(i)
    ids = ids "        - " conn_id(i) "\n"
    if (TYPE[i] == "loopback") continue
    hm = hm "\n    - logical_name: " NAME[i] "\n      connection_ids:\n" ids
    if (MAC[i] != "") hm = hm "      mac_address: " MAC[i] "\n"
    hm = hm "      interface_type: " TYPE[i]
    c++
  }
  if (!c) hm = "- hostname: " host "\n  interfaces: []"
  printf "%s\n", hm > (outdir "/host_config.yaml"); close(outdir "/host_config.yaml")
}

function conn_id(i) { return TYPE[i] == "ovs-bridge" ? NAME[i] "-br" : (TYPE[i] == "ovs-interface" ? NAME[i] "-if" : NAME[i]) }

function uuid(name,   cmd, h, v) {
  if (name !~ /^[A-Za-z0-9_.+@-]+\/[A-Za-z0-9_][A-Za-z0-9_.+@-]*$/) fatal(0, "", "unsafe connection name " name)
  cmd = "printf '" NSOCT "%s' '" name "' | sha1sum"
  cmd | getline h; close(cmd)
  h = substr(h, 1, 32)
  v = index(HEX, substr(h, 17, 1)) - 1
  v = (v % 4) + 8
  h = substr(h, 1, 12) "5" substr(h, 14, 3) substr(HEX, v + 1, 1) substr(h, 18)
  return substr(h, 1, 8) "-" substr(h, 9, 4) "-" substr(h, 13, 4) "-" substr(h, 17, 4) "-" substr(h, 21, 12)
}

function esc(v) { gsub(/\\/, "\\\\", v); gsub(/\n/, "\\n", v); gsub(/\t/, "\\t", v); gsub(/\r/, "\\r", v); sub(/^ /, "\\s", v); return v }

function conn_section(id, type, autoconnect, ctrl_like, ifname, master, stype) {
  out = "[connection]\nautoconnect=" autoconnect "\nautoconnect-slaves=" (ctrl_like ? "1" : "-1") "\nid=" esc(id) "\n"
  if (ifname != "") out = out "interface-name=" esc(ifname) "\n"
  if (master != "") out = out "master=" esc(master) "\nslave-type=" stype "\n"
  out = out "type=" type "\nuuid=" uuid(host "/" id) "\n"
}

# The one place a name becomes a path: it must stay one plain file name inside outdir/host.
function emit(id,   f) {
  if (id !~ /^[A-Za-z0-9_][A-Za-z0-9_.+@-]*$/ || host ~ /\// || host ~ /^\./) fatal(0, "", "unsafe connection id " id)
  f = outdir "/" host "/" id ".nmconnection"; printf "%s", out > f; close(f)
}

# The interface name rule of the TypeScript generator (src/common/names.ts): never "..", "/" or blanks.
function ifname_ok(n) { return n ~ /^[A-Za-z0-9_][A-Za-z0-9_.+@-]*$/ && length(n) <= 15 }

function write_ovs_port(i,   id) {
  id = NAME[i] "-port"
  conn_section(id, "ovs-port", STATE[i] == "down" ? "false" : "true", 1, NAME[i], OVSBR[NAME[i]], "ovs-bridge")
  out = out "\n[ovs-port]\n"
  emit(id)
}

function write_profile(i,   id, t, nmtype, ctrl, eth, master, stype) {
  id = conn_id(i); t = TYPE[i]
  nmtype = (t == "ethernet") ? "802-3-ethernet" : (t == "linux-bridge") ? "bridge" : t
  ctrl = (t == "bond" || t == "linux-bridge" || t == "ovs-bridge")
  master = (NAME[i] in CTYPE) ? CNAME[NAME[i]] : ""; stype = (NAME[i] in CTYPE) ? CTYPE[NAME[i]] : ""
  conn_section(id, nmtype, STATE[i] == "down" ? "false" : "true", ctrl, IDENT[i] == "mac-address" ? "" : NAME[i], master, stype)
  if (t == "bond") out = out "\n[bond]\nmode=" BONDMODE[i] "\n" esc_lines(OPTS[i])
  if (t == "linux-bridge") out = out "\n[bridge]\n" OPTS[i]
  if (t == "vlan") out = out "\n[vlan]\nid=" VID[i] "\nparent=" VBASE[i] "\n"
  if (t == "ovs-bridge") out = out "\n[ovs-bridge]\n" OPTS[i]
  if (t == "ovs-interface") out = out "\n[ovs-interface]\ntype=internal\n"
  if (master == "" || t == "ovs-interface") { out = out "\n[ipv4]\n" ip_section(i, 4); out = out "\n[ipv6]\n" ip_section(i, 6) }
  eth = ""
  if (AUTONEG[i] != "") eth = eth "auto-negotiate=" AUTONEG[i] "\n"
  if (DUPLEX[i] != "") eth = eth "duplex=" DUPLEX[i] "\n"
  if (MAC[i] != "" && t != "loopback" && t != "ovs-bridge") eth = eth (IDENT[i] == "mac-address" ? "mac-address=" : "cloned-mac-address=") toupper(MAC[i]) "\n"
  if (MTU[i] != "" && t != "loopback") eth = eth "mtu=" MTU[i] "\n"
  if (SPEED[i] != "") eth = eth "speed=" SPEED[i] "\n"
  if (eth != "" || t == "ethernet") out = out "\n[ethernet]\n" eth
  if (t == "loopback" && MTU[i] != "" && MTU[i] != 65536) out = out "\n[loopback]\nmtu=" MTU[i] "\n"
  if (HASDESC[i]) out = out "\n[user]\nnmstate.interface.description=" esc(DESC[i]) "\n"
  emit(id)
}

function esc_lines(s,   k, parts, i, r, eq) {
  r = ""; k = split(s, parts, "\n")
  for (i = 1; i <= k; i++) { if (parts[i] == "") continue; eq = index(parts[i], "="); r = r substr(parts[i], 1, eq) esc(substr(parts[i], eq + 1)) "\n" }
  return r
}

function ip_section(i, f,   s, k, en, dhcp, ac, dyn, n, none, parts, list, t) {
  s = ""
  en = (f == 4) ? V4EN[i] : V6EN[i]; dhcp = (f == 4) ? V4DHCP[i] : V6DHCP[i]; ac = (f == 6) ? V6AC[i] : 0
  for (k = 0; k < NADDR[i, f] + 0; k++) s = s "address" (k + 1) "=" ADDR[i, f, k] "\n"
  if (f == 6 && en) s = s "addr-gen-mode=0\n"
  if (en && dhcp) s = s (f == 4 ? "dhcp-client-id=mac\ndhcp-send-hostname=true\n" : "dhcp-duid=ll\ndhcp-iaid=mac\n")
  s = s "dhcp-timeout=2147483647\n"
  if (DNSAT[f] == i) {
    list = ""
    if (f == 4) { for (k = 0; k < ND4; k++) list = list D4[k] ";" } else { for (k = 0; k < ND6; k++) list = list D6[k] ";" }
    if (list != "") s = s "dns=" list "\n"
    s = s "dns-priority=40\n"
    if (SEARCHF == f && NS_) { list = ""; for (k = 0; k < NS_; k++) list = list esc(SEARCH[k]) ";"; s = s "dns-search=" list "\n" }
  }
  dyn = en && (dhcp || ac)
  if (dyn) s = s "ignore-auto-dns=" (AUTODNS[i, f] == "false" ? "true" : "false") "\nignore-auto-routes=" (AUTORT[i, f] == "false" ? "true" : "false") "\n"
  t = TYPE[i]
  if (!en || t == "ovs-bridge") s = s "method=disabled\n"
  else if (f == 4) s = s "method=" (dhcp ? "auto" : "manual") "\n"
  else s = s "method=" (ac ? "auto" : dhcp ? "dhcp" : NADDR[i, f] ? "manual" : "link-local") "\n"
  if (dyn) { s = s "never-default=" (AUTOGW[i, f] == "false" ? "true" : "false") "\n"; if (RTTABLE[i, f] != "") s = s "route-table=" RTTABLE[i, f] "\n" }
  n = 0; none = (f == 4) ? "0.0.0.0" : "::"
  for (k = 0; k < NR_; k++) {
    if (RDEV[k] != NAME[i] || RFAM[k] != f) continue
    n++; parts = RDST[k]
    if (RHOP[k] != "" || RMET[k] != "") parts = parts "," (RHOP[k] != "" ? RHOP[k] : none)
    if (RMET[k] != "") parts = parts "," RMET[k]
    s = s "route" n "=" parts "\n"
    if (RTAB[k] != "") s = s "route" n "_options=table=" RTAB[k] "\n"
  }
  return s
}
