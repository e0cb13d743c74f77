import { FsidmapError, UsageError } from '../../errors.js';
import type { ImageReport, ImageStore, ImageSummary } from '../../image/index.js';
import { type Command, type CommandIO, type ParsedArgs, defineCommand, flag, str, write, writeJson } from '../command.js';
import { progressLine } from '../progress.js';

/** `fsidmap image import|list|rm|gc|export` and `image inspect NAME`: thin recipes over the image store (src/image). */
const STORE_OPTION = `  --store DIR   the image store (default: images/ under the state dir:
                /var/lib/fsidmap/images for root, ~/.local/state/fsidmap/images for others)`;

async function openStore(args: ParsedArgs, io: CommandIO): Promise<ImageStore> {
  const { openImageStore } = await import('../../image/index.js');
  const root = str(args, 'store');
  return openImageStore(root === undefined ? { env: io.env } : { env: io.env, root });
}

function positionals(args: ParsedArgs, command: string, names: string[]): string[] {
  if (args.positionals.length !== names.length)
    throw new UsageError(
      names.length === 0
        ? `fsidmap ${command} takes no arguments, got ${args.positionals.length}`
        : `fsidmap ${command} takes ${names.join(' and ')}, got ${args.positionals.length} argument${args.positionals.length === 1 ? '' : 's'}`,
      `see fsidmap ${command} --help`,
    );
  return args.positionals;
}

export const imageImport = defineCommand({
  name: 'image import',
  summary: 'import an OCI layout, a docker-archive or a rootfs tar into the image store (layers stored once, owners unshifted)',
  usage: `fsidmap image import [--name NAME[:TAG]] [--json] [--store DIR] SOURCE

SOURCE is one of
  DIR, DIR:TAG, DIR@sha256:…   an OCI image layout (umoci, skopeo copy … oci:DIR:TAG);
                               an image index picks this machine's platform
  FILE, FILE:NAME:TAG          a docker-archive (docker save, skopeo copy … docker-archive:FILE)
  FILE                         a plain rootfs tar or tar.gz (mmdebstrap), as a one-layer image

Every blob is checked against its digest and each layer against the config's
diff_id while it streams; each layer is unpacked once (keyed by diff_id) with
owners exactly as the tar says, whiteouts in overlayfs form. A layer with
"..", absolute paths or writes through symlinks is refused. Nothing is
visible in the store until the whole image is verified; kill -9 at any point
leaves the store as it was (\`image gc\` removes the leftovers).

  --name NAME[:TAG]   the name to give it (default: the source's own tag, or its file name)
  --json              the result as one JSON object
${STORE_OPTION}

Exit status: 0 imported, 1 refused (nothing stored) or failed, 2 usage error.`,
  options: { name: { type: 'string' }, json: { type: 'boolean' }, store: { type: 'string' } },
  async run(args, io) {
    const [source] = positionals(args, 'image import', ['SOURCE']);
    const store = await openStore(args, io);
    const progress = progressLine(io);
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const name = str(args, 'name');
      const r = await store.import(source, {
        ...(name === undefined ? {} : { name }),
        signal: controller.signal,
        onLayer: (e) => progress.update({ label: e.reused ? 'layer (stored)' : 'layer', done: e.index + 1, total: e.count }),
      });
      progress.end();
      for (const w of r.warnings) write(io.stderr, `fsidmap: warning: ${w.message}`);
      if (flag(args, 'json')) writeJson(io, r);
      else {
        const fresh = r.layers.filter((l) => !l.reused).length;
        write(
          io.stdout,
          `imported ${r.ref ?? r.digest} (${r.digest}): ${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}, ${fresh} unpacked, ${r.layers.length - fresh} already stored`,
        );
      }
      return 0;
    } finally {
      progress.end();
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  },
});

export const imageList = defineCommand({
  name: 'image list',
  summary: 'list the images in the store',
  usage: `fsidmap image list [--json] [--store DIR]

One line per image: its names, digest, layer count and size (the blobs as imported).

  --json   {"store": DIR, "images": [...]}
${STORE_OPTION}`,
  options: { json: { type: 'boolean' }, store: { type: 'string' } },
  async run(args, io) {
    positionals(args, 'image list', []);
    const store = await openStore(args, io);
    const images = store.list();
    if (flag(args, 'json')) writeJson(io, { store: store.root, images });
    else write(io.stdout, formatList(images));
    return 0;
  },
});

export const imageRm = defineCommand({
  name: 'image rm',
  summary: 'remove an image name (or, by digest, the image); its layers go at the next gc if nothing uses them',
  usage: `fsidmap image rm [--json] [--store DIR] NAME[:TAG]|DIGEST...

By name: the name goes; the image goes with its last name unless a container
holds it. By digest: the image and all its names go (refused while a
container holds it). Layers and blobs stay until \`fsidmap image gc\`.

  --json   [{"untagged": [...], "deleted": DIGEST|null}, ...]
${STORE_OPTION}`,
  options: { json: { type: 'boolean' }, store: { type: 'string' } },
  async run(args, io) {
    if (args.positionals.length === 0)
      throw new UsageError('fsidmap image rm takes at least one NAME[:TAG] or DIGEST', 'see fsidmap image rm --help');
    const store = await openStore(args, io);
    const out = [];
    for (const ref of args.positionals) {
      const r = await store.remove(ref);
      out.push(r);
      if (!flag(args, 'json'))
        write(io.stdout, [...r.untagged.map((n) => `untagged ${n}`), ...(r.deleted ? [`deleted ${r.deleted}`] : [])].join('\n'));
    }
    if (flag(args, 'json'))
      writeJson(
        io,
        out.map((r) => ({ untagged: r.untagged, deleted: r.deleted ?? null })),
      );
    return 0;
  },
});

