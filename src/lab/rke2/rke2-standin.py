#!/usr/bin/python3
# outpost lab: a stand-in for RKE2's `rke2` binary (installed as bin/rke2 by `outpost lab rke2-release`).
#
# It answers what a node and a client see of RKE2 (docs/lab.md, "RKE2 stand-in"); it runs no containers.
#   rke2 --version
#   rke2 server [--config FILE] [--data-dir DIR] [--FLAG VALUE ...]   first server, or a joining one with `server:`
#   rke2 agent  [--config FILE] [--data-dir DIR] [--FLAG VALUE ...]   joins the server named by `server:`
# Settings come from /etc/rancher/rke2/config.yaml, then config.yaml.d/*.yaml (alphabetical, last wins,
# `key+:` appends), then the command line, as for RKE2. Host tests relocate every default path with
# RKE2_LAB_ROOT=/some/dir (so /etc/rancher/... becomes /some/dir/etc/rancher/...) and pick free ports with
# `bind-address: 127.0.0.1`, `https-listen-port` and `supervisor-port`. Example on a host:
#   RKE2_LAB_ROOT=/tmp/n1 python3 bin/rke2 server --bind-address 127.0.0.1 --https-listen-port 16443 \
#     --supervisor-port 19345 --node-name n1 --node-ip 127.0.0.1
#   kubectl --kubeconfig /tmp/n1/etc/rancher/rke2/rke2.yaml get nodes -o wide
# A node turns Ready when <data-dir>/agent/images holds rancher/rke2-runtime:<version> and the images of
# the configured CNI (in docker-save archives: .tar, .tar.gz, .tar.zst, .tar.bz2); it rescans every 2 s.
# Needs python3, python3-yaml, openssl (certificates) and zstd (for .tar.zst archives).

import base64
import bz2
import copy
import datetime
import gzip
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import yaml

VERSION = 'dev'
PROGRAM = 'rke2'
ROOT = os.environ.get('RKE2_LAB_ROOT', '')
RESCAN_SECONDS = 2.0
LEASE_SECONDS = 10
NODE_GRACE_SECONDS = 40
WATCH_HISTORY = 2000
BOOKMARK_SECONDS = float(os.environ.get('RKE2_LAB_BOOKMARK_SECONDS', '15'))

LIST_FLAGS = {'tls-san', 'node-label', 'node-taint', 'node-ip', 'node-external-ip', 'disable', 'kubelet-arg',
              'kube-apiserver-arg', 'kube-controller-manager-arg', 'cni'}
BOOL_FLAGS = {'with-node-id', 'embedded-registry', 'selinux', 'debug', 'disable-default-registry-endpoint'}
KNOWN_FLAGS = LIST_FLAGS | BOOL_FLAGS | {
    'config', 'data-dir', 'token', 'token-file', 'agent-token', 'server', 'node-name', 'write-kubeconfig',
    'write-kubeconfig-mode', 'bind-address', 'advertise-address', 'https-listen-port', 'supervisor-port',
    'cluster-cidr', 'service-cidr', 'cluster-dns', 'cluster-domain', 'system-default-registry',
    'private-registry', 'ingress-controller', 'profile', 'kubelet-path', 'resolv-conf', 'protect-kernel-defaults',
    'etcd-expose-metrics', 'node-name-from', 'cloud-provider-name', 'lb-server-port'}

CNI_IMAGES = {  # repositories (any tag) the CNI's pods need; a node is NotReady until they are loaded
    'canal': ['rancher/hardened-calico', 'rancher/hardened-flannel'],
    'calico': ['rancher/mirrored-calico-operator', 'rancher/mirrored-calico-node'],
    'cilium': ['rancher/mirrored-cilium-cilium', 'rancher/mirrored-cilium-operator-generic'],
    'flannel': ['rancher/hardened-flannel'],
    'multus': ['rancher/hardened-multus-cni'],
}


def log(level, msg):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    sys.stderr.write(f'time="{stamp}" level={level} msg="{msg}"\n')
    sys.stderr.flush()


class Fatal(Exception):
    pass


class ManifestLoader(yaml.SafeLoader):
    """YAML for manifests and request bodies: no aliases, so a small file cannot expand into a huge object."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError('YAML aliases are not accepted in manifests')
        return super().compose_node(parent, index)


MANIFEST_LIMIT = 16 * 1024 * 1024


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def rooted(path):
    return ROOT + path if ROOT else path


def write_atomic(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.' + os.path.basename(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data if isinstance(data, bytes) else data.encode())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    # The rename is durable only once the folder is: a node that loses power right after it joined must still
    # find its node password (and certificates) at the next boot, or the server rejects it for good.
    folder = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


# ---------------------------------------------------------------- configuration (rke2-contract §2.1, §2.2)

def parse_args(argv):
    """`--flag value`, `--flag=value` and bare boolean flags, as a dict; repeatable flags become lists."""
    out = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith('--'):
            raise Fatal(f'unexpected argument {arg!r}')
        name, eq, value = arg[2:].partition('=')
        if not eq:
            if name in BOOL_FLAGS:
                value = True
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise Fatal(f'flag --{name} needs a value')
        if name in BOOL_FLAGS and isinstance(value, str):
            value = value.lower() in ('1', 'true', 'yes')
        if name in LIST_FLAGS:
            out.setdefault(name, []).extend(str(value).split(',') if name != 'kubelet-arg' else [value])
        else:
            out[name] = value
        i += 1
    return out


def merge_config(config, data, source):
    if data is None:
        return
    if not isinstance(data, dict):
        raise Fatal(f'{source}: expected a mapping of settings, got {type(data).__name__}')
    for key, value in data.items():
        key = str(key)
        append = key.endswith('+')
        key = key.rstrip('+')
        if key not in KNOWN_FLAGS:
            log('warning', f'Unknown flag --{key} found in config file {source}, skipping')
            continue
        if key in LIST_FLAGS:
            items = value if isinstance(value, list) else str(value).split(',') if key != 'kubelet-arg' else [value]
            items = [str(v) for v in items]
            config[key] = (config.get(key, []) + items) if append else items
        elif append and key in config:
            config[key] = f'{config[key]},{value}'
        else:
            config[key] = value


def load_config(argv):
    flags = parse_args(argv)
    path = flags.get('config') or os.environ.get('RKE2_CONFIG_FILE') or rooted('/etc/rancher/rke2/config.yaml')
    config = {}
    files = [path] if os.path.exists(path) else []
    dropins = path + '.d'
    if os.path.isdir(dropins):
        files += [os.path.join(dropins, f) for f in sorted(os.listdir(dropins)) if f.endswith(('.yaml', '.yml'))]
    for file in files:
        try:
            with open(file) as f:
                merge_config(config, yaml.safe_load(f), file)
        except yaml.YAMLError as e:
            raise Fatal(f'{file}: invalid YAML: {e}'.replace('\n', ' '))
    for key, value in flags.items():
        config[key] = value
    config.setdefault('data-dir', rooted('/var/lib/rancher/rke2'))
    config.setdefault('write-kubeconfig', rooted('/etc/rancher/rke2/rke2.yaml'))
    config.setdefault('bind-address', '0.0.0.0')
    config['_cni_set'] = 'cni' in config
    config.setdefault('cni', ['canal'])
    for key in ('https-listen-port', 'supervisor-port'):
        try:
            config[key] = int(config.get(key, 6443 if key == 'https-listen-port' else 9345))
        except ValueError:
            raise Fatal(f'{key}: not a port number: {config[key]!r}')
    config['cni'] = [c.strip() for c in config['cni'] if c.strip()]
    for c in config['cni']:
        if c not in CNI_IMAGES and c != 'none':
            raise Fatal(f'cni: unsupported value {c!r} (none, canal, calico, cilium, flannel, multus)')
    node_labels(config)
    node_taints(config)
    kubeconfig_mode(config.get('write-kubeconfig-mode', '0600'))
    config['_node_grace_seconds'] = node_monitor_grace_period(config)
    return config, files


def go_duration_seconds(text):
    """A Go duration as Kubernetes components take it (`40s`, `1m30s`, `500ms`); None if it is not one."""
    units = {'h': 3600, 'm': 60, 's': 1, 'ms': 0.001}
    parts = re.findall(r'(\d+(?:\.\d+)?)(ms|h|m|s)', text)
    if not parts or ''.join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * units[u] for n, u in parts)


def node_monitor_grace_period(config):
    """kube-controller-manager's --node-monitor-grace-period (how long a node may stay silent before its
    Ready turns Unknown), from `kube-controller-manager-arg` as RKE2 passes it on; 40 s by default."""
    grace = NODE_GRACE_SECONDS
    for arg in config.get('kube-controller-manager-arg', []):
        name, _, value = str(arg).lstrip('-').partition('=')
        if name != 'node-monitor-grace-period':
            continue
        seconds = go_duration_seconds(value.strip())
        if seconds is None or seconds <= 0:
            raise Fatal(f'kube-controller-manager-arg: node-monitor-grace-period={value} is not a duration like 40s')
        grace = seconds
    return grace


def kubeconfig_mode(value):
    """`write-kubeconfig-mode` as RKE2 reads it (octal digits). YAML turns an unquoted 0644 into 420 and 644
    into 644: both mean 0o644 here."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = int(str(value), 8) if value > 0o777 and set(str(value)) <= set('01234567') else value
    elif isinstance(value, str) and re.match(r'^0?[0-7]{3}$', value.strip()):
        mode = int(value.strip(), 8)
    else:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise Fatal(f'write-kubeconfig-mode: {value!r} is not a file mode like 0600 or 0644')
    return mode


def node_labels(config):
    labels = {}
    for item in config.get('node-label', []):
        key, _, value = item.partition('=')
        if not valid_label(key, value):
            raise Fatal(f'node-label: invalid label {item!r}')
        labels[key] = value
    return labels


def node_taints(config):
    taints = []
    for item in config.get('node-taint', []):
        m = re.match(r'^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$', item)
        if not m or not valid_label(m[1], m[2] or ''):
            raise Fatal(f'node-taint: invalid taint {item!r} (key[=value]:Effect)')
        taints.append({'key': m[1], **({'value': m[2]} if m[2] else {}), 'effect': m[3]})
    return taints


def node_ips(config):
    ips = [ip for ip in config.get('node-ip', []) if ip]
    if not ips:
        try:  # the address of the default route, as RKE2 picks it; no packet is sent
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect(('192.0.2.1', 9))
                ips = [s.getsockname()[0]]
        except OSError:
            ips = ['127.0.0.1']
    return ips


LABEL_NAME = re.compile(r'^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')
SUBDOMAIN = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
DNS_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')


def valid_label(key, value):
    prefix, slash, name = key.rpartition('/')
    if slash and (not SUBDOMAIN.match(prefix) or len(prefix) > 253):
        return False
    return bool(LABEL_NAME.match(name)) and (value == '' or bool(LABEL_NAME.match(value)))


def node_name(config):
    name = str(config.get('node-name') or socket.gethostname()).lower()
    if config.get('with-node-id'):
        id_file = os.path.join(config['data-dir'], 'agent', 'node-id')
        if not os.path.exists(id_file):
            write_atomic(id_file, secrets.token_hex(4))
        name = f'{name}-{open(id_file).read().strip()}'
    if not SUBDOMAIN.match(name) or len(name) > 253:
        raise Fatal(f'node-name: {name!r} is not a valid Kubernetes node name')
    return name


# ---------------------------------------------------------------- certificates (openssl CLI)

