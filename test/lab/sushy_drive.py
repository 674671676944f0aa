#!/usr/bin/python3
"""Drives one emulated BMC with Debian's python3-sushy (the library Ironic uses).

Usage: sushy_drive.py BASE_URL SYSTEM_PATH VMEDIA_SLOT_PATH IMAGE_URL
Credentials come from the environment (BMC_USERNAME, BMC_PASSWORD) so they never appear in a
process listing. Prints one JSON line describing what sushy saw after each step.
"""
import json
import os
import sys

import sushy
from sushy.resources.manager import virtual_media

base_url, system_path, slot_path, image = sys.argv[1:5]
conn = sushy.Sushy(base_url + '/redfish/v1/', username=os.environ['BMC_USERNAME'],
                   password=os.environ['BMC_PASSWORD'])
steps = {}

system = conn.get_system(system_path)
steps['manufacturer'] = system.manufacturer
steps['allowed_reset'] = sorted(str(v) for v in system.get_allowed_reset_system_values())

# sushy 4.3.3 reaches virtual media through Managers only; a System-side collection (iDRAC 6+) is
# opened directly by its path, as Ironic does on newer sushy.
slot = virtual_media.VirtualMedia(conn._conn, slot_path, redfish_version=conn.redfish_version)
if slot.inserted:
    slot.eject_media()
slot.insert_media(image)
slot.refresh()
steps['inserted'] = slot.inserted
steps['image'] = slot.image

target = os.environ.get('BOOT_TARGET', 'Cd')
system.set_system_boot_options(target=sushy.BootSource(target), enabled=sushy.BootSourceOverrideEnabled.ONCE)
system.refresh()
steps['boot'] = {'target': str(system.boot.target), 'enabled': str(system.boot.enabled)}

system.reset_system(sushy.RESET_ON)
system.refresh()
steps['power_after_on'] = str(system.power_state)

system.reset_system(sushy.RESET_FORCE_OFF)
system.refresh()
steps['power_after_off'] = str(system.power_state)

slot.refresh()
slot.eject_media()
slot.refresh()
steps['inserted_after_eject'] = slot.inserted

print(json.dumps(steps))
