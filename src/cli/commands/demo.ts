import { checkMapWrite, formatKernel, mountMap, OVERFLOW_ID } from '../../idmap/index.js';
import { defineCommand, flag, writeJson } from '../command.js';

/**
 * The seed's example, end to end: a container with id map 0 100000 100000
 * whose image is stored on disk at 0 300000 100000.
 */
export const demoCommand = defineCommand({
  name: 'demo',
  summary: 'the seed\'s example end to end: id map 0 100000 100000 over an image stored at 300000',
  usage: `fsidmap demo [--json]

Walks through the fsid-mappings example of the original patch series: what
the container sees of an image stored at 300000+ without an fsid map, with
one, and through the idmapped mount that realizes it on today's kernels.`,
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    const idText = '0 100000 100000\n';
    const fsText = '0 300000 100000\n';
    const idv = checkMapWrite(idText);
    const fsv = checkMapWrite(fsText);
    if (!idv.installed || !fsv.installed) throw new Error('demo maps must be valid');
    const idmap = idv.installed, fsidmap = fsv.installed;
    const m = mountMap(idmap, fsidmap);
    const onDisk = [300000, 300005, 399999, 0, 100005];
    const rows = onDisk.map((d) => ({
      onDisk: d,
      withoutFsidMap: idmap.mapIdUpMunged(d),
      withFsidMap: fsidmap.mapIdUpMunged(d),
      throughMount: (() => { const k = m.mapIdDown(d); return k === undefined ? OVERFLOW_ID : idmap.mapIdUpMunged(k); })(),
    }));
    const creates = [0, 5, 7].map((uid) => ({ containerUid: uid, kuid: idmap.mapIdDown(uid)!, onDiskWithFsidMap: fsidmap.mapIdDown(uid)!, onDiskThroughMount: m.mapIdUp(idmap.mapIdDown(uid)!)! }));
    if (flag(args, 'json')) {
      writeJson(io, { idmap: idText.trim(), fsidmap: fsText.trim(), mountMap: formatKernel(m).trim(), stat: rows, create: creates });
      return 0;
    }
    const out: string[] = [];
    out.push('The seed\'s example: container id map "0 100000 100000", image stored on disk at "0 300000 100000".');
    out.push('');
    out.push('stat of on-disk owners, as seen inside the container:');
    out.push('  on disk   no fsid map   fsid map 0 300000 100000   idmapped mount');
    for (const r of rows) out.push(`  ${String(r.onDisk).padEnd(9)} ${String(r.withoutFsidMap).padEnd(13)} ${String(r.withFsidMap).padEnd(26)} ${r.throughMount}`);
    out.push('  (65534 is the overflow id: an owner the container cannot map, so root inside cannot write or chown it)');
    out.push('');
    out.push('files created inside, by container uid:');
    for (const c of creates) out.push(`  uid ${c.containerUid}: runs as kuid ${c.kuid}; the file lands on disk as ${c.onDiskWithFsidMap} (fsid map) = ${c.onDiskThroughMount} (idmapped mount)`);
    out.push('');
    out.push('the kernel merged idmapped mounts instead of fsid maps; this mount map gives the same view:');
    out.push(formatKernel(m).trimEnd().split('\n').map((l) => '  ' + l).join('\n'));
    out.push('');
    out.push('next: fsidmap map mount-map --idmap 0:100000:100000 --fsidmap 0:300000:100000');
    io.stdout.write(out.join('\n') + '\n');
    return 0;
  },
});