def openssl(*args):
    result = subprocess.run(['openssl', *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise Fatal(f'openssl {args[0]} failed: {result.stderr.strip()}')


def make_ca(cert, key, common_name):
    config = ('[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=' + common_name +
              '\n[ext]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n'
              'subjectKeyIdentifier=hash\n')
    with tempfile.NamedTemporaryFile('w', suffix='.cnf') as cnf:
        cnf.write(config)
        cnf.flush()
        os.makedirs(os.path.dirname(cert), exist_ok=True)
        openssl('req', '-x509', '-config', cnf.name, '-extensions', 'ext', '-newkey', 'ec', '-pkeyopt',
                'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650', '-keyout', key + '.tmp', '-out',
                cert + '.tmp')
    os.chmod(key + '.tmp', 0o600)
    os.rename(key + '.tmp', key)
    os.rename(cert + '.tmp', cert)


def issue(cert, key, ca, common_name, organization=None, sans=(), usage='serverAuth'):
    subject = 'CN=' + common_name + (f'\nO={organization}' if organization else '')
    alt = ','.join(('IP:' if re.match(r'^[0-9.]+$|:', s) else 'DNS:') + s for s in sans)
    config = ('[req]\ndistinguished_name=dn\nprompt=no\n[dn]\n' + subject +
              '\n[ext]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
              f'extendedKeyUsage={usage}\n' + (f'subjectAltName={alt}\n' if alt else ''))
    with tempfile.NamedTemporaryFile('w', suffix='.cnf') as cnf:
        cnf.write(config)
        cnf.flush()
        os.makedirs(os.path.dirname(cert), exist_ok=True)
        openssl('req', '-x509', '-config', cnf.name, '-extensions', 'ext', '-CA', ca + '.crt', '-CAkey',
                ca + '.key', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
                '-keyout', key + '.tmp', '-out', cert + '.tmp')
    os.chmod(key + '.tmp', 0o600)
    os.rename(key + '.tmp', key)
    os.rename(cert + '.tmp', cert)


def ca_hash(bundle):
    """RKE2's token CA hash for a one-certificate bundle: SHA-256 of the file's bytes (rke2-contract §2.6)."""
    return hashlib.sha256(bundle).hexdigest()


def parse_token(token):
    """K10<hash>::<user>:<password>, or the short form (the password alone)."""
    token = token.strip()
    if not token.startswith('K10'):
        return '', '', token
    rest = token[3:]
    ca, sep, creds = rest.partition('::')
    if not sep or len(ca) not in (0, 64):
        raise Fatal('token: not in the K10<ca-hash>::<user>:<password> format')
    user, colon, password = creds.partition(':')
    return (ca, user, password) if colon else (ca, '', user)


# ---------------------------------------------------------------- object store with list/watch

class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        body = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                'message': self.message, 'reason': self.reason, 'code': self.code}
        if self.details:
            body['details'] = self.details
        return body


class Resource:
    def __init__(self, group, version, plural, kind, namespaced, short=(), status=False):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.short, self.has_status = namespaced, list(short), status

    @property
    def api_version(self):
        return f'{self.group}/{self.version}' if self.group else self.version

    def key(self):
        return (self.group, self.plural)


BUILTIN = [
    Resource('', 'v1', 'nodes', 'Node', False, ['no'], status=True),
    Resource('', 'v1', 'namespaces', 'Namespace', False, ['ns'], status=True),
    Resource('', 'v1', 'pods', 'Pod', True, ['po'], status=True),  # none run; listed because kubectl describe asks
    Resource('', 'v1', 'configmaps', 'ConfigMap', True, ['cm']),
    Resource('', 'v1', 'secrets', 'Secret', True),
    Resource('', 'v1', 'services', 'Service', True, ['svc'], status=True),
    Resource('', 'v1', 'serviceaccounts', 'ServiceAccount', True, ['sa']),
    Resource('', 'v1', 'events', 'Event', True, ['ev']),
    Resource('coordination.k8s.io', 'v1', 'leases', 'Lease', True),
    Resource('helm.cattle.io', 'v1', 'helmcharts', 'HelmChart', True, ['hc'], status=True),
    Resource('helm.cattle.io', 'v1', 'helmchartconfigs', 'HelmChartConfig', True, ['hcc']),
    Resource('k3s.cattle.io', 'v1', 'addons', 'Addon', True, status=True),
]


def plural_of(kind):
    k = kind.lower()
    if k.endswith(('s', 'x', 'ch', 'sh')):
        return k + 'es'
    if k.endswith('y') and k[-2:-1] not in 'aeiou':
        return k[:-1] + 'ies'
    return k + 's'


class Store:
    """Objects by resource, namespace and name; one resourceVersion counter; a bounded event history for watches.
    Saved to <data-dir>/server/db/lab-store.json after every change (written aside and renamed)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Condition()
        self.resources = {r.key(): r for r in BUILTIN}
        self.objects = {}  # (group, plural) -> {(ns, name): obj}
        self.rv = 0
        self.events = []  # (rv, resource key, type, obj, old)
        if os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            self.rv = saved['resourceVersion']
            for r in saved.get('resources', []):
                res = Resource(r['group'], r['version'], r['plural'], r['kind'], r['namespaced'], status=True)
                self.resources.setdefault(res.key(), res)
            for obj in saved['objects']:
                res = self.resource_for(obj['apiVersion'], obj['kind'], register=True)
                meta = obj['metadata']
                self.objects.setdefault(res.key(), {})[(meta.get('namespace', ''), meta['name'])] = obj
        self.first_rv = self.rv  # watches from before this point were compacted away

    def save(self):
        builtin = {r.key() for r in BUILTIN}
        data = {'resourceVersion': self.rv,
                'resources': [vars(r) for k, r in self.resources.items() if k not in builtin],
                'objects': [o for objs in self.objects.values() for o in objs.values()]}
        write_atomic(self.path, json.dumps(data), 0o600)

    def resource_for(self, api_version, kind, register=False):
        group, _, version = api_version.rpartition('/')
        for r in self.resources.values():
            if r.group == group and r.kind == kind:
                return r
        if not register:
            raise ApiError(404, 'NotFound', f'the server could not find the requested resource ({kind} {api_version})')
        # The stand-in keeps any kind it is given (no schema, no CRD needed); namespaced unless it is a cluster kind.
        res = Resource(group, version, plural_of(kind), kind, kind not in ('ClusterRole', 'ClusterRoleBinding',
                       'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass',
                       'ClusterIssuer', 'IngressClass', 'ValidatingWebhookConfiguration',
                       'MutatingWebhookConfiguration', 'APIService'), status=True)
        self.resources[res.key()] = res
        return res

    def find_resource(self, group, version, plural):
        res = self.resources.get((group, plural))
        if not res or res.version != version:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        return res

    def _emit(self, res, type_, obj, old=None):
        self.events.append((int(obj['metadata']['resourceVersion']), res.key(), type_, obj, old))
        if len(self.events) > WATCH_HISTORY:
            del self.events[: len(self.events) - WATCH_HISTORY]
        self.save()
        self.lock.notify_all()

    def oldest_watchable(self):
        return self.events[0][0] - 1 if self.events else self.rv

    def get(self, res, ns, name):
        obj = self.objects.get(res.key(), {}).get((ns, name))
        if obj is None:
            raise ApiError(404, 'NotFound', f'{res.plural}{"." + res.group if res.group else ""} "{name}" not found',
                           {'name': name, 'group': res.group, 'kind': res.plural})
        return obj

    def list(self, res, ns=None):
        return [o for (ons, _), o in sorted(self.objects.get(res.key(), {}).items()) if ns in (None, ons)]

    def _check_new(self, res, ns, obj):
        meta = obj.setdefault('metadata', {})
        name = meta.get('name')
        if not name and meta.get('generateName'):
            name = meta['name'] = meta['generateName'] + secrets.token_hex(3)[:5]
        pattern = DNS_LABEL if res.kind == 'Namespace' else SUBDOMAIN
        if not isinstance(name, str) or not pattern.match(name) or len(name) > 253:
            raise ApiError(422, 'Invalid', f'{res.kind} "{name}" is invalid: metadata.name: Invalid value: '
                                           f'"{name}": a lowercase RFC 1123 name is required')
        for key, value in (meta.get('labels') or {}).items():
            if not isinstance(value, str) or not valid_label(key, value):
                raise ApiError(422, 'Invalid', f'{res.kind} "{name}" is invalid: metadata.labels: Invalid value: '
                                               f'"{key}={value}"')
        if res.namespaced:
            if ns not in [n['metadata']['name'] for n in self.list(self.resources[('', 'namespaces')])]:
                raise ApiError(404, 'NotFound', f'namespaces "{ns}" not found',
                               {'name': ns, 'kind': 'namespaces'})
            meta['namespace'] = ns
        else:
            meta.pop('namespace', None)
        return name

    def create(self, res, ns, obj):
        with self.lock:
            obj = copy.deepcopy(obj)
            obj['apiVersion'], obj['kind'] = res.api_version, res.kind
            name = self._check_new(res, ns, obj)
            objs = self.objects.setdefault(res.key(), {})
            if (ns if res.namespaced else '', name) in objs:
                raise ApiError(409, 'AlreadyExists', f'{res.plural}{"." + res.group if res.group else ""} '
                                                     f'"{name}" already exists',
                               {'name': name, 'group': res.group, 'kind': res.plural})
            self.rv += 1
            meta = obj['metadata']
            meta.update(uid=str(uuid.uuid4()), resourceVersion=str(self.rv), creationTimestamp=now_rfc3339())
            if res.kind not in ('Node', 'Namespace', 'ConfigMap', 'Secret', 'Lease', 'Event', 'ServiceAccount'):
                meta['generation'] = 1
            if res.kind == 'Namespace':
                obj['status'] = {'phase': 'Active'}
                obj['spec'] = {'finalizers': ['kubernetes']}
                meta.setdefault('labels', {})['kubernetes.io/metadata.name'] = name
            objs[(ns if res.namespaced else '', name)] = obj
            self._emit(res, 'ADDED', obj)
            return obj

    def update(self, res, ns, name, obj, subresource=None, expect_rv=None):
        with self.lock:
            old = self.get(res, ns if res.namespaced else '', name)
            if expect_rv and expect_rv != old['metadata']['resourceVersion']:
                raise ApiError(409, 'Conflict', f'Operation cannot be fulfilled on {res.plural} "{name}": the object '
                                                'has been modified; please apply your changes to the latest version '
                                                'and try again', {'name': name, 'kind': res.plural})
            new = copy.deepcopy(obj)
            new['apiVersion'], new['kind'] = res.api_version, res.kind
            meta = new.setdefault('metadata', {})
            if meta.get('name', name) != name:
                raise ApiError(400, 'BadRequest', f'the name of the object ({meta["name"]}) does not match the name '
                                                  f'on the URL ({name})')
            meta['name'] = name
            if subresource == 'status':
                keep = copy.deepcopy(old)
                keep['status'] = new.get('status', {})
                new = keep
                # Every write gets a new resourceVersion: the metadata to stamp is the kept object's.
                meta = new['metadata']
            elif res.has_status and 'status' in old:
                new['status'] = old['status']
            for field in ('uid', 'creationTimestamp', 'namespace', 'generation'):
                if field in old['metadata']:
                    meta[field] = old['metadata'][field]
            for key, value in (meta.get('labels') or {}).items():
                if not isinstance(value, str) or not valid_label(key, value):
                    raise ApiError(422, 'Invalid', f'{res.kind} "{name}" is invalid: metadata.labels: Invalid value:'
                                                   f' "{key}={value}"')
            meta['resourceVersion'] = old['metadata']['resourceVersion']
            if new == old:
                return old
            strip = lambda o: {k: v for k, v in o.items() if k not in ('metadata', 'status')}  # noqa: E731
            if 'generation' in meta and strip(new) != strip(old):
                meta['generation'] += 1
            self.rv += 1
            meta['resourceVersion'] = str(self.rv)
            self.objects[res.key()][(ns if res.namespaced else '', name)] = new
            self._emit(res, 'MODIFIED', new, old)
            return new

    def delete(self, res, ns, name):
        with self.lock:
            obj = self.get(res, ns if res.namespaced else '', name)
            if res.kind == 'Namespace':
                if name in ('default', 'kube-system', 'kube-public', 'kube-node-lease'):
                    raise ApiError(403, 'Forbidden', f'namespaces "{name}" is forbidden: this namespace may not be '
                                                     'deleted')
                for other in list(self.resources.values()):
                    if other.namespaced:
                        for child in self.list(other, name):
                            self.delete(other, name, child['metadata']['name'])
            del self.objects[res.key()][(ns if res.namespaced else '', name)]
            self.rv += 1
            gone = copy.deepcopy(obj)
            gone['metadata']['resourceVersion'] = str(self.rv)
            self._emit(res, 'DELETED', gone)
            return gone


# ---------------------------------------------------------------- selectors, patches, tables

def parse_selector(text):
    reqs = []
    for part in filter(None, (p.strip() for p in (text or '').split(','))):
        m = re.match(r'^(!?)([^=!]+?)\s*(?:(==|=|!=)\s*(.*))?$', part)
        if not m:
            raise ApiError(400, 'BadRequest', f'unable to parse requirement: {part}')
        neg, key, op, value = m.groups()
        reqs.append((key.strip(), 'absent' if neg else op or 'exists', (value or '').strip()))
    return reqs


def field_of(obj, path):
    for part in path.split('.'):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return '' if obj is None else str(obj)


def matches(obj, labels, fields):
    have = obj['metadata'].get('labels') or {}
    for key, op, value in labels:
        if (op == 'exists' and key not in have) or (op == 'absent' and key in have) or \
                (op in ('=', '==') and have.get(key) != value) or (op == '!=' and have.get(key) == value):
            return False
    for key, op, value in fields:
        got = field_of(obj, key)
        if (op in ('=', '==') and got != value) or (op == '!=' and got == value):
            return False
    return True


def merge_patch(target, patch):
    """RFC 7386; strategic-merge directives ($patch, $setElementOrder/..., $retainKeys) are dropped and lists are
    replaced, which is what a strategic merge does for the maps and scalar fields of simple objects."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith('$'):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target, ops):
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace('~1', '/').replace('~0', '~') for p in op.get('path', '').split('/')[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1] if parts else None
        kind = op.get('op')
        if kind in ('add', 'replace'):
            if isinstance(parent, list):
                idx = len(parent) if last == '-' else int(last)
                parent.insert(idx, op['value']) if kind == 'add' else parent.__setitem__(idx, op['value'])
            else:
                parent[last] = op['value']
        elif kind == 'remove':
            del parent[int(last) if isinstance(parent, list) else last]
        elif kind == 'test':
            if (parent[int(last)] if isinstance(parent, list) else parent.get(last)) != op.get('value'):
                raise ApiError(422, 'Invalid', f'the test operation failed at {op.get("path")}')
        else:
            raise ApiError(400, 'BadRequest', f'unsupported JSON patch operation {kind!r}')
    return doc


def human_age(timestamp):
    """How kubectl shows an age (5s, 3m20s, 4h10m, 2d3h, ...)."""
    try:
        then = datetime.datetime.strptime(timestamp, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return '<unknown>'
    s = int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds())
    if s < 0:
        return '0s'
    if s < 120:
        return f'{s}s'
    m = s // 60
    if m < 10:
        return f'{m}m{s % 60}s' if s % 60 else f'{m}m'
    if m < 180:
        return f'{m}m'
    h = m // 60
    if h < 8:
        return f'{h}h{m % 60}m' if m % 60 else f'{h}h'
    if h < 48:
        return f'{h}h'
    if h < 192:
        return f'{h // 24}d{h % 24}h' if h % 24 else f'{h // 24}d'
    return f'{h // 24}d' if h < 24 * 730 else f'{h // 8760}y'


def node_row(node):
    conds = {c['type']: c for c in node.get('status', {}).get('conditions', [])}
    ready = conds.get('Ready', {}).get('status')
    status = 'Ready' if ready == 'True' else 'NotReady' if ready in ('False', 'Unknown') else 'Unknown'
    if node.get('spec', {}).get('unschedulable'):
        status += ',SchedulingDisabled'
    labels = node['metadata'].get('labels') or {}
    roles = sorted({k.split('/', 1)[1] for k in labels if k.startswith('node-role.kubernetes.io/')} |
                   ({labels['kubernetes.io/role']} if 'kubernetes.io/role' in labels else set()))
    addrs = node.get('status', {}).get('addresses', [])
    first = lambda t: next((a['address'] for a in addrs if a['type'] == t), '<none>')  # noqa: E731
    info = node.get('status', {}).get('nodeInfo', {})
    return [node['metadata']['name'], status, ','.join(roles) or '<none>',
            human_age(node['metadata'].get('creationTimestamp')), info.get('kubeletVersion', ''),
            first('InternalIP'), first('ExternalIP'), info.get('osImage') or '<unknown>',
            info.get('kernelVersion') or '<unknown>', info.get('containerRuntimeVersion') or '<unknown>']


def column(name, priority=0, fmt='', type_='string', description=''):
    return {'name': name, 'type': type_, 'format': fmt, 'description': description or name, 'priority': priority}


TABLES = {
    'Node': ([column('Name', fmt='name'), column('Status'), column('Roles'), column('Age'), column('Version'),
              column('Internal-IP', 1), column('External-IP', 1), column('OS-Image', 1), column('Kernel-Version', 1),
              column('Container-Runtime', 1)], node_row),
    'Namespace': ([column('Name', fmt='name'), column('Status'), column('Age')],
                  lambda o: [o['metadata']['name'], o.get('status', {}).get('phase', ''),
                             human_age(o['metadata'].get('creationTimestamp'))]),
    'ConfigMap': ([column('Name', fmt='name'), column('Data', type_='integer'), column('Age')],
                  lambda o: [o['metadata']['name'], len(o.get('data') or {}) + len(o.get('binaryData') or {}),
                             human_age(o['metadata'].get('creationTimestamp'))]),
    'Secret': ([column('Name', fmt='name'), column('Type'), column('Data', type_='integer'), column('Age')],
               lambda o: [o['metadata']['name'], o.get('type', 'Opaque'), len(o.get('data') or {}),
                          human_age(o['metadata'].get('creationTimestamp'))]),
    'HelmChart': ([column('Name', fmt='name'), column('Repo'), column('Chart'), column('Version'),
                   column('TargetNamespace'), column('Bootstrap', type_='boolean'), column('Failed'), column('Job'),
                   column('Age')],
                  lambda o: [o['metadata']['name'], o.get('spec', {}).get('repo', ''), o.get('spec', {}).get('chart', ''),
                             o.get('spec', {}).get('version', ''), o.get('spec', {}).get('targetNamespace', ''),
                             bool(o.get('spec', {}).get('bootstrap', False)),
                             next((c.get('status') for c in o.get('status', {}).get('conditions', [])
                                   if c.get('type') == 'Failed'), ''),
                             o.get('status', {}).get('jobName', ''),
                             human_age(o['metadata'].get('creationTimestamp'))]),
}


def table(res, objects, rv, include_object):
    columns, row = TABLES.get(res.kind, ([column('Name', fmt='name'), column('Age')],
                                         lambda o: [o['metadata']['name'],
                                                    human_age(o['metadata'].get('creationTimestamp'))]))
    rows = []
    for obj in objects:
        r = {'cells': row(obj)}
        if include_object == 'Object':
            r['object'] = obj
        elif include_object != 'None':
            r['object'] = {'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1',
                           'metadata': obj['metadata']}
        rows.append(r)
    return {'kind': 'Table', 'apiVersion': 'meta.k8s.io/v1', 'metadata': {'resourceVersion': str(rv)},
            'columnDefinitions': columns, 'rows': rows}


# ---------------------------------------------------------------- the node: readiness from the images folder

class ImageScanner:
    """Finds image names in the docker-save archives of <data-dir>/agent/images; remembers each file by size+mtime."""

    def __init__(self, folder):
        self.folder = folder
        self.cache = {}

    def _open(self, path):
        name = path.lower()
        if name.endswith(('.tar.zst', '.tzst')):
            try:
                proc = subprocess.Popen(['zstd', '-dc', path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except FileNotFoundError:
                raise OSError('zstd is not installed, cannot read .tar.zst archives')
            return proc.stdout, proc
        if name.endswith(('.tar.gz', '.tgz')):
            return gzip.open(path, 'rb'), None
        if name.endswith(('.tar.bz2', '.tbz')):
            return bz2.open(path, 'rb'), None
        if name.endswith('.tar'):
            return open(path, 'rb'), None
        return None, None

    def _images_in(self, path):
        stream, proc = self._open(path)
        if stream is None:
            return []
        try:
            with tarfile.open(fileobj=stream, mode='r|') as archive:
                for member in archive:
                    if member.name.lstrip('./') == 'manifest.json' and member.isfile():
                        manifest = json.load(archive.extractfile(member))
                        return [tag for entry in manifest for tag in entry.get('RepoTags') or []]
            return []
        finally:
            stream.close()
            if proc:
                proc.kill()
                proc.wait()

    def images(self):
        found, problems = set(), []
        try:
            names = sorted(os.listdir(self.folder))
        except FileNotFoundError:
            return found, problems
        for name in names:
            path = os.path.join(self.folder, name)
            try:
                st = os.stat(path)
                if not os.path.isfile(path):
                    continue
                key = (st.st_size, st.st_mtime_ns)
                if self.cache.get(path, (None,))[0] != key:
                    self.cache[path] = (key, self._images_in(path))
                found.update(self.cache[path][1])
            except (OSError, tarfile.TarError, ValueError, EOFError) as e:
                problems.append(f'{name}: {e}')
        return {i[len('docker.io/'):] if i.startswith('docker.io/') else i for i in found}, problems


def runtime_image():
    return f'rancher/{PROGRAM}-runtime:{VERSION.replace("+", "-")}'


def readiness(scanner, cni):
    """(ready, message) as the kubelet would report it once the runtime and the CNI's images are loaded."""
    images, problems = scanner.images()
    note = f' ({"; ".join(problems)})' if problems else ''
    if runtime_image() not in images:
        return False, (f'container runtime is not ready: image {runtime_image()} is not in {scanner.folder} '
                       f'(air-gapped RKE2 needs rke2-images-core or rke2-images){note}')
    if 'none' in cni or not cni:
        return False, ('container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady '
                       'message:Network plugin returns error: cni plugin not initialized (cni: none)')
    repos = {i.rsplit(':', 1)[0] for i in images}
    missing = [r for c in cni for r in CNI_IMAGES.get(c, []) if r not in repos]
    if missing:
        return False, ('container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady '
                       'message:Network plugin returns error: cni plugin not initialized (images of cni '
                       f'{",".join(cni)} not loaded: {", ".join(missing)}){note}')
    return True, 'kubelet is posting ready status'


def node_conditions(ready, message, previous=None):
    stamp = now_rfc3339()
    old = {c['type']: c for c in (previous or [])}

    def cond(type_, status, reason, msg):
        since = old.get(type_, {}).get('lastTransitionTime') if old.get(type_, {}).get('status') == status else None
        return {'type': type_, 'status': status, 'reason': reason, 'message': msg,
                'lastHeartbeatTime': old.get(type_, {}).get('lastHeartbeatTime', stamp) if since else stamp,
                'lastTransitionTime': since or stamp}

    return [cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
            cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
            cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
            cond('Ready', 'True' if ready else 'False', 'KubeletReady' if ready else 'KubeletNotReady', message)]


def os_image():
    try:
        with open('/etc/os-release') as f:
            for line in f:
                if line.startswith('PRETTY_NAME='):
                    return line.split('=', 1)[1].strip().strip('"')
    except OSError:
        pass
    return 'Linux'


def memory_kib():
    try:
        with open('/proc/meminfo') as f:
            return int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def build_node(config, name, role, ready, message):
    labels = {'beta.kubernetes.io/arch': 'amd64' if os.uname().machine == 'x86_64' else 'arm64',
              'beta.kubernetes.io/instance-type': PROGRAM, 'beta.kubernetes.io/os': 'linux',
              'kubernetes.io/arch': 'amd64' if os.uname().machine == 'x86_64' else 'arm64',
              'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux',
              'node.kubernetes.io/instance-type': PROGRAM}
    if role == 'server':
        labels.update({'node-role.kubernetes.io/control-plane': 'true', 'node-role.kubernetes.io/etcd': 'true'})
        if tuple(int(x) for x in re.findall(r'\d+', VERSION)[:2] or (0, 0)) < (1, 34):
            labels['node-role.kubernetes.io/master'] = 'true'  # RKE2 stopped setting it in v1.34
    labels.update(node_labels(config))
    taints = node_taints(config)
    ips = node_ips(config)
    addresses = [{'type': 'InternalIP', 'address': ip} for ip in ips]
    addresses += [{'type': 'ExternalIP', 'address': ip} for ip in config.get('node-external-ip', []) if ip]
    addresses.append({'type': 'Hostname', 'address': name})
    cpus = str(os.cpu_count() or 1)
    capacity = {'cpu': cpus, 'memory': f'{memory_kib()}Ki', 'pods': '110', 'ephemeral-storage': '8Gi'}
    return {
        'apiVersion': 'v1', 'kind': 'Node',
        'metadata': {'name': name, 'labels': labels, 'annotations': {
            f'{PROGRAM}.io/hostname': socket.gethostname(), f'{PROGRAM}.io/internal-ip': ','.join(ips),
            f'{PROGRAM}.io/node-args': json.dumps([role]),
            'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true'}},
        'spec': {'providerID': f'{PROGRAM}://{name}', 'podCIDR': '10.42.0.0/24', 'podCIDRs': ['10.42.0.0/24'],
                 'taints': taints + ([] if ready else
                                     [{'key': 'node.kubernetes.io/not-ready', 'effect': 'NoSchedule'}])},
        'status': {'addresses': addresses, 'conditions': node_conditions(ready, message),
                   'capacity': capacity, 'allocatable': capacity,
                   'daemonEndpoints': {'kubeletEndpoint': {'Port': 10250}},
                   'nodeInfo': {'architecture': labels['kubernetes.io/arch'], 'operatingSystem': 'linux',
                                'osImage': os_image(), 'kernelVersion': os.uname().release,
                                'kubeletVersion': VERSION, 'kubeProxyVersion': VERSION,
                                'containerRuntimeVersion': 'none://lab-stand-in', 'machineID': '', 'systemUUID': '',
                                'bootID': ''}},
    }


def refreshed_status(node, ready, message):
    """The node's status and taints after a readiness check, or None when nothing changed."""
    conds = node.get('status', {}).get('conditions', [])
    current = next((c for c in conds if c['type'] == 'Ready'), {})
    if current.get('status') == ('True' if ready else 'False') and current.get('message') == message:
        return None
    status = copy.deepcopy(node.get('status', {}))
    status['conditions'] = node_conditions(ready, message, conds)
    return status


def with_not_ready_taint(spec, ready):
    spec = copy.deepcopy(spec)
    taints = [t for t in spec.get('taints', []) if t.get('key') != 'node.kubernetes.io/not-ready']
    spec['taints'] = taints + ([] if ready else [{'key': 'node.kubernetes.io/not-ready', 'effect': 'NoSchedule'}])
    return spec


def sd_notify(message):
    target = os.environ.get('NOTIFY_SOCKET')
    if not target:
        return
    address = '\0' + target[1:] if target.startswith('@') else target
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.sendall(message.encode())


# ---------------------------------------------------------------- HTTP: the Kubernetes API (6443) and the supervisor (9345)

class TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, ctx, app, role):
        self.address_family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
        self.ctx, self.app, self.role = ctx, app, role
        try:
            super().__init__(address, Handler)
        except OSError as e:
            raise Fatal(f'{role}: listen tcp {address[0]}:{address[1]}: bind: {e.strerror.lower()}')

    def get_request(self):
        sock, addr = self.socket.accept()
        # The handshake happens in the request's thread, so a slow client cannot hold up the others.
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if not isinstance(e, (ssl.SSLError, ConnectionError, TimeoutError, OSError)):
            log('error', f'{self.role}: request from {client_address[0]} failed: {e!r}')


def serve(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'rke2-lab-stand-in'
    timeout = 300

    def log_message(self, fmt, *args):
        if os.environ.get('RKE2_LAB_DEBUG'):
            log('debug', f'{self.server.role}: {fmt % args}')

    def do_GET(self):
        self.dispatch('GET')

    def do_POST(self):
        self.dispatch('POST')

    def do_PUT(self):
        self.dispatch('PUT')

    def do_PATCH(self):
        self.dispatch('PATCH')

    def do_DELETE(self):
        self.dispatch('DELETE')

    def reply(self, code, body, content_type='application/json'):
        data = body if isinstance(body, bytes) else (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(code)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Cache-Control', 'no-cache, private')
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def read_body(self):
        """Reads the whole request body up front (also for DELETE options), so the connection stays in step."""
        try:
            length = int(self.headers.get('Content-Length') or 0)
        except ValueError:
            length = -1
        if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
            self.close_connection = True
            raise ApiError(411, 'LengthRequired', 'a request body needs a Content-Length')
        if length < 0 or length > 8 * 1024 * 1024:
            self.close_connection = True
            raise ApiError(413, 'RequestEntityTooLarge', 'request entity too large')
        self.raw_body = self.rfile.read(length) if length else b''

    def body(self):
        raw = self.raw_body
        kind = (self.headers.get('Content-Type') or 'application/json').split(';')[0].strip()
        if 'protobuf' in kind or 'cbor' in kind:
            raise ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - '
                                                        'accepted media types include: application/json, '
                                                        'application/yaml (the lab stand-in speaks JSON only)')
        try:
            return json.loads(raw) if raw.strip().startswith(b'{') or raw.strip().startswith(b'[') else \
                yaml.load(raw, Loader=ManifestLoader)
        except (ValueError, yaml.YAMLError) as e:
            raise ApiError(400, 'BadRequest', f'the request body could not be decoded: {e}')

    def dispatch(self, method):
        try:
            self.read_body()
            url = urllib.parse.urlsplit(self.path)
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
            path = urllib.parse.unquote(url.path)
            app = self.server.app
            if path.startswith('/static/'):
                return self.static(app.static_dir, path[len('/static/'):]) if method == 'GET' else \
                    self.reply(405, 'method not allowed\n', 'text/plain')
            if self.server.role == 'supervisor':
                return app.supervisor(self, method, path, query)
            if path in ('/healthz', '/livez', '/readyz'):
                return self.reply(200, 'ok', 'text/plain')
            if path == '/version':
                return self.reply(200, app.version_info())
            if not self.connection.getpeercert():
                raise ApiError(401, 'Unauthorized', 'Unauthorized')
            app.api(self, method, path, query)
        except ApiError as e:
            self.reply(e.code, e.status())
        except (ConnectionError, TimeoutError, ssl.SSLError):
            raise
        except Exception as e:  # a bug must cost one request an answer, never the server
            log('error', f'{self.command} {self.path.split("?")[0]}: {e!r}')
            self.close_connection = True
            try:
                self.reply(500, ApiError(500, 'InternalError', f'internal error: {e}').status())
            except OSError:
                pass

    def static(self, root, rel):
        """Files under <data-dir>/server/static, never following a link out of it."""
        parts = rel.split('/')
        if not rel or any(p in ('', '.', '..') or p.startswith('.') for p in parts):
            return self.reply(404, '404 page not found\n', 'text/plain')
        real_root = os.path.realpath(root)
        target = os.path.realpath(os.path.join(root, *parts))
        if not target.startswith(real_root + os.sep) or not os.path.isfile(target):
            return self.reply(404, '404 page not found\n', 'text/plain')
        with open(target, 'rb') as f:
            data = f.read()
        self.reply(200, data, 'application/gzip' if target.endswith(('.tgz', '.gz')) else 'application/octet-stream')

    def chunk(self, obj):
        data = json.dumps(obj).encode() + b'\n'
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))


class Cluster:
    """The server: certificates, token, kubeconfig, the object store, the API, the supervisor, auto-deploy."""

    def __init__(self, config, name):
        self.config, self.name = config, name
        dd = config['data-dir']
        self.tls = os.path.join(dd, 'server', 'tls')
        self.manifests = os.path.join(dd, 'server', 'manifests')
        self.static_dir = os.path.join(dd, 'server', 'static')
        self.images = ImageScanner(os.path.join(dd, 'agent', 'images'))
        self.applied, self.failed = {}, {}
        self.stopping = threading.Event()

    # -- first start: CA, token, serving certificate, kubeconfig
    def bootstrap_files(self, secret_from_config):
        tls, dd = self.tls, self.config['data-dir']
        for ca in ('server-ca', 'client-ca'):
            if not os.path.exists(os.path.join(tls, ca + '.crt')):
                make_ca(os.path.join(tls, ca + '.crt'), os.path.join(tls, ca + '.key'), f'{PROGRAM}-{ca}@{int(time.time())}')
        with open(os.path.join(tls, 'server-ca.crt'), 'rb') as f:
            self.ca_bundle = f.read()
        digest = ca_hash(self.ca_bundle)
        token_file = os.path.join(dd, 'server', 'token')
        stored = parse_token(open(token_file).read())[2] if os.path.exists(token_file) else None
        secret = secret_from_config
        if secret_from_config:
            want_hash = parse_token(secret_from_config)[0]
            secret = parse_token(secret_from_config)[2]
            if want_hash and want_hash != digest:
                raise Fatal(f'token CA hash does not match the Cluster CA certificate hash: {digest} != {want_hash}')
        if stored and secret and stored != secret:
            raise Fatal('bootstrap data already found and encrypted with different token')
        self.secret = stored or secret or secrets.token_hex(16)
        self.agent_secret = parse_token(self.config['agent-token'])[2] if self.config.get('agent-token') else None
        write_atomic(token_file, f'K10{digest}::server:{self.secret}\n', 0o600)
        for link, target in (('node-token', 'token'), ('agent-token', 'token')):
            path = os.path.join(dd, 'server', link)
            if os.path.lexists(path):
                os.unlink(path)
            if link == 'agent-token' and self.agent_secret:
                write_atomic(path, f'K10{digest}::node:{self.agent_secret}\n', 0o600)
            else:
                os.symlink(target, path)
        ips = node_ips(self.config)
        sans = ['127.0.0.1', '::1', 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc',
                'kubernetes.default.svc.cluster.local', '10.43.0.1', self.name, socket.gethostname()] + ips + \
            [s for s in self.config.get('node-external-ip', []) + self.config.get('tls-san', []) if s] + \
            ([self.config['advertise-address']] if self.config.get('advertise-address') else [])
        sans = list(dict.fromkeys(s.strip() for s in sans if s.strip()))
        ca = os.path.join(tls, 'server-ca')
        issue(os.path.join(tls, 'serving-kube-apiserver.crt'), os.path.join(tls, 'serving-kube-apiserver.key'), ca,
              'kube-apiserver', sans=sans, usage='serverAuth')
        if not os.path.exists(os.path.join(tls, 'client-admin.crt')):
            issue(os.path.join(tls, 'client-admin.crt'), os.path.join(tls, 'client-admin.key'),
                  os.path.join(tls, 'client-ca'), 'system:admin', 'system:masters', usage='clientAuth')
        self.write_kubeconfig()
        for folder in (self.manifests, os.path.join(self.static_dir, 'charts'), self.images.folder):
            os.makedirs(folder, exist_ok=True)

    def write_kubeconfig(self):
        read = lambda name: base64.b64encode(open(os.path.join(self.tls, name), 'rb').read()).decode()  # noqa: E731
        host = self.config['bind-address'] if self.config['bind-address'] not in ('0.0.0.0', '::') else '127.0.0.1'
        host = f'[{host}]' if ':' in host else host
        kubeconfig = {
            'apiVersion': 'v1', 'kind': 'Config', 'preferences': {}, 'current-context': 'default',
            'clusters': [{'name': 'default', 'cluster': {'certificate-authority-data': read('server-ca.crt'),
                                                          'server': f'https://{host}:{self.config["https-listen-port"]}'}}],
            'contexts': [{'name': 'default', 'context': {'cluster': 'default', 'user': 'default'}}],
            'users': [{'name': 'default', 'user': {'client-certificate-data': read('client-admin.crt'),
                                                    'client-key-data': read('client-admin.key')}}]}
        mode = kubeconfig_mode(self.config.get('write-kubeconfig-mode', '0600'))
        write_atomic(self.config['write-kubeconfig'], yaml.safe_dump(kubeconfig, sort_keys=True), mode)

    # -- objects
    def start_store(self):
        self.store = Store(os.path.join(self.config['data-dir'], 'server', 'db', 'lab-store.json'))
        ns = self.store.resources[('', 'namespaces')]
        for name in ('default', 'kube-system', 'kube-public', 'kube-node-lease'):
            try:
                self.store.create(ns, '', {'metadata': {'name': name}})
            except ApiError:
                pass

    def register_node(self, node):
        """Creates or refreshes a Node from a node's own description (labels, addresses, info), keeping its age."""
        res = self.store.resources[('', 'nodes')]
        name = node['metadata']['name']
        with self.store.lock:
            try:
                old = self.store.get(res, '', name)
            except ApiError:
                return self.store.create(res, '', node)
            new = copy.deepcopy(node)
            new['metadata']['resourceVersion'] = old['metadata']['resourceVersion']
            updated = self.store.update(res, '', name, new)
            return self.store.update(res, '', name, {**updated, 'status': node['status']}, subresource='status')

    def version_info(self):
        m = re.match(r'^v(\d+)\.(\d+)', VERSION)
        return {'major': m[1] if m else '1', 'minor': m[2] if m else '0', 'gitVersion': VERSION,
                'gitCommit': '0' * 40, 'gitTreeState': 'clean', 'buildDate': '2025-04-23T00:00:00Z',
                'goVersion': 'go1.23.8', 'compiler': 'gc', 'platform': f'linux/{"amd64" if os.uname().machine == "x86_64" else "arm64"}'}

    # -- the node controller: own readiness, agents' leases, auto-deploy
    def tick(self):
        res = self.store.resources[('', 'nodes')]
        ready, message = readiness(self.images, self.config['cni'])
        with self.store.lock:
            try:
                node = self.store.get(res, '', self.name)
            except ApiError:
                node = None
            if node:
                status = refreshed_status(node, ready, message)
                if status:
                    log('info', f'Node {self.name} {"Ready" if ready else "NotReady"}: {message}')
                    node = self.store.update(res, '', self.name, {**node, 'spec': with_not_ready_taint(node['spec'], ready)})
                    self.store.update(res, '', self.name, {**node, 'status': status}, subresource='status')
            leases = self.store.resources[('coordination.k8s.io', 'leases')]
            for other in self.store.list(res):
                name = other['metadata']['name']
                if name == self.name:
                    continue
                try:
                    renewed = self.store.get(leases, 'kube-node-lease', name)['spec'].get('renewTime', '')
                except (ApiError, KeyError):
                    # No lease yet: a node that just registered gets the grace period from its registration.
                    renewed = other['metadata'].get('creationTimestamp', '')
                conds = other.get('status', {}).get('conditions', [])
                # As the node lifecycle controller does, a status the kubelet just posted counts as a heartbeat
                # too, not only the lease: a node back from a power loss posts Ready before it renews its lease.
                heartbeats = [renewed] + [c.get('lastHeartbeatTime', '') for c in conds
                                          if c.get('type') == 'Ready' and c.get('status') != 'Unknown']
                age = time.time() - max(parse_time(stamp) for stamp in heartbeats)
                if age > self.config['_node_grace_seconds'] and any(c['type'] == 'Ready' and c['status'] != 'Unknown' for c in conds):
                    status = copy.deepcopy(other['status'])
                    for c in status['conditions']:
                        c.update(status='Unknown', reason='NodeStatusUnknown', message='Kubelet stopped posting node status.',
                                 lastTransitionTime=now_rfc3339())
                    log('warning', f'Node {name} stopped posting status; Ready is Unknown')
                    self.store.update(res, '', name, {**other, 'status': status}, subresource='status')
        self.chart_namespaces()
        self.auto_deploy()

    def chart_namespaces(self):
        """helm-controller's part the stand-in keeps: a HelmChart with createNamespace gets its targetNamespace
        (helm install --create-namespace), so objects meant for it (EIB's metallb-system VIP pool) can be applied."""
        namespaces = self.store.resources[('', 'namespaces')]
        with self.store.lock:
            charts = self.store.list(self.store.resources[('helm.cattle.io', 'helmcharts')])
        for chart in charts:
            spec = chart.get('spec') or {}
            target = spec.get('targetNamespace')
            if spec.get('createNamespace') and isinstance(target, str) and DNS_LABEL.match(target):
                try:
                    self.store.create(namespaces, '', {'metadata': {'name': target}})
                    log('info', f'Created namespace {target} for HelmChart {chart["metadata"]["name"]}')
                except ApiError:
                    pass

    def auto_deploy(self):
        """Applies every manifest in server/manifests (and below) when it is new or changed, like RKE2's deploy
        controller; each file is recorded as an Addon in kube-system. A failing file is retried on the next scan."""
        for folder, dirs, files in os.walk(self.manifests):
            dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
            for file in sorted(files):
                path = os.path.join(folder, file)
                if file.startswith('.') or not file.endswith(('.yaml', '.yml', '.json')) or \
                        os.path.exists(path + '.skip') or not os.path.isfile(path):
                    continue
                try:
                    with open(path, 'rb') as f:
                        data = f.read()
                except OSError:
                    continue
                checksum = hashlib.sha256(data).hexdigest()
                if self.applied.get(path) == checksum:
                    continue
                try:
                    objs = self.apply_manifest(path, data, checksum)
                    self.applied[path] = checksum
                    self.failed.pop(path, None)
                    log('info', f'Applied manifest {path}: {objs} object(s)')
                except (ApiError, yaml.YAMLError, ValueError, TypeError, AttributeError) as e:
                    text = e.message if isinstance(e, ApiError) else str(e).replace('\n', ' ')
                    if self.failed.get(path) != (checksum, text):
                        log('error', f'Failed to process config: failed to process {path}: {text}')
                    self.failed[path] = (checksum, text)

    def apply_manifest(self, path, data, checksum):
        objects = []
        name = os.path.basename(path).rsplit('.', 1)[0]
        if not SUBDOMAIN.match(name) or len(name) > 253:
            raise ValueError(f'{name!r} is not a valid Addon name (lowercase RFC 1123: a-z, 0-9, "-", ".")')
        if len(data) > MANIFEST_LIMIT:
            raise ValueError(f'larger than {MANIFEST_LIMIT // 1024 // 1024} MiB')
        for doc in yaml.load_all(data, Loader=ManifestLoader):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise ValueError('a manifest document must be a mapping')
            objects.extend(doc.get('items') or [] if doc.get('kind', '').endswith('List') else [doc])
        objects.sort(key=lambda o: 0 if o.get('kind') in ('Namespace', 'CustomResourceDefinition') else 1)
        gvks = []
        for obj in objects:
            if not isinstance(obj.get('apiVersion'), str) or not isinstance(obj.get('kind'), str) or \
                    not isinstance(obj.get('metadata'), dict):
                raise ValueError('each object needs apiVersion, kind and metadata')
            self.apply_object(obj)
            if obj['kind'] == 'HelmChart':
                self.chart_namespaces()
            gvks.append(f'{obj["apiVersion"]}, Kind={obj["kind"]}')
        addon = {'apiVersion': 'k3s.cattle.io/v1', 'kind': 'Addon',
                 'metadata': {'name': name, 'namespace': 'kube-system'},
                 'spec': {'source': path, 'checksum': checksum}, 'status': {'gvks': gvks}}
        self.apply_object(addon)
        return len(objects)

    def apply_object(self, obj):
        res = self.store.resource_for(obj['apiVersion'], obj['kind'], register=True)
        ns = (obj['metadata'].get('namespace') or 'default') if res.namespaced else ''
        with self.store.lock:
            try:
                old = self.store.get(res, ns, obj['metadata'].get('name'))
            except ApiError:
                return self.store.create(res, ns, obj)
            new = copy.deepcopy(obj)
            new['metadata'] = {**old['metadata'], 'labels': obj['metadata'].get('labels', {}),
                               'annotations': obj['metadata'].get('annotations', {})}
            updated = self.store.update(res, ns, old['metadata']['name'], new)
            if 'status' in obj and res.has_status:
                updated = self.store.update(res, ns, old['metadata']['name'], {**updated, 'status': obj['status']},
                                            subresource='status')
            return updated

    # -- the Kubernetes API
    def discovery(self, group, version):
        resources = []
        for r in sorted(self.store.resources.values(), key=lambda r: r.plural):
            if r.group != group or r.version != version:
                continue
            verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']
            resources.append({'name': r.plural, 'singularName': r.kind.lower(), 'namespaced': r.namespaced,
                              'kind': r.kind, 'verbs': verbs, **({'shortNames': r.short} if r.short else {})})
            if r.has_status:
                resources.append({'name': r.plural + '/status', 'singularName': '', 'namespaced': r.namespaced,
                                  'kind': r.kind, 'verbs': ['get', 'patch', 'update']})
        return {'kind': 'APIResourceList', 'apiVersion': 'v1', 'groupVersion': f'{group}/{version}' if group else version,
                'resources': resources}

    def openapi_v3(self, group_version):
        """Just enough OpenAPI v3 for kubectl to see that every resource takes server-side field validation (it then
        sends fieldValidation instead of validating against schemas); the stand-in publishes no schemas."""
        gvs = sorted({(r.group, r.version) for r in self.store.resources.values()})
        prefix = lambda g, v: f'apis/{g}/{v}' if g else f'api/{v}'  # noqa: E731
        if not group_version:
            return {'paths': {prefix(g, v): {'serverRelativeURL': f'/openapi/v3/{prefix(g, v)}?hash={self.store.rv}'}
                              for g, v in gvs}}
        match = [(g, v) for g, v in gvs if prefix(g, v) == group_version]
        if not match:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        param = {'name': 'fieldValidation', 'in': 'query', 'schema': {'type': 'string', 'uniqueItems': True}}
        paths = {}
        for r in self.store.resources.values():
            if (r.group, r.version) != match[0]:
                continue
            base = '/' + prefix(r.group, r.version) + ('/namespaces/{namespace}' if r.namespaced else '')
            gvk = {'group': r.group, 'version': r.version, 'kind': r.kind}
            op = {'x-kubernetes-group-version-kind': gvk, 'parameters': [param], 'responses': {}}
            paths[f'{base}/{r.plural}'] = {'post': op}
            paths[f'{base}/{r.plural}/{{name}}'] = {'put': op, 'patch': op}
        return {'openapi': '3.0.0', 'info': {'title': 'Kubernetes (outpost lab stand-in)', 'version': VERSION},
                'paths': paths, 'components': {'schemas': {}}}

    def api(self, h, method, path, query):
        store = self.store
        if method == 'GET' and path in ('/api', '/api/'):
            return h.reply(200, {'kind': 'APIVersions', 'versions': ['v1'], 'serverAddressByClientCIDRs': [
                {'clientCIDR': '0.0.0.0/0', 'serverAddress': f'{node_ips(self.config)[0]}:{self.config["https-listen-port"]}'}]})
        if method == 'GET' and path in ('/apis', '/apis/'):
            groups = {}
            for r in store.resources.values():
                if r.group:
                    groups.setdefault(r.group, r.version)
            return h.reply(200, {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': [
                {'name': g, 'versions': [{'groupVersion': f'{g}/{v}', 'version': v}],
                 'preferredVersion': {'groupVersion': f'{g}/{v}', 'version': v}} for g, v in sorted(groups.items())]})
        if method == 'GET' and path.startswith('/openapi/v3'):
            return h.reply(200, self.openapi_v3(path[len('/openapi/v3'):].strip('/')))
        segs = [s for s in path.split('/') if s]
        if len(segs) >= 2 and segs[0] == 'api' and segs[1] == 'v1':
            group, version, rest = '', 'v1', segs[2:]
        elif len(segs) >= 3 and segs[0] == 'apis':
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        if not rest:
            if method != 'GET' or not any(r.group == group and r.version == version for r in store.resources.values()):
                raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
            return h.reply(200, self.discovery(group, version))
        ns = None
        if rest[0] == 'namespaces' and len(rest) >= 3 and rest[2] not in ('status', 'finalize'):
            ns, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        res = store.find_resource(group, version, rest[0])
        if ns is not None and not res.namespaced:
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub not in (None, 'status'):
            raise ApiError(404, 'NotFound', 'the server could not find the requested resource')
        accept = h.headers.get('Accept', '')
        as_table = 'as=Table' in accept
        if name is None:
            if method == 'GET':
                if query.get('watch') in ('1', 'true'):
                    return self.watch(h, res, ns, query, as_table)
                labels, fields = parse_selector(query.get('labelSelector')), parse_selector(query.get('fieldSelector'))
                with store.lock:
                    items = [o for o in store.list(res, ns) if matches(o, labels, fields)]
                    rv = store.rv
                if as_table:
                    return h.reply(200, table(res, items, rv, query.get('includeObject', 'Metadata')))
                return h.reply(200, {'kind': res.kind + 'List', 'apiVersion': res.api_version,
                                     'metadata': {'resourceVersion': str(rv)}, 'items': items})
            if method == 'POST':
                if not res.namespaced or ns is not None:
                    obj = h.body()
                    if not isinstance(obj, dict):
                        raise ApiError(400, 'BadRequest', 'the request body must be an object')
                    if res.namespaced and obj.get('metadata', {}).get('namespace') not in (None, ns):
                        raise ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the '
                                                          'namespace sent on the request')
                    if query.get('dryRun') == 'All':
                        return h.reply(201, obj)
                    return h.reply(201, store.create(res, ns or '', obj))
            raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
        key_ns = ns or ''
        if method == 'GET':
            if query.get('watch') in ('1', 'true'):
                return self.watch(h, res, ns, {**query, 'fieldSelector': f'metadata.name={name}'}, as_table)
            with store.lock:
                obj = store.get(res, key_ns, name)
            if as_table:
                return h.reply(200, table(res, [obj], obj['metadata']['resourceVersion'], query.get('includeObject', 'Metadata')))
            return h.reply(200, obj)
        if method == 'PUT':
            obj = h.body()
            if not isinstance(obj, dict):
                raise ApiError(400, 'BadRequest', 'the request body must be an object')
            return h.reply(200, store.update(res, key_ns, name, obj, sub, obj.get('metadata', {}).get('resourceVersion')))
        if method == 'PATCH':
            kind = h.headers.get('Content-Type', '').split(';')[0].strip()
            patch = h.body()
            with store.lock:
                try:
                    current = store.get(res, key_ns, name)
                except ApiError:
                    if kind == 'application/apply-patch+yaml':
                        return h.reply(201, store.create(res, key_ns, patch))
                    raise
                if kind in ('application/merge-patch+json', 'application/strategic-merge-patch+json',
                            'application/apply-patch+yaml'):
                    if not isinstance(patch, dict):
                        raise ApiError(400, 'BadRequest', 'the patch must be an object')
                    new = merge_patch(current, patch)
                elif kind == 'application/json-patch+json':
                    if not isinstance(patch, list):
                        raise ApiError(400, 'BadRequest', 'a JSON patch must be a list of operations')
                    try:
                        new = json_patch(current, patch)
                    except (KeyError, IndexError, ValueError, TypeError) as e:
                        raise ApiError(422, 'Invalid', f'the JSON patch could not be applied: {e!r}')
                else:
                    raise ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - '
                                                                'accepted media types include: application/json-patch+json, '
                                                                'application/merge-patch+json, '
                                                                'application/apply-patch+yaml, '
                                                                'application/strategic-merge-patch+json')
                if not isinstance(new, dict):
                    raise ApiError(422, 'Invalid', 'the patched object is not an object')
                new.setdefault('metadata', {})['resourceVersion'] = current['metadata']['resourceVersion']
                return h.reply(200, store.update(res, key_ns, name, new, sub))
        if method == 'DELETE':
            return h.reply(200, store.delete(res, key_ns, name))
        raise ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')

    def watch(self, h, res, ns, query, as_table):
        """The watch protocol of rke2-contract §3.3: chunked JSON events, bookmarks when asked, 410 when too old."""
        store = self.store
        labels, fields = parse_selector(query.get('labelSelector')), parse_selector(query.get('fieldSelector'))
        initial = query.get('sendInitialEvents') == 'true'
        bookmarks = query.get('allowWatchBookmarks') in ('1', 'true')
        rv_text = query.get('resourceVersion', '')
        try:
            timeout = min(int(query.get('timeoutSeconds') or 1800), 3600)
            rv = int(rv_text) if rv_text else 0
        except ValueError:
            raise ApiError(400, 'BadRequest', 'invalid resourceVersion or timeoutSeconds')
        include = query.get('includeObject', 'Metadata')
        wrap = (lambda o: table(res, [o], o['metadata']['resourceVersion'], include)) if as_table else (lambda o: o)
        in_scope = lambda o: ns is None or o['metadata'].get('namespace') == ns  # noqa: E731
        with store.lock:
            too_old = rv_text not in ('', '0') and not initial and rv < store.oldest_watchable()
            if rv_text in ('', '0') or initial:
                snapshot = [o for o in store.list(res, ns) if matches(o, labels, fields)]
                cursor = store.rv
            else:
                snapshot, cursor = [], rv
        h.send_response(200)
        h.send_header('Content-Type', 'application/json')
        h.send_header('Transfer-Encoding', 'chunked')
        h.send_header('Cache-Control', 'no-cache, private')
        h.end_headers()

        def bookmark(at, end_of_initial=False):
            meta = {'resourceVersion': str(at)}
            if end_of_initial:
                meta['annotations'] = {'k8s.io/initial-events-end': 'true'}
            obj = {'kind': 'Table', 'apiVersion': 'meta.k8s.io/v1', 'metadata': meta, 'columnDefinitions': [], 'rows': []} \
                if as_table else {'kind': res.kind, 'apiVersion': res.api_version, 'metadata': meta}
            h.chunk({'type': 'BOOKMARK', 'object': obj})

        def expired(oldest):
            h.chunk({'type': 'ERROR', 'object': ApiError(
                410, 'Expired', f'too old resource version: {rv_text or cursor} ({oldest})').status()})

        try:
            if too_old:
                expired(store.oldest_watchable() + 1)
                return
            for obj in snapshot:
                h.chunk({'type': 'ADDED', 'object': wrap(obj)})
            if initial and bookmarks:
                bookmark(cursor, end_of_initial=True)
            deadline = time.monotonic() + timeout
            last_sent = time.monotonic()
            while not self.stopping.is_set():
                with store.lock:
                    if store.events and store.events[0][0] > cursor + 1 and cursor < store.oldest_watchable():
                        pending = None
                    else:
                        pending = [e for e in store.events if e[0] > cursor and e[1] == res.key()]
                        if not pending:
                            left = deadline - time.monotonic()
                            if left <= 0:
                                break
                            store.lock.wait(min(left, max(0.1, BOOKMARK_SECONDS - (time.monotonic() - last_sent)), 5))
                            pending = [e for e in store.events if e[0] > cursor and e[1] == res.key()]
                    head = store.rv
                if pending is None:
                    expired(store.oldest_watchable() + 1)
                    return
                for event_rv, _, type_, obj, old in pending:
                    cursor = event_rv
                    if not in_scope(obj):
                        continue
                    now_in = matches(obj, labels, fields)
                    was_in = old is not None and matches(old, labels, fields)
                    if type_ == 'MODIFIED' and now_in != was_in:
                        type_ = 'ADDED' if now_in else 'DELETED'
                        obj = obj if now_in else old
                    elif not now_in:
                        continue
                    h.chunk({'type': type_, 'object': wrap(obj)})
                    last_sent = time.monotonic()
                if bookmarks and time.monotonic() - last_sent >= BOOKMARK_SECONDS:
                    cursor = max(cursor, head)
                    bookmark(cursor)
                    last_sent = time.monotonic()
                if time.monotonic() >= deadline:
                    break
            if bookmarks:
                bookmark(max(cursor, store.rv))
        finally:
            try:
                h.wfile.write(b'0\r\n\r\n')
            except OSError:
                pass

    # -- the supervisor (rke2-contract §2.7)
    def authenticate(self, h):
        """The role a request's HTTP Basic credentials give (`server` or `node`), or None."""
        auth = h.headers.get('Authorization', '')
        if not auth.startswith('Basic '):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(':')
        except (ValueError, UnicodeDecodeError):
            return None
        if hmac.compare_digest(password.encode(), self.secret.encode()) and user in ('server', 'node'):
            return user
        if self.agent_secret and user == 'node' and hmac.compare_digest(password.encode(), self.agent_secret.encode()):
            return 'node'
        return None

    def supervisor(self, h, method, path, query):
        if method == 'GET' and path == '/ping':
            return h.reply(200, 'pong', 'text/plain')
        if method == 'GET' and path == '/cacerts':
            return h.reply(200, self.ca_bundle, 'text/plain')
        prefix = f'/v1-{PROGRAM}/'
        if not path.startswith(prefix) or method != 'GET':
            return h.reply(404, '404 page not found\n', 'text/plain')
        role = self.authenticate(h)
        if role is None:
            return h.reply(401, 'Unauthorized\n', 'text/plain')
        what = path[len(prefix):]
        if what == 'readyz':
            return h.reply(200, 'ok', 'text/plain')
        if what == 'apiservers':
            # A joining server forwards its API to the initializer's: that is the API server to name.
            return h.reply(200, getattr(self, 'upstream_apiservers', None) or
                           [f'{node_ips(self.config)[0]}:{self.config["https-listen-port"]}'])
        if what == 'config':
            return h.reply(200, {'cni': self.config['cni'], 'cluster-cidr': self.config.get('cluster-cidr', '10.42.0.0/16'),
                                 'service-cidr': self.config.get('service-cidr', '10.43.0.0/16'),
                                 'cluster-dns': self.config.get('cluster-dns', '10.43.0.10'),
                                 'cluster-domain': self.config.get('cluster-domain', 'cluster.local')})
        if what == 'client-kubelet.crt':
            return self.kubelet_certificate(h)
        if what == 'server-bootstrap':
            if role != 'server':
                return h.reply(403, 'Forbidden\n', 'text/plain')
            files = {}
            for name in ('server-ca.crt', 'server-ca.key', 'client-ca.crt', 'client-ca.key'):
                with open(os.path.join(self.tls, name), 'rb') as f:
                    files[name] = base64.b64encode(f.read()).decode()
            return h.reply(200, files)
        return h.reply(404, '404 page not found\n', 'text/plain')

    def kubelet_certificate(self, h):
        """Checks the node password (kept hashed as Secret kube-system/<node>.node-password.rke2, as RKE2 does) and
        issues the node's client certificate."""
        name = h.headers.get(f'{PROGRAM}-Node-Name', '')
        password = h.headers.get(f'{PROGRAM}-Node-Password', '')
        if not SUBDOMAIN.match(name) or len(name) > 253 or not password:
            return h.reply(400, 'node name and password required\n', 'text/plain')
        secret_res = self.store.resources[('', 'secrets')]
        secret_name = f'{name}.node-password.{PROGRAM}'
        with self.store.lock:
            try:
                stored = self.store.get(secret_res, 'kube-system', secret_name)
                salt, digest = base64.b64decode(stored['data']['hash']).decode().split('$')
                ok = hmac.compare_digest(digest, hashlib.pbkdf2_hmac('sha256', password.encode(), salt.encode(),
                                                                     100_000).hex())
            except ApiError:
                salt = secrets.token_hex(8)
                digest = hashlib.pbkdf2_hmac('sha256', password.encode(), salt.encode(), 100_000).hex()
                self.store.create(secret_res, 'kube-system', {
                    'metadata': {'name': secret_name}, 'type': f'{PROGRAM}.cattle.io/node-password',
                    'data': {'hash': base64.b64encode(f'{salt}${digest}'.encode()).decode()}})
                ok = True
        if not ok:
            log('warning', f'Node password validation failed for {name}')
            return h.reply(403, 'Node password rejected, duplicate hostname or contents of '
                                "'/etc/rancher/node/password' may not match server node-passwd entry\n", 'text/plain')
        with tempfile.TemporaryDirectory() as tmp:
            issue(os.path.join(tmp, 'c.crt'), os.path.join(tmp, 'c.key'), os.path.join(self.tls, 'client-ca'),
                  f'system:node:{name}', 'system:nodes', usage='clientAuth')
            data = open(os.path.join(tmp, 'c.crt'), 'rb').read() + open(os.path.join(tmp, 'c.key'), 'rb').read()
        return h.reply(200, data, 'text/plain')