export const imageGc = defineCommand({
  name: 'image gc',
  summary: 'remove layers and blobs that no image and no container uses, and what dead imports left',
  usage: `fsidmap image gc [--json] [--store DIR]

  --json   {"layers": N, "blobs": N, "staging": N, "bytes": N}
${STORE_OPTION}`,
  options: { json: { type: 'boolean' }, store: { type: 'string' } },
  async run(args, io) {
    positionals(args, 'image gc', []);
    const store = await openStore(args, io);
    const r = await store.gc();
    if (flag(args, 'json')) writeJson(io, r);
    else write(io.stdout, `removed ${r.layers} layer(s), ${r.blobs} blob(s) (${r.bytes} bytes), ${r.staging} abandoned import(s)`);
    return 0;
  },
});

export const imageExport = defineCommand({
  name: 'image export',
  summary: 'write a stored image as an OCI image layout (readable by skopeo and umoci)',
  usage: `fsidmap image export [--json] [--store DIR] NAME[:TAG]|DIGEST DIR

DIR is created, or must already be an OCI layout (the image is added to it).
The blobs are the ones imported or committed, so the digests are the same.
The manifest is tagged with the image's TAG in index.json.

  --json   {"dir": DIR, "digest": ..., "tag": ...}
${STORE_OPTION}`,
  options: { json: { type: 'boolean' }, store: { type: 'string' } },
  async run(args, io) {
    const [ref, dir] = positionals(args, 'image export', ['NAME[:TAG]', 'DIR']);
    const store = await openStore(args, io);
    const r = await store.export(ref, dir);
    if (flag(args, 'json')) writeJson(io, r);
    else write(io.stdout, `exported ${ref} (${r.digest}) to ${r.dir}${r.tag ? ` as tag ${r.tag}` : ''}`);
    return 0;
  },
});

/** `image inspect NAME`: called by image inspect when its argument is not a path on disk. */
export async function inspectStored(ref: string, args: ParsedArgs, io: CommandIO): Promise<number> {
  const store = await openStore(args, io);
  let report: ImageReport;
  try {
    report = store.inspect(ref);
  } catch (e) {
    if (e instanceof FsidmapError && e.code === 'ERR_IMAGE_NOT_FOUND')
      throw new FsidmapError('ERR_IMAGE_NOT_FOUND', `${ref} is neither a path nor an image in the store ${store.root}`, {
        context: { ref, store: store.root },
        hint: 'see `fsidmap image list`',
      });
    throw e;
  }
  if (flag(args, 'json')) writeJson(io, report);
  else write(io.stdout, formatReport(ref, report));
  return 0;
}

const size = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
const ranges = (rs: ImageReport['owners']['uids']) =>
  rs.length === 0 ? 'none' : rs.map((r) => (r.end - r.start === 1 ? `${r.start}` : `${r.start}-${r.end - 1}`)).join(', ');

function formatList(images: readonly ImageSummary[]): string {
  if (images.length === 0) return 'no images';
  const rows = images.map((i) => [i.names.join(', ') || '<none>', i.digest.slice(7, 19), String(i.layers), size(i.size), i.source.kind]);
  const head = ['NAME', 'DIGEST', 'LAYERS', 'SIZE', 'FROM'];
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((v, c) => v.padEnd(w[c]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function inlineMap(lines: string): string {
  return lines
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).join(':'))
    .join(',');
}

function formatReport(ref: string, r: ImageReport): string {
  const run = r.config.run;
  const lines = [
    `${ref}: ${r.digest}`,
    `  names:      ${r.names.join(', ') || 'none'}`,
    `  platform:   ${r.config.os ?? '?'}/${r.config.architecture ?? '?'}${r.config.created ? `, created ${r.config.created}` : ''}`,
    `  entrypoint: ${JSON.stringify(run.Entrypoint ?? null)}  cmd: ${JSON.stringify(run.Cmd ?? null)}`,
    `  user:       ${run.User || '(root)'}  workdir: ${run.WorkingDir || '/'}`,
    `  owners:     uids ${ranges(r.owners.uids)}; gids ${ranges(r.owners.gids)} ${r.fsidmap ? "(the tar's; on disk through the store's map)" : '(as on disk: unshifted)'}`,
    // A user's store: image id:on-disk id:count, as --fsidmap takes it.
    ...(r.fsidmap ? [`  store map:  uid ${inlineMap(r.fsidmap.uid)}; gid ${inlineMap(r.fsidmap.gid)}`] : []),
    `  held by:    ${r.heldBy.join(', ') || 'nothing'}`,
    `  layers (lowest first):`,
  ];
  for (const [i, l] of r.layers.entries())
    lines.push(
      `   ${i + 1}. ${l.diffId.slice(7, 19)}  ${size(l.size)} packed, ${size(l.uncompressedSize)} tar, ${l.stats.entries} entries, ${l.stats.whiteouts} whiteouts, ${l.stats.opaqueDirs} opaque dirs; uids ${ranges(l.stats.uids)}`,
    );
  return lines.join('\n');
}

export const imageStoreCommands: Command[] = [imageImport, imageList, imageRm, imageGc, imageExport];
