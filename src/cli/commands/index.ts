import type { Command } from '../command.js';

/**
 * Every command of the binary, by module. A module is loaded only when one
 * of its commands runs (or for --help): `fsidmap run` must not pay for
 * loading the database drivers, nor `fsidmap map check` for koffi.
 * Each area adds its entry here; a test checks `names` against the module.
 */
export interface CommandModule {
  readonly names: readonly string[];
  load(): Promise<readonly Command[]>;
}

export const commandModules: readonly CommandModule[] = [
  {
    names: ['map check', 'map show', 'map translate', 'map compose', 'map invert', 'map mount-map'],
    load: async () => (await import('./map.js')).mapCommands,
  },
  { names: ['image inspect', 'image shift'], load: async () => (await import('./image.js')).imageCommands },
  {
    names: ['image import', 'image list', 'image rm', 'image gc', 'image export'],
    load: async () => (await import('./image-store.js')).imageStoreCommands,
  },
  { names: ['alloc', 'release', 'list', 'show', 'who', 'gc'], load: async () => (await import('./alloc.js')).allocCommands },
  { names: ['subid check', 'subid audit'], load: async () => (await import('./subid.js')).subidCommands },
  { names: ['tar shift', 'tar unpack'], load: async () => (await import('./tar.js')).tarCommands },
  { names: ['simulate', 'explain'], load: async () => (await import('./userns.js')).usernsCommands },
  { names: ['mount', 'umount', 'run'], load: async () => (await import('./run.js')).runCommands },
  { names: ['container list', 'container rm', 'commit'], load: async () => (await import('./container.js')).containerCommands },
  { names: ['ps', 'exec', 'stop', 'kill', 'logs'], load: async () => (await import('./lifecycle.js')).lifecycleCommands },
  { names: ['oci config'], load: async () => (await import('./oci.js')).ociCommands },
  {
    names: ['broker', 'broker status', 'broker alloc', 'broker release', 'broker list'],
    load: async () => (await import('./broker.js')).brokerCommands,
  },
  { names: ['serve', 'report'], load: async () => (await import('./serve.js')).serveCommands },
  { names: ['demo'], load: async () => [(await import('./demo.js')).demoCommand] },
  { names: ['completion', 'man'], load: async () => (await import('./docs-gen.js')).docsGenCommands(loadAllCommands) },
];

/** The names that select a command, longest match first: "map check" before "map". */
export function findCommandName(argv: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const m of commandModules) {
    for (const name of m.names) {
      const parts = name.split(' ');
      if (parts.every((p, i) => argv[i] === p) && (!best || parts.length > best.split(' ').length)) best = name;
    }
  }
  return best;
}

export async function loadCommand(name: string): Promise<Command> {
  const m = commandModules.find((x) => x.names.includes(name));
  const c = m && (await m.load()).find((x) => x.name === name);
  if (!c) throw new Error(`command "${name}" is listed but its module does not define it`);
  return c;
}

export async function loadAllCommands(): Promise<Command[]> {
  return (await Promise.all(commandModules.map((m) => m.load()))).flat();
}

export function allCommandNames(): string[] {
  return commandModules.flatMap((m) => m.names);
}
