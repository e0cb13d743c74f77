import type { PrivilegePort } from '../container/privilege-port.js';
import { openRegistry, type RangeRegistry } from '../container/ranges.js';
import { rootPrivilegePort } from '../container/root-port.js';

/**
 * Who does `run`'s privileged steps, decided once, here: fsidmap itself when
 * it runs as root (euid 0), otherwise the fsidmap broker. This module sits
 * above container/ and broker/ — the one place that knows both — so that
 * container/ never imports broker/ (the broker's port implements
 * container/'s interface, and so depends on it). The CLI and the library's
 * top-level startContainer/runContainer call it; the broker's code is
 * loaded only when it is needed.
 */
export async function choosePrivilegePort(env: NodeJS.ProcessEnv = process.env): Promise<PrivilegePort> {
  if (isRoot()) return rootPrivilegePort();
  const { connectBrokerPort } = await import('../broker/run-port.js');
  // Throws ERR_BROKER_UNAVAILABLE when none runs, with how to start one (or to run as root).
  return connectBrokerPort(env);
}

/**
 * The range registry of `run --allocate / --fs`, on the same rule: root
 * opens the allocator's registry (FSIDMAP_DB, or the default); an ordinary
 * user's ranges are the broker's to hand out — its registry, not a database
 * the user could write to itself.
 */
export async function chooseRunRegistry(env: NodeJS.ProcessEnv = process.env): Promise<RangeRegistry> {
  if (isRoot()) return openRegistry(env.FSIDMAP_DB ? { db: env.FSIDMAP_DB } : {});
  const { brokerRunRegistry } = await import('../broker/run-port.js');
  return brokerRunRegistry(env);
}

function isRoot(): boolean {
  return process.geteuid?.() === 0;
}
