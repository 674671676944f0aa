#!/usr/bin/python3
"""Connects Debian's python3-sushy to one emulated BMC over HTTPS with each certificate setting.

Usage: sushy_tls.py BASE_URL SYSTEM_PATH CA_FILE
Credentials come from the environment (BMC_USERNAME, BMC_PASSWORD). Prints one JSON line: for each
`verify` setting (the system CAs, the lab's CA file, off) the System's PowerState or the error class.
"""
import json
import os
import sys
import warnings

import sushy

base_url, system_path, ca_file = sys.argv[1:4]
warnings.simplefilter('ignore')  # urllib3 warns about verify=False; the result says what happened
seen = {}
for name, verify in (('system', True), ('ca_file', ca_file), ('off', False)):
    try:
        conn = sushy.Sushy(base_url + '/redfish/v1/', username=os.environ['BMC_USERNAME'],
                           password=os.environ['BMC_PASSWORD'], verify=verify)
        seen[name] = str(conn.get_system(system_path).power_state)
    except Exception as error:  # the class name is the result: SSLError, ConnectionError...
        seen[name] = type(error).__name__ + ': ' + str(error)[:200]
print(json.dumps(seen))