# ---------------------------------------------------------------- joining: agents and additional servers

class JoinClient:
    """What an agent (or a joining server) does against the supervisor: fetch and check the CA, authenticate,
    get a client certificate, then talk to the API like the kubelet."""

    def __init__(self, config, role, name):
        self.config, self.role, self.name = config, role, name
        self.server = str(config['server']).rstrip('/')
        if not self.server.startswith('https://'):
            raise Fatal(f'server: {self.server!r} must be an https:// URL')
        token = config.get('token')
        if not token and config.get('token-file'):
            with open(config['token-file']) as f:
                token = f.read()
        if not token:
            raise Fatal('--token is required')
        self.ca, user, self.password = parse_token(str(token))
        self.user = user or ('server' if role == 'server' else 'node')
        self.agent_dir = os.path.join(config['data-dir'], 'agent')

    def fetch(self, path, ctx, auth=False, headers=None):
        request = urllib.request.Request(self.server + path, headers=headers or {})
        if auth:
            creds = base64.b64encode(f'{self.user}:{self.password}'.encode()).decode()
            request.add_header('Authorization', 'Basic ' + creds)
        with urllib.request.urlopen(request, context=ctx, timeout=15) as response:
            return response.read()

    def node_password(self):
        path = rooted('/etc/rancher/node/password')
        if not os.path.exists(path):
            write_atomic(path, secrets.token_hex(16) + '\n', 0o600)
        with open(path) as f:
            return f.read().strip()

    def join(self, stopping):
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        while True:
            try:
                bundle = self.fetch('/cacerts', insecure)
                break
            except (urllib.error.URLError, OSError) as e:
                log('info', f'Waiting to retrieve agent configuration; server is not ready: {self.server}: {e}')
                if stopping.wait(5):
                    raise Fatal('stopped')
        actual = ca_hash(bundle)
        if self.ca and actual != self.ca:
            raise Fatal(f'token CA hash does not match the Cluster CA certificate hash: {actual} != {self.ca}')
        if not self.ca:
            log('warning', 'Cluster CA certificate is not trusted by the host CA bundle, but the token does not include '
                           'a CA hash. Use the full token from the server\'s node-token file to enable Cluster CA '
                           'validation.')
        self.trusted = ssl.create_default_context(cadata=bundle.decode())
        try:
            self.fetch('/cacerts', self.trusted)
            certificate = self.fetch(f'/v1-{PROGRAM}/client-kubelet.crt', self.trusted, auth=True, headers={
                f'{PROGRAM}-Node-Name': self.name, f'{PROGRAM}-Node-Password': self.node_password()})
            remote = json.loads(self.fetch(f'/v1-{PROGRAM}/config', self.trusted, auth=True))
            apiservers = json.loads(self.fetch(f'/v1-{PROGRAM}/apiservers', self.trusted, auth=True))
            bootstrap = json.loads(self.fetch(f'/v1-{PROGRAM}/server-bootstrap', self.trusted, auth=True)) \
                if self.role == 'server' else None
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors='replace').strip()
            if e.code == 401:
                raise Fatal(f'failed to get CA certs: {self.server}/cacerts: token is not valid (401 Unauthorized)')
            raise Fatal(f'{e.url}: {e.code} {detail}')
        except (urllib.error.URLError, ssl.SSLError) as e:
            raise Fatal(f'{self.server}: {e}')
        cert = certificate.split(b'-----BEGIN PRIVATE KEY-----')[0]
        key = certificate[len(cert):]
        write_atomic(os.path.join(self.agent_dir, 'server-ca.crt'), bundle)
        write_atomic(os.path.join(self.agent_dir, 'client-kubelet.crt'), cert)
        write_atomic(os.path.join(self.agent_dir, 'client-kubelet.key'), key, 0o600)
        host = self.server.split('://', 1)[1].rsplit(':', 1)[0]
        api_port = apiservers[0].rsplit(':', 1)[1] if apiservers else '6443'
        # A joining server uses the API server's own address: the server URL may be the VIP, which this server
        # may come to hold itself (its API port would then forward to itself).
        self.api_base = f'https://{apiservers[0]}' if self.role == 'server' and apiservers else f'https://{host}:{api_port}'
        self.apiservers = apiservers or []
        self.api_ctx = ssl.create_default_context(cadata=bundle.decode())
        self.api_ctx.load_cert_chain(os.path.join(self.agent_dir, 'client-kubelet.crt'),
                                     os.path.join(self.agent_dir, 'client-kubelet.key'))
        return remote, bootstrap

    def call(self, method, path, body=None, content_type='application/json'):
        return api_call(self.api_base, self.api_ctx, method, path, body, content_type)


