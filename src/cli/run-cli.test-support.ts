import { PassThrough, Readable } from 'node:stream';
import { main } from './main.js';

/** Runs the CLI in-process with captured streams: exit code, stdout, stderr. Test support only. */
export async function runCli(
  argv: string[],
  options: { stdin?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough(),
    err = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  out.on('data', (c: Buffer) => chunks.out.push(c));
  err.on('data', (c: Buffer) => chunks.err.push(c));
  const code = await main(argv, {
    stdout: out,
    stderr: err,
    stdin: Readable.from([options.stdin ?? '']),
    env: options.env ?? {},
    interactive: false,
  });
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString() };
}
