#!/usr/bin/python3
"""Reads one emulated BMC of a behaviour profile with Debian's python3-sushy, as Ironic would.

Usage: sushy_behaviours.py BASE_URL SYSTEM_PATH
Credentials come from the environment (BMC_USERNAME, BMC_PASSWORD). Prints one JSON line: what sushy
makes of the processors, memory and storage, and the boot override it reads back after asking for Once.
"""
import json
import os
import sys

import sushy

base_url, system_path = sys.argv[1:3]
conn = sushy.Sushy(base_url + '/redfish/v1/', username=os.environ['BMC_USERNAME'],
                   password=os.environ['BMC_PASSWORD'])
system = conn.get_system(system_path)
seen = {}


def attempt(name, read):
    try:
        seen[name] = read()
    except sushy.exceptions.SushyError as error:
        seen[name] = type(error).__name__


attempt('processors', lambda: [
    {'id': p.identity, 'type': str(p.processor_type), 'state': str(p.status.state) if p.status else None,
     'threads': p.total_threads} for p in system.processors.get_members()])
attempt('memory_summary', lambda: system.memory_summary and system.memory_summary.size_gib)
attempt('simple_storage', lambda: system.simple_storage.disks_sizes_bytes)
attempt('storage', lambda: system.storage.drives_sizes_bytes)
system.set_system_boot_options(target=sushy.BootSource.CD, enabled=sushy.BootSourceOverrideEnabled.ONCE)
system.refresh()
seen['boot'] = {'target': str(system.boot.target), 'enabled': str(system.boot.enabled)}
print(json.dumps(seen))
