import { UsageError } from '../../errors.js';
import { FSID_SEMANTICS, type FsidSemantics } from '../../userns/namespace.js';
import { formatReport } from '../../scenario/table.js';
import { simulateFile } from '../../scenario/load.js';
import { type Command, defineCommand, flag, str, write, writeJson } from '../command.js';
import { explainCommand } from './userns-explain.js';

export const simulateCommand = defineCommand({
  name: 'simulate',
  summary: 'run a scenario file (namespaces, maps, processes, a tree, operations) through the model',
  usage: `fsidmap simulate [--json] [--trace] [--semantics v3|v2|off] FILE...

Sets up the namespaces, processes, filesystems and mounts a scenario file
declares, runs its steps through the model of the kernel (with fsid maps),
and prints one row per step: the operation, its result, the expected result
and the reason (which map, which rule, which capability).

  --json            one JSON object per file: {"file","name","semantics","ok",
                    "mismatches","steps":[{"index","op","as","target","result",
                    "expected","match","mismatch","value","rule","reason","trace"}],
                    "sameResultsAs":{"file","differences"}|null}
  --trace           also print every rule consulted for each step
  --semantics S     run as v3 (default: the file's), v2, or off (today's kernel)

Exit status: 0 when every expectation holds (and a sameResultsAs scenario gives
the same results); 1 when one does not, or the file is not a valid scenario
(ERR_SCENARIO_INVALID, ERR_SCENARIO_SETUP: the message names the field);
2 for usage errors and unreadable files.`,
  options: { json: { type: 'boolean' }, trace: { type: 'boolean' }, semantics: { type: 'string' } },
  async run(args, io) {
    if (args.positionals.length === 0)
      throw new UsageError('fsidmap simulate: give at least one scenario FILE', 'see fsidmap simulate --help; examples are in scenarios/');
    const sem = str(args, 'semantics');
    if (sem !== undefined && !(FSID_SEMANTICS as readonly string[]).includes(sem))
      throw new UsageError(`--semantics must be v3, v2 or off, got "${sem}"`);
    let ok = true;
    for (const file of args.positionals) {
      const r = simulateFile(file, sem === undefined ? {} : { semantics: sem as FsidSemantics });
      ok &&= r.ok;
      if (flag(args, 'json')) {
        const steps = r.report.steps.map((s) => (flag(args, 'trace') ? s : { ...s, trace: undefined }));
        writeJson(io, { file, ...r.report, steps, sameResultsAs: r.sameResultsAs });
        continue;
      }
      io.stdout.write(formatReport(r.report, { trace: flag(args, 'trace') }));
      if (r.sameResultsAs) {
        const d = r.sameResultsAs.differences;
        write(
          io.stdout,
          d.length === 0
            ? `same results as ${r.sameResultsAs.file}: yes`
            : `DIFFERS from ${r.sameResultsAs.file}:\n${d.map((x) => `  ${x}`).join('\n')}`,
        );
      }
      if (args.positionals.length > 1) io.stdout.write('\n');
    }
    return ok ? 0 : 1;
  },
});

export const usernsCommands: Command[] = [simulateCommand, explainCommand];
