import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PassThrough, Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { buildArchive } from '../../../test/support/tar-builder.js';
import { TarEntryParser } from '../../tar/entry-parser.js';
import { main } from '../main.js';

/** Runs the CLI with in-memory streams (the node-stream path of `tar shift`). */
async function cli(argv: string[], stdin: Buffer = Buffer.alloc(0)): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await main(argv, { stdin: Readable.from([stdin]), stdout, stderr, env: {}, interactive: false });
  return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
}

const archive = buildArchive([
  { path: 'a', uid: 0, gid: 0, data: Buffer.from('data') },
  { path: 'b', uid: 70000, gid: 1 },
]);

function uids(tar: Buffer): number[] {
  const p = new TarEntryParser(() => undefined);
  const out: number[] = [];
  for (const ev of p.push(Buffer.from(tar))) if (ev.kind === 'entry') out.push(ev.entry.uid);
  return out;
}

test('tar shift: stdin to stdout through node streams, --gzip, --json summary on stderr', async () => {
  const r = await cli(['tar', 'shift', '0:100000:65536', '--unmapped', 'keep', '--json'], archive);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(uids(r.stdout), [100000, 70000]);
  const summary = JSON.parse(r.stderr);
  assert.deepEqual([summary.entries, summary.ids.mapped, summary.ids.kept], [2, 3, 1]);
  const gz = await cli(['tar', 'shift', '0:100000:65536', '--unmapped', '65534', '--gzip'], archive);
  assert.equal(gz.code, 0, gz.stderr);
  assert.deepEqual(uids(gunzipSync(gz.stdout)), [100000, 65534]);
});

test('tar shift: exit 1 for an unmapped id and for data that is not tar; exit 2 for usage and map errors', async () => {
  const table: Array<[string[], Buffer, number, RegExp]> = [
    [['tar', 'shift', '0:100000:65536'], archive, 1, /b: uid 70000 \(header field\) is not covered by the map/],
    [['tar', 'shift', '0:100000:65536'], Buffer.from('not a tar archive at all'), 1, /not a tar archive/],
    [['tar', 'shift', '0:100000:65536'], Buffer.alloc(0), 1, /empty/],
    [['tar', 'shift', '0:100000:65536'], Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1, 2]), 1, /compressed with xz/],
    [['tar', 'shift', '-'], archive, 2, /MAP cannot be "-"/],
    [['tar', 'shift'], archive, 2, /exactly one argument/],
    [['tar', 'shift', '0:100000:65536', '--unmapped', 'some'], archive, 2, /--unmapped must be a decimal id/],
    [['tar', 'shift', '0:100000:65536', '--names', 'drop'], archive, 2, /--names must be clear or keep/],
    [['tar', 'shift', '0:100000:0'], archive, 2, /./],
    [['tar', 'shift', '0:100000:65536', '-i', '/nonexistent/in.tar'], archive, 2, /no such file/],
    [['tar', 'unpack', '0:100000:65536', 'only-two'], archive, 2, /three arguments/],
  ];
  for (const [argv, input, code, message] of table) {
    const r = await cli(argv, input);
    assert.equal(r.code, code, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, argv.join(' '));
  }
});

test('tar shift --strict turns a warning into exit 1', async () => {
  const noEnd = archive.subarray(0, archive.length - 1024);
  const lax = await cli(['tar', 'shift', '0:0:100000'], noEnd);
  assert.equal(lax.code, 0);
  assert.match(lax.stderr, /warning: TAR_NO_END_MARKER/);
  const strict = await cli(['tar', 'shift', '0:0:100000', '--strict'], noEnd);
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /TAR_NO_END_MARKER/);
});
