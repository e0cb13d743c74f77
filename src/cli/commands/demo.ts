import { checkMapWrite, formatKernel, mountMap, OVERFLOW_ID } from '../../idmap/index.js';
import type { SeedDemoResult } from '../../container/seed-demo.js';
import { clip, UsageError } from '../../errors.js';
import { defineCommand, flag, writeJson } from '../command.js';

/**
 * The seed's example, end to end: a container with id map 0 100000 100000
 * whose image is stored on disk at 0 300000 100000.
 */
export const demoCommand = defineCommand({
  name: 'demo',
  summary: "the seed's example end to end: id map 0 100000 100000 over an image stored at 300000",
  usage: `fsidmap demo [--json]

Walks through the fsid-mappings example of the original patch series: what
the container sees of an image stored at 300000+ without an fsid map, with
one, and through the idmapped mount that realizes it on today's kernels.
Then, as root on a kernel with idmapped mounts, does it for real: a small
image stored at 300000+ in a temp dir, two containers (id maps 0:100000:65536
and 0:200000:65536, both with fsid map 0:300000:65536) at once, what they see
inside, where the files they create land, their kuids from the host; then
everything is removed. Not root: says why the real part is skipped.`,
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    if (args.positionals.length > 0)
      throw new UsageError(`fsidmap demo takes no arguments, got "${clip(args.positionals[0])}"`, 'see fsidmap demo --help');
    const idText = '0 100000 100000\n';
    const fsText = '0 300000 100000\n';
    const idv = checkMapWrite(idText);
    const fsv = checkMapWrite(fsText);
    if (!idv.installed || !fsv.installed) throw new Error('demo maps must be valid');
    const idmap = idv.installed,
      fsidmap = fsv.installed;
    const m = mountMap(idmap, fsidmap);
    const onDisk = [300000, 300005, 399999, 0, 100005];
    const rows = onDisk.map((d) => ({
      onDisk: d,
      withoutFsidMap: idmap.mapIdUpMunged(d),
      withFsidMap: fsidmap.mapIdUpMunged(d),
      throughMount: (() => {
        const k = m.mapIdDown(d);
        return k === undefined ? OVERFLOW_ID : idmap.mapIdUpMunged(k);
      })(),
    }));
    const creates = [0, 5, 7].map((uid) => ({
      containerUid: uid,
      kuid: idmap.mapIdDown(uid)!,
      onDiskWithFsidMap: fsidmap.mapIdDown(uid)!,
      onDiskThroughMount: m.mapIdUp(idmap.mapIdDown(uid)!)!,
    }));
    const { runSeedDemo, seedDemoUnavailable } = await import('../../container/seed-demo.js');
    const skipped = await seedDemoUnavailable();
    const real = skipped === null ? await runSeedDemo() : null;
    if (flag(args, 'json')) {
      writeJson(io, {
        idmap: idText.trim(),
        fsidmap: fsText.trim(),
        mountMap: formatKernel(m).trim(),
        stat: rows,
        create: creates,
        real,
        realSkipped: skipped,
      });
      return 0;
    }
    const out: string[] = [];
    out.push('The seed\'s example: container id map "0 100000 100000", image stored on disk at "0 300000 100000".');
    out.push('');
    out.push('stat of on-disk owners, as seen inside the container:');
    out.push('  on disk   no fsid map   fsid map 0 300000 100000   idmapped mount');
    for (const r of rows)
      out.push(
        `  ${String(r.onDisk).padEnd(9)} ${String(r.withoutFsidMap).padEnd(13)} ${String(r.withFsidMap).padEnd(26)} ${r.throughMount}`,
      );
    out.push('  (65534 is the overflow id: an owner the container cannot map, so root inside cannot write or chown it)');
    out.push('');
    out.push('files created inside, by container uid:');
    for (const c of creates)
      out.push(
        `  uid ${c.containerUid}: runs as kuid ${c.kuid}; the file lands on disk as ${c.onDiskWithFsidMap} (fsid map) = ${c.onDiskThroughMount} (idmapped mount)`,
      );
    out.push('');
    out.push('the kernel merged idmapped mounts instead of fsid maps; this mount map gives the same view:');
    out.push(
      formatKernel(m)
        .trimEnd()
        .split('\n')
        .map((l) => '  ' + l)
        .join('\n'),
    );
    out.push('');
    out.push(...(real ? formatReal(real) : [`On the real kernel: skipped, ${skipped}.`]));
    out.push('');
    out.push('next: fsidmap map mount-map --idmap 0:100000:100000 --fsidmap 0:300000:100000');
    out.push('      fsidmap run --idmap 0:100000:65536 --fsidmap 0:300000:65536 --rootfs IMAGE -- /bin/sh');
    io.stdout.write(out.join('\n') + '\n');
    return 0;
  },
});

const indent = (text: string) => text.split('\n').map((l) => `    ${l}`);

function formatReal(r: SeedDemoResult): string[] {
  const out = [
    'On the real kernel (root, idmapped mounts):',
    `  an image of ${r.entries} entries stored on disk at 300000+ (${r.image}), as the host sees it (ls -ln):`,
    ...indent(r.hostLs.split('\n').slice(1, 6).join('\n')),
    '    …',
  ];
  for (const c of r.containers) {
    out.push('', `  container ${c.name}: id map ${c.idmap}, fsid map ${c.fsidmap}, running at the same time as the other`);
    out.push('   inside, id:', ...indent(c.id));
    out.push('   inside, ls -ln /:', ...indent(c.ls.split('\n').slice(1, 6).join('\n')), '    …');
    out.push('   inside, a file it created:', ...indent(c.created));
    out.push('   from the host, its processes (/proc/PID/status Uid and Gid: real, effective, saved, fs):');
    for (const p of c.processes)
      out.push(`    ${p.role.padEnd(4)} pid ${String(p.pid).padEnd(8)} uid ${p.uid.join(' ')}  gid ${p.gid.join(' ')}`);
  }
  out.push('', '  on disk, the files they created (the fsid map put them back at 300000+):');
  for (const l of r.landed) out.push(`    ${l.path}  ${l.uid}:${l.gid}`);
  out.push('', `  cleaned up: temp dir removed; mounts left: ${r.left.mounts}, container processes left: ${r.left.processes}`);
  return out;
}