def api_call(base, ctx, method, path, body=None, content_type='application/json', quiet=False):
    """(HTTP status, parsed JSON body) of one API request; status 0 when the API cannot be reached."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={'Content-Type': content_type, 'Accept': 'application/json'})
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=15) as response:
            return response.status, json.loads(response.read() or b'null')
    except urllib.error.HTTPError as e:
        return e.code, None
    except (urllib.error.URLError, OSError) as e:
        # The server may be restarting: callers keep going and try again on their next round.
        if not quiet:
            log('warning', f'{base}{path}: {e}')
        return 0, None


def run_kubelet(client, config, role, stopping):
    """The node's side after joining: create the Node, post readiness when it changes, renew the Lease."""
    scanner = ImageScanner(os.path.join(config['data-dir'], 'agent', 'images'))
    cni = config['cni']
    ready, message = readiness(scanner, cni)
    node = build_node(config, client.name, role, ready, message)
    status, _ = client.call('POST', '/api/v1/nodes', node)
    if status == 409:
        client.call('PATCH', f'/api/v1/nodes/{client.name}', {'metadata': {'labels': node['metadata']['labels'],
                                                                          'annotations': node['metadata']['annotations']},
                                                             'spec': node['spec']}, 'application/merge-patch+json')
        client.call('PATCH', f'/api/v1/nodes/{client.name}/status', {'status': node['status']},
                    'application/merge-patch+json')
    elif status != 201:
        raise Fatal(f'registering node {client.name} failed: HTTP {status}')
    log('info', f'Node {client.name} registered with {client.server}')
    sd_notify('READY=1')
    lease_path = f'/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{client.name}'
    last_lease = 0.0
    posted = (ready, message)
    while not stopping.wait(RESCAN_SECONDS):
        ready, message = readiness(scanner, cni)
        if (ready, message) != posted:
            code, current = client.call('GET', f'/api/v1/nodes/{client.name}')
            if code == 200:
                conds = node_conditions(ready, message, current.get('status', {}).get('conditions'))
                client.call('PATCH', f'/api/v1/nodes/{client.name}/status', {'status': {'conditions': conds}},
                            'application/merge-patch+json')
                client.call('PATCH', f'/api/v1/nodes/{client.name}',
                            {'spec': with_not_ready_taint(current.get('spec', {}), ready)}, 'application/merge-patch+json')
                posted = (ready, message)
                log('info', f'Node {client.name} {"Ready" if ready else "NotReady"}: {message}')
        if time.monotonic() - last_lease >= LEASE_SECONDS:
            # A node the server marked Unknown (its lease was late) gets its real status again, as the kubelet
            # posts its status periodically.
            code, current = client.call('GET', f'/api/v1/nodes/{client.name}')
            if code == 200 and any(c.get('type') == 'Ready' and c.get('status') == 'Unknown'
                                   for c in current.get('status', {}).get('conditions', [])):
                conds = node_conditions(ready, message, current['status']['conditions'])
                client.call('PATCH', f'/api/v1/nodes/{client.name}/status', {'status': {'conditions': conds}},
                            'application/merge-patch+json')
                log('info', f'Node {client.name} {"Ready" if ready else "NotReady"} again: {message}')
            lease = {'apiVersion': 'coordination.k8s.io/v1', 'kind': 'Lease',
                     'metadata': {'name': client.name, 'namespace': 'kube-node-lease'},
                     'spec': {'holderIdentity': client.name, 'leaseDurationSeconds': NODE_GRACE_SECONDS,
                              'renewTime': micro_time()}}
            code, _ = client.call('PATCH', lease_path, {'spec': lease['spec']}, 'application/merge-patch+json')
            if code == 404:
                client.call('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease)
            last_lease = time.monotonic() if code in (200, 404) else last_lease


# ---------------------------------------------------------------- the API VIP: a stand-in for MetalLB's L2 speaker

VIP_LEASE_NAMESPACE, VIP_LEASE_NAME = 'metallb-system', 'outpost-vip-speaker'
VIP_LEASE_SECONDS = 10
VIP_RETRY_SECONDS = 2.0
VIP_SERVICE = ('default', 'kubernetes-vip')


def ipv4_int(text):
    return struct.unpack('!I', socket.inet_aton(text))[0] if re.match(r'^\d+\.\d+\.\d+\.\d+$', text) else None


def pool_addresses(entries):
    """The IPv4 addresses of an IPAddressPool's spec.addresses (CIDRs and `first-last` ranges), at most 2^16."""
    found = []
    for entry in entries or []:
        entry = str(entry).strip()
        if '-' in entry:
            first, _, last = (part.strip() for part in entry.partition('-'))
            a, b = ipv4_int(first), ipv4_int(last)
        elif '/' in entry:
            base, _, length = entry.partition('/')
            a = ipv4_int(base)
            if a is None or not length.isdigit() or int(length) > 32:
                continue
            size = 2 ** (32 - int(length))
            a -= a % size
            b = a + size - 1
        else:
            a = b = ipv4_int(entry)
        if a is None or b is None or b < a or b - a >= 65536:
            continue
        found.extend(socket.inet_ntoa(struct.pack('!I', n)) for n in range(a, b + 1))
    return found


def selects(selector, labels):
    """A LabelSelector (matchLabels, matchExpressions with In/NotIn/Exists/DoesNotExist) against labels."""
    for key, value in (selector.get('matchLabels') or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get('matchExpressions') or []:
        key, op, values = expr.get('key'), expr.get('operator'), expr.get('values') or []
        if (op == 'In' and labels.get(key) not in values) or (op == 'NotIn' and labels.get(key) in values) or \
                (op == 'Exists' and key not in labels) or (op == 'DoesNotExist' and key in labels):
            return False
    return True


def vip_for(service, pools, advertisements):
    """The address MetalLB would announce over L2 for the service: its requested loadBalancerIP when a pool holds
    it, else the single address of a pool whose serviceAllocation takes the service; None unless an
    L2Advertisement covers that pool. (Stand-in scope: IPv4, single-address pools as EIB writes them.)"""
    if not service or service.get('spec', {}).get('type') != 'LoadBalancer':
        return None
    meta = service.get('metadata', {})
    requested = service['spec'].get('loadBalancerIP') or \
        (meta.get('annotations') or {}).get('metallb.universe.tf/loadBalancerIPs', '').split(',')[0].strip()
    chosen = None
    for pool in sorted(pools, key=lambda p: p['metadata']['name']):
        addresses = pool_addresses(pool.get('spec', {}).get('addresses'))
        if requested:
            if requested in addresses:
                chosen = (pool, requested)
                break
            continue
        allocation = pool.get('spec', {}).get('serviceAllocation') or {}
        namespaces = allocation.get('namespaces')
        selectors = allocation.get('serviceSelectors')
        if namespaces and meta.get('namespace') not in namespaces:
            continue
        if selectors and not any(selects(s, meta.get('labels') or {}) for s in selectors):
            continue
        if len(addresses) == 1:
            chosen = (pool, addresses[0])
            break
    if not chosen:
        return None
    name = chosen[0]['metadata']['name']
    for adv in advertisements:
        spec = adv.get('spec') or {}
        named, by_label = spec.get('ipAddressPools'), spec.get('ipAddressPoolSelectors')
        if (named and name in named) or (not named and not by_label) or \
                (by_label and any(selects(s, chosen[0]['metadata'].get('labels') or {}) for s in by_label)):
            return chosen[1]
    return None


def parse_time(text):
    try:
        return datetime.datetime.strptime(str(text)[:19], '%Y-%m-%dT%H:%M:%S').replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        return 0.0


def micro_time():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def interface_with(address):
    """(name, MAC) of the interface that carries an IPv4 address (`ip -j addr`), or None."""
    try:
        # Without -4: with it, ip leaves out the links' own (Ethernet) addresses.
        out = subprocess.run(['ip', '-j', 'addr', 'show'], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for link in json.loads(out or '[]'):
        if any(a.get('local') == address for a in link.get('addr_info', [])):
            return link['ifname'], link.get('address', '')
    return None


def gratuitous_arp(interface, mac_text, address):
    """Announces address -> the interface's MAC to the segment: an ARP request and an ARP reply, both
    broadcast with sender and target address equal (RFC 5227 announcement), from a raw AF_PACKET socket."""
    mac = bytes.fromhex(mac_text.replace(':', ''))
    if len(mac) != 6:
        raise OSError(f'{interface} has no Ethernet address ({mac_text!r})')
    ip = socket.inet_aton(address)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((interface, 0))
        for op in (1, 2):
            s.send(b'\xff' * 6 + mac + b'\x08\x06' + struct.pack('!HHBBH', 1, 0x0800, 6, 4, op) + mac + ip +
                   (b'\xff' * 6 if op == 2 else b'\x00' * 6) + ip)


class VipSpeaker:
    """Stands in for MetalLB's L2 speaker on a server: while the objects the image ships (IPAddressPool,
    L2Advertisement, Service kubernetes-vip) give the API a VIP, the Ready server holding the Lease
    metallb-system/outpost-vip-speaker puts the VIP on the interface that carries its node-ip and announces it
    with gratuitous ARP; a server that does not hold the lease (or cannot renew it) removes the VIP."""

    def __init__(self, name, node_ip, call, stopping):
        self.name, self.node_ip, self.call, self.stopping = name, node_ip, call, stopping
        self.announced = None  # (vip, interface)
        self.renewed = 0.0  # monotonic time of the last successful lease write
        self.lease_path = f'/apis/coordination.k8s.io/v1/namespaces/{VIP_LEASE_NAMESPACE}/leases/{VIP_LEASE_NAME}'

    def start(self):
        thread = threading.Thread(target=self.run, name='vip-speaker', daemon=True)
        thread.start()
        return thread

    def run(self):
        try:
            while not self.stopping.wait(VIP_RETRY_SECONDS):
                try:
                    self.round()
                except Exception as e:  # one bad round must not end the speaker
                    log('warning', f'vip speaker: {e}')
        finally:
            self.step_down(release=True)

    def wanted(self):
        code, service = self.call('GET', f'/api/v1/namespaces/{VIP_SERVICE[0]}/services/{VIP_SERVICE[1]}')
        if code != 200:
            return None, code == 0
        code, pools = self.call('GET', '/apis/metallb.io/v1beta1/ipaddresspools')
        code2, advs = self.call('GET', '/apis/metallb.io/v1beta1/l2advertisements')
        if code != 200 or code2 != 200:
            return None, 0 in (code, code2)
        return vip_for(service, pools.get('items', []), advs.get('items', [])), False

    def node_ready(self):
        code, node = self.call('GET', f'/api/v1/nodes/{self.name}')
        return code == 200 and any(c.get('type') == 'Ready' and c.get('status') == 'True'
                                   for c in node.get('status', {}).get('conditions', []))

    def round(self):
        vip, unreachable = self.wanted()
        if unreachable:
            # No API: keep the address only while the lease we last wrote is still valid for the others.
            if self.announced and time.monotonic() - self.renewed > VIP_LEASE_SECONDS:
                log('warning', f'vip speaker: cannot renew the lease through the API; giving up {self.announced[0]}')
                self.step_down()
            return
        if self.announced and self.announced[0] != vip:
            self.step_down()
        if not vip or not self.node_ready():
            self.step_down(release=self.announced is not None)
            return
        if self.hold_lease():
            self.announce(vip)
            self.publish(vip)
        else:
            self.step_down()

    def hold_lease(self):
        code, lease = self.call('GET', self.lease_path)
        now = time.time()
        spec = {'holderIdentity': self.name, 'leaseDurationSeconds': VIP_LEASE_SECONDS, 'renewTime': micro_time()}
        if code == 404:
            body = {'apiVersion': 'coordination.k8s.io/v1', 'kind': 'Lease',
                    'metadata': {'name': VIP_LEASE_NAME, 'namespace': VIP_LEASE_NAMESPACE},
                    'spec': {**spec, 'acquireTime': micro_time(), 'leaseTransitions': 0}}
            code, _ = self.call('POST', f'/apis/coordination.k8s.io/v1/namespaces/{VIP_LEASE_NAMESPACE}/leases', body)
            return self.took(code in (200, 201))
        if code != 200:
            return self.took(False)
        current = lease.get('spec') or {}
        holder = current.get('holderIdentity') or ''
        expired = now > parse_time(current.get('renewTime')) + int(current.get('leaseDurationSeconds') or 0)
        if holder and holder != self.name and not expired:
            return self.took(False)
        if holder != self.name:
            spec.update(acquireTime=micro_time(), leaseTransitions=int(current.get('leaseTransitions') or 0) + 1)
            log('info', f'vip speaker: {self.name} takes the lease {VIP_LEASE_NAMESPACE}/{VIP_LEASE_NAME}'
                        f'{f" from {holder} (expired)" if holder else ""}')
        # A write guarded by resourceVersion: of two servers taking an expired lease, one wins (409 for the other).
        code, _ = self.call('PUT', self.lease_path, {**lease, 'spec': {**current, **spec}})
        return self.took(code == 200)

    def took(self, ok):
        if ok:
            self.renewed = time.monotonic()
        return ok

    def announce(self, vip):
        found = interface_with(self.node_ip)
        if not found:
            log('warning', f'vip speaker: no interface carries node-ip {self.node_ip}; cannot announce {vip}')
            return
        interface, mac = found
        if self.announced == (vip, interface):
            return
        result = subprocess.run(['ip', 'addr', 'add', f'{vip}/32', 'dev', interface], capture_output=True, text=True)
        if result.returncode != 0 and 'File exists' not in result.stderr:
            log('warning', f'vip speaker: ip addr add {vip}/32 dev {interface}: {result.stderr.strip()}')
            return
        self.announced = (vip, interface)
        for _ in range(3):
            try:
                gratuitous_arp(interface, mac, vip)
            except OSError as e:
                log('warning', f'vip speaker: gratuitous ARP on {interface}: {e}')
                break
            time.sleep(0.1)
        log('info', f'vip speaker: {self.name} announces {vip} on {interface} (gratuitous ARP sent)')

    def publish(self, vip):
        """The controller's part: the Service's status names the address it is reachable at."""
        path = f'/api/v1/namespaces/{VIP_SERVICE[0]}/services/{VIP_SERVICE[1]}'
        code, service = self.call('GET', path)
        if code == 200 and (service.get('status', {}).get('loadBalancer', {}).get('ingress') or [{}])[0].get('ip') != vip:
            self.call('PATCH', path + '/status', {'status': {'loadBalancer': {'ingress': [{'ip': vip, 'ipMode': 'VIP'}]}}},
                      'application/merge-patch+json')

    def step_down(self, release=False):
        if self.announced:
            vip, interface = self.announced
            subprocess.run(['ip', 'addr', 'del', f'{vip}/32', 'dev', interface], capture_output=True)
            log('info', f'vip speaker: {self.name} no longer announces {vip}')
            self.announced = None
            release = True
        if release and self.renewed:
            # Like client-go's ReleaseOnCancel: an empty holder lets another server take over at once.
            code, lease = self.call('GET', self.lease_path)
            if code == 200 and (lease.get('spec') or {}).get('holderIdentity') == self.name:
                self.call('PUT', self.lease_path, {**lease, 'spec': {**lease['spec'], 'holderIdentity': '',
                                                                   'leaseDurationSeconds': 1}})
            self.renewed = 0.0


# ---------------------------------------------------------------- commands

def server_context(tls, client_ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(tls, 'serving-kube-apiserver.crt'), os.path.join(tls, 'serving-kube-apiserver.key'))
    if client_ca:
        ctx.load_verify_locations(os.path.join(tls, 'client-ca.crt'))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def run_server(config, stopping):
    name = node_name(config)
    cluster = Cluster(config, name)
    cluster.stopping = stopping
    if config.get('server'):
        # A joining server takes the cluster's CAs from the initializer and registers its Node there; its own
        # supervisor answers /ping, /cacerts and /static, and its API port forwards to the initializer's API.
        client = JoinClient(config, 'server', name)
        _, bootstrap = client.join(stopping)
        for file, content in bootstrap.items():
            write_atomic(os.path.join(cluster.tls, file), base64.b64decode(content), 0o600 if file.endswith('.key') else 0o644)
        cluster.bootstrap_files(client.password)
        supervisor = TLSServer((config['bind-address'], config['supervisor-port']),
                               server_context(cluster.tls, False), cluster, 'supervisor')
        proxy = TLSServer((config['bind-address'], config['https-listen-port']),
                          server_context(cluster.tls, True), ProxyApp(cluster, client), 'api')
        cluster.upstream_apiservers = [client.api_base.split('://', 1)[1]]
        serve(supervisor)
        serve(proxy)
        speaker = VipSpeaker(name, node_ips(config)[0], lambda *a: api_call(client.api_base, client.api_ctx, *a,
                                                                             quiet=True), stopping).start()
        try:
            run_kubelet(client, config, 'server', stopping)
        finally:
            stopping.set()
            speaker.join(10)
            supervisor.shutdown()
            proxy.shutdown()
        return
    cluster.bootstrap_files(str(config['token']) if config.get('token') else None)
    cluster.start_store()
    ready, message = readiness(cluster.images, config['cni'])
    cluster.register_node(build_node(config, name, 'server', ready, message))
    api = TLSServer((config['bind-address'], config['https-listen-port']), server_context(cluster.tls, True), cluster,
                    'api')
    supervisor = TLSServer((config['bind-address'], config['supervisor-port']), server_context(cluster.tls, False),
                           cluster, 'supervisor')
    serve(api)
    serve(supervisor)
    cluster.auto_deploy()
    log('info', f'{PROGRAM} stand-in {VERSION} is up and running: API on {config["bind-address"]}:'
                f'{config["https-listen-port"]}, supervisor on {config["supervisor-port"]}, node {name}')
    sd_notify('READY=1')
    # The VIP speaker talks to this server's own API, as the admin (as a MetalLB pod would through the API).
    own_api = f'https://{"127.0.0.1" if config["bind-address"] in ("0.0.0.0", "::") else config["bind-address"]}'
    own_api = f'{own_api if ":" not in own_api[8:] else "https://[" + own_api[8:] + "]"}:{config["https-listen-port"]}'
    admin = ssl.create_default_context(cadata=cluster.ca_bundle.decode())
    admin.check_hostname = False
    admin.load_cert_chain(os.path.join(cluster.tls, 'client-admin.crt'), os.path.join(cluster.tls, 'client-admin.key'))
    speaker = VipSpeaker(name, node_ips(config)[0], lambda *a: api_call(own_api, admin, *a, quiet=True),
                         stopping).start()
    try:
        while not stopping.wait(RESCAN_SECONDS):
            cluster.tick()
    finally:
        # The speaker gives the VIP and the lease up through this API: it must stop before the API does.
        speaker.join(10)
        with cluster.store.lock:
            cluster.store.lock.notify_all()
        api.shutdown()
        supervisor.shutdown()


class ProxyApp:
    """A joining server's API port: requests go to the initializer's API with this server's client certificate."""

    def __init__(self, cluster, client):
        self.cluster, self.client = cluster, client
        self.static_dir = cluster.static_dir

    def version_info(self):
        return self.cluster.version_info()

    def api(self, h, method, path, query):
        request = urllib.request.Request(self.client.api_base + h.path, data=h.raw_body or None, method=method, headers={
            k: v for k, v in h.headers.items() if k.lower() in ('accept', 'content-type')})
        try:
            response = urllib.request.urlopen(request, context=self.client.api_ctx, timeout=3600)
        except urllib.error.HTTPError as e:
            response = e
        with response:
            h.send_response(response.status)
            h.send_header('Content-Type', response.headers.get('Content-Type', 'application/json'))
            h.send_header('Transfer-Encoding', 'chunked')
            h.end_headers()
            while True:
                data = response.read1(65536) if hasattr(response, 'read1') else response.read()
                if not data:
                    break
                h.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
            h.wfile.write(b'0\r\n\r\n')


def run_agent(config, stopping):
    name = node_name(config)
    if not config.get('server'):
        raise Fatal('--server is required')
    client = JoinClient(config, 'agent', name)
    remote, _ = client.join(stopping)
    if not config.get('_cni_set'):
        config['cni'] = remote.get('cni', ['canal'])
    run_kubelet(client, config, 'agent', stopping)


def main(argv):
    if not argv or argv[0] in ('-h', '--help', 'help'):
        print(f'usage: {PROGRAM} server|agent [--config FILE] [--FLAG VALUE ...] | --version\n'
              'outpost lab stand-in for RKE2: serves the supervisor and a small Kubernetes API; runs no containers.')
        return 0
    if argv[0] in ('--version', '-v', 'version'):
        print(f'{PROGRAM} version {VERSION} (outpost lab stand-in)\ngo version go1.23.8 X:boringcrypto')
        return 0
    command = argv[0]
    if command not in ('server', 'agent'):
        sys.stderr.write(f'{PROGRAM}: unknown command {command!r} (server, agent, --version)\n')
        return 2
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        config, files = load_config(argv[1:])
        log('info', f'Starting {PROGRAM} stand-in {VERSION} ({command}); config files: {", ".join(files) or "none"}')
        (run_server if command == 'server' else run_agent)(config, stopping)
        return 0
    except Fatal as e:
        if str(e) != 'stopped':
            log('fatal', str(e))
            return 1
        return 0
    except OSError as e:
        log('fatal', str(e))
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
