/**
 * Vendor behaviour the generic flow cannot discover by itself, keyed on the System's Manufacturer/Model
 * and the Manager's FirmwareVersion (redfish.md §4). Anything the client can recover from by reading
 * the error (InsertMedia body widening, PATCH fallback) is handled generically and is not listed here.
 */
export interface Quirks {
  vendor: 'dell' | 'hpe' | 'supermicro' | 'lenovo' | 'generic';
  /** EjectMedia body to send first: iLO answers 415 without `{}`. */
  ejectBodyFirst: 'none' | 'empty';
  /** The virtual CD is a USB device (Supermicro): boot target `UsbCd` instead of `Cd`. */
  cdBootTarget: 'Cd' | 'UsbCd';
  /** Supermicro ignores the target unless `BootSourceOverrideEnabled` is in the same PATCH. */
  alwaysSendBootEnabled: boolean;
  /** Supermicro X12 rejects `?` and `=` in image URLs. */
  rejectsQueryInImageUrl: boolean;
  /** Notes worth telling the operator once (e.g. firmware outside the range Ironic supports). */
  warnings: string[];
}

export function detectQuirks(
  system: { manufacturer: string; model: string },
  managerFirmware: string,
): Quirks {
  const base: Quirks = {
    vendor: 'generic',
    ejectBodyFirst: 'none',
    cdBootTarget: 'Cd',
    alwaysSendBootEnabled: false,
    rejectsQueryInImageUrl: false,
    warnings: [],
  };
  const maker = system.manufacturer.toLowerCase();
  if (maker.includes('dell')) {
    const major = Number(/^(\d+)\./.exec(managerFirmware)?.[1]);
    const warnings =
      Number.isFinite(major) && major < 6
        ? [
            `iDRAC firmware ${managerFirmware}: standard Redfish virtual media is supported from 6.x; update the firmware`,
          ]
        : [];
    return { ...base, vendor: 'dell', warnings };
  }
  if (maker.includes('hpe') || maker.includes('hewlett'))
    return { ...base, vendor: 'hpe', ejectBodyFirst: 'empty' };
  if (maker.includes('supermicro')) {
    // ARS-111GL-NHR (Grace Hopper) boots its virtual CD as `Cd` (redfish.md §1, step 11).
    const usesCd = /ARS-111GL-NHR/i.test(system.model);
    return {
      ...base,
      vendor: 'supermicro',
      cdBootTarget: usesCd ? 'Cd' : 'UsbCd',
      alwaysSendBootEnabled: true,
      rejectsQueryInImageUrl: /X12|X13/i.test(system.model),
    };
  }
  if (maker.includes('lenovo')) return { ...base, vendor: 'lenovo' };
  return base;
}
