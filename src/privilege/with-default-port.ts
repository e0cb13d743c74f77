import type { Container, StartOptions } from '../container/start.js';
import type { RunOptions } from '../container/run.js';
import { runContainer as runWithPort, startContainer as startWithPort } from '../container/index.js';
import type { RunSpec } from '../container/spec.js';
import { choosePrivilegePort } from './choose.js';

/**
 * startContainer and runContainer of the library's top level ("fsidmap"):
 * given no port, they choose one as the CLI does (root itself, or the
 * broker) and close it when the container is gone. fsidmap/container's own
 * pair cannot reach the broker and, without a port, works only as root.
 */
export async function startContainer(spec: RunSpec, options: StartOptions = {}): Promise<Container> {
  if (options.port) return startWithPort(spec, options);
  const port = await choosePrivilegePort(options.env);
  try {
    const c = await startWithPort(spec, { ...options, port });
    const close = () => port.close();
    c.exited.then(close, close);
    return c;
  } catch (e) {
    port.close();
    throw e;
  }
}

export async function runContainer(spec: RunSpec, options: RunOptions = {}): Promise<number> {
  if (options.port) return runWithPort(spec, options);
  const port = await choosePrivilegePort(options.env);
  try {
    return await runWithPort(spec, { ...options, port });
  } finally {
    port.close();
  }
}
