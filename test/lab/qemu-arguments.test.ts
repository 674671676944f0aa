import { describe, expect, it } from 'vitest';
import { qemuArguments } from '../../src/lab/qemu-backend.ts';

const machine = {
  name: 'host-1',
  dir: '/var/lab/host-1',
  macs: ['52:54:00:6c:00:01', '52:54:00:6d:00:01'],
  memoryMiB: 512,
  ovmf: false,
  sshPort: 2222,
};

/** The values of every `-netdev` and `-device virtio-net-pci` option, in order. */
function nics(args: string[]): { netdevs: string[]; devices: string[] } {
  const values = (flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
  return {
    netdevs: values('-netdev'),
    devices: values('-device').filter((d) => d.startsWith('virtio-net-pci')),
  };
}

describe('QEMU command line', () => {
  it('without a site network: both NICs on user networking, the first with the SSH forward and boot index', () => {
    const { netdevs, devices } = nics(
      qemuArguments(machine, { boot: { device: 'disk' }, qmpPath: '/var/lab/host-1/qmp.sock' }),
    );
    expect(netdevs).toEqual(['user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22', 'user,id=net1']);
    expect(devices).toEqual([
      'virtio-net-pci,netdev=net0,mac=52:54:00:6c:00:01,romfile=,bootindex=2',
      'virtio-net-pci,netdev=net1,mac=52:54:00:6d:00:01,romfile=',
    ]);
  });

  it('with a site network: the second NIC opens the tap by name, no scripts, same MAC', () => {
    const args = qemuArguments(machine, {
      boot: { device: 'network' },
      qmpPath: '/var/lab/host-1/qmp.sock',
      siteTap: 'os-abc123-7',
    });
    const { netdevs, devices } = nics(args);
    expect(netdevs).toEqual([
      'user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22',
      'tap,id=net1,ifname=os-abc123-7,script=no,downscript=no',
    ]);
    expect(devices[0]).toContain('bootindex=0');
    expect(devices[1]).toBe('virtio-net-pci,netdev=net1,mac=52:54:00:6d:00:01,romfile=');
    // The first NIC stays QEMU user networking: media and callbacks still reach the lab machine.
    expect(args).toContain('-nodefaults');
  });

  it('doubles commas in paths inside key=value options', () => {
    const args = qemuArguments(
      { ...machine, dir: '/var/lab,odd/host-1' },
      { boot: { device: 'disk', isoPath: '/media/a,b.iso' }, qmpPath: '/var/lab,odd/host-1/qmp.sock' },
    );
    expect(args).toContain('file=/var/lab,,odd/host-1/disk.qcow2,if=none,id=disk0,format=qcow2');
    expect(args).toContain('file=/media/a,,b.iso,if=none,id=cd0,media=cdrom,readonly=on');
    expect(args).toContain('unix:/var/lab,,odd/host-1/qmp.sock,server=on,wait=off');
  });
});
