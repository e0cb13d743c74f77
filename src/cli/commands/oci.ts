import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { type Command, defineCommand, flag, str, strs, write } from '../command.js';
import { readMapArg } from '../map-arg.js';
import { containerOptions, mapPair, networkOption } from './run.js';

export const ociConfigCommand = defineCommand({
  name: 'oci config',
  keepsRest: true,
  summary: 'print the OCI runtime config.json of the container fsidmap run would start (for crun, runc, …)',
  usage: `fsidmap oci config [--name NAME] (--idmap MAP | --uidmap MAP --gidmap MAP)
            [--fsidmap MAP | --fsuidmap MAP --fsgidmap MAP | --fs NAME] --rootfs DIR [--root-path P]
            [--volume SRC:DST[:ro][:fsidmap=MAP]]... [--user UID[:GID]] [--hostname H]
            [--env KEY=VALUE]... [--env-file FILE]... [--workdir DIR] [--output FILE] [--json] -- CMD [ARGS...]

Writes the OCI runtime-spec config.json (runtime-spec 1.1.0) of the container
that fsidmap run, given the same options, would start: the same checks and the
same plan make both. linux.uidMappings/gidMappings are the id map; the
namespaces are run's (user, mount, pid, ipc, uts; network with --network none); proc,
/dev, /dev/pts, /dev/shm and /tmp as run mounts them; each volume is a bind
mount whose uidMappings/gidMappings are its mount map (on-disk id as
containerID, the id seen as hostID: fsidmap map mount-map); process args, env,
cwd, user and capabilities are run's.

The runtime-spec's root has no id maps, so a rootfs with an fsid map must be
idmapped already: mount it with fsidmap mount (same --idmap and --fsidmap) and
pass that mount point as --root-path; it is checked to be that rootfs, idmapped,
with its root owned as the maps say. Without an fsid map root.path is the rootfs.

Honoured by crun 1.8 (Debian 12): volumes with mount maps work. runc 1.1 ignores
mount maps (the volume becomes a plain bind mount): use runc ≥ 1.2, or crun.
See docs/oci-config.md.

  --root-path P    root.path: an idmapped mount of the rootfs (fsidmap mount)
  --output FILE    write config.json to FILE (atomically: a reader sees the old or the whole new file)
  --json           errors as one JSON line ({"error":{"code",…}}); the config is JSON either way
  the other options as in fsidmap run. Refused: --image (an image's overlay rootfs
  cannot be named in config.json yet), --allocate (allocate first and pass --idmap),
  and a run without --rootfs.
Exit status: 0 written; 1 refused; 2 bad input.`,
  options: {
    ...containerOptions,
    'root-path': { type: 'string' },
    output: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const oci = await import('../../oci-config/index.js');
    const c = await import('../../container/index.js');
    const glue = await import('./run-image.js');
    if (args.positionals.length > 0)
      throw new UsageError(
        `unexpected argument "${args.positionals[0]}" before --`,
        'put the command after --: fsidmap oci config [OPTIONS] -- CMD [ARGS...]',
      );
    oci.refuseInexpressible({ image: str(args, 'image'), allocate: flag(args, 'allocate'), rootfs: str(args, 'rootfs') });
    if (args.rest.length === 0) throw new UsageError('fsidmap oci config: no command', 'put the command after --, as for fsidmap run');
    const idPair = mapPair(args, '', 'id map');
    if (!idPair) throw new UsageError('fsidmap oci config needs --idmap or --uidmap/--gidmap', 'see fsidmap oci config --help');
    const fsPair = mapPair(args, 'fs', 'fsid map');
    const fsName = str(args, 'fs');
    if (fsPair && fsName !== undefined) throw new UsageError('--fs NAME and --fsidmap give the fsid map twice: choose one');
    const volumes = strs(args, 'volume').map((v) =>
      c.parseVolumeArg(v, (text, what) => {
        const m = readMapArg(text, what);
        return { uid: m, gid: m };
      }),
    );
    const name = str(args, 'name'),
      user = str(args, 'user'),
      hostname = str(args, 'hostname'),
      workdir = str(args, 'workdir'),
      rootPath = str(args, 'root-path'),
      output = str(args, 'output'),
      network = networkOption(str(args, 'network'));
    const env = glue.envOverrides(strs(args, 'env-file'), strs(args, 'env'), io.env);
    const privilege = fsName !== undefined ? await import('../../privilege/index.js') : null;
    const registry = privilege ? await privilege.chooseRunRegistry(io.env) : undefined;
    try {
      const { config, warnings } = await oci.ociConfigFor(
        {
          ...(name !== undefined ? { name } : {}),
          ids: { kind: 'maps', maps: idPair },
          fs: fsPair ? { kind: 'maps', maps: fsPair } : fsName !== undefined ? { kind: 'registry', name: fsName } : { kind: 'none' },
          rootfs: str(args, 'rootfs')!,
          volumes,
          ...(user !== undefined ? { user: c.parseUserArg(user) } : {}),
          ...(hostname !== undefined ? { hostname } : {}),
          env,
          ...(workdir !== undefined ? { workdir } : {}),
          ...(network !== undefined ? { network } : {}),
          command: args.rest,
          ...(registry ? { registry } : {}),
        },
        { ...(rootPath !== undefined ? { rootPath } : {}), env: io.env },
      );
      for (const w of warnings) write(io.stderr, `fsidmap: note: ${w}`);
      const text = `${JSON.stringify(config, null, 2)}\n`;
      if (output === undefined) io.stdout.write(text);
      else oci.writeFileAtomic(resolve(output), text);
      return 0;
    } finally {
      await registry?.close();
    }
  },
});

export const ociCommands: Command[] = [ociConfigCommand];
