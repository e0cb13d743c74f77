import type { Command } from './command.js';

/**
 * Man pages in roff (man macros), generated from the same definitions that
 * print --help: fsidmap(1) lists every command, fsidmap-COMMAND(1) holds one
 * command's usage. The usage text is hand-formatted for a terminal, so it is
 * kept as is (no filling); only the options list is rebuilt from the spec.
 */
export const TOP_SUMMARY = 'filesystem id mappings for Linux user namespaces';

export function manPageName(command: Command): string {
  return `fsidmap-${command.name.replace(/ /g, '-')}`;
}

export function topManPage(commands: readonly Command[], version: string): string {
  const list = [...commands].sort((a, b) => a.name.localeCompare(b.name));
  return [
    header('FSIDMAP', version),
    '.SH NAME',
    `fsidmap \\- ${text(TOP_SUMMARY)}`,
    '.SH SYNOPSIS',
    '.B fsidmap',
    '.I COMMAND',
    '[\\fIOPTIONS\\fR]',
    '.br',
    '.B fsidmap',
    '.I COMMAND',
    '.B \\-\\-help',
    '.SH COMMANDS',
    ...list.flatMap((c) => ['.TP', `.B fsidmap ${text(c.name)}`, filled(c.summary)]),
    '.SH EXIT STATUS',
    '0 success; 1 the answer is no, or the operation failed; 2 a usage error; 70 a bug in fsidmap.',
    '.SH SEE ALSO',
    list.map((c, i) => `.BR ${manPageName(c)} (1)${i < list.length - 1 ? ',' : ''}`).join('\n'),
    '',
  ].join('\n');
}

export function commandManPage(command: Command, version: string): string {
  const [synopsis, ...rest] = command.usage.split(/\n\s*\n/);
  const options = Object.entries(command.options).sort(([a], [b]) => a.localeCompare(b));
  return [
    header(manPageName(command).toUpperCase(), version),
    '.SH NAME',
    `${manPageName(command)} \\- ${filled(command.summary)}`,
    '.SH SYNOPSIS',
    '.nf',
    ...verbatim(synopsis),
    '.fi',
    ...(rest.length > 0 ? ['.SH DESCRIPTION', '.nf', ...verbatim(rest.join('\n\n')), '.fi'] : []),
    '.SH OPTIONS',
    ...options.flatMap(([name, spec]) => [
      '.TP',
      `${spec.short ? `\\fB\\-${spec.short}\\fR, ` : ''}\\fB${text(`--${name}`)}\\fR${spec.type === 'string' ? ' \\fIVALUE\\fR' : ''}`,
      filled(describe(command.usage, name) + (spec.multiple ? ' (may be given more than once)' : '')),
    ]),
    '.TP',
    '\\fB\\-h\\fR, \\fB\\-\\-help\\fR',
    'print the usage and exit',
    '.SH SEE ALSO',
    '.BR fsidmap (1)',
    '',
  ].join('\n');
}

function header(title: string, version: string): string {
  // Left-adjusted and unhyphenated: option values like {"ok","errno",…} are long words that justification cannot fit.
  return `.TH ${title} 1 "" "fsidmap ${text(version)}" "User Commands"\n.ad l\n.nh`;
}

/** What the usage says of --name on the line that starts with it, or a plain fallback. */
function describe(usage: string, name: string): string {
  const named = new RegExp(`--${name}(?![\\w-])`);
  for (const l of usage.split('\n')) {
    const [column, said] = l.trim().split(/\s{2,}/);
    if (/^\s+-/.test(l) && said !== undefined && named.test(column)) return said;
  }
  return 'see DESCRIPTION';
}

/** Text safe in roff: backslashes escaped, hyphens as minus signs, no line taken for a request. */
function text(s: string): string {
  return s.replace(/\\/g, '\\e').replace(/-/g, '\\-');
}

/** A line of text that roff cannot take for a request (one starting with . or '). */
function line(s: string): string {
  return text(s).replace(/^([.'])/, '\\&$1');
}

/** A line of filled text: it may also break after a comma or slash, where a JSON shape or a path is longer than the page is wide. */
function filled(s: string): string {
  return line(s).replace(/([,/])(?=\S)/g, '$1\\:');
}

function verbatim(block: string): string[] {
  return block.split('\n').map((l) => (l === '' ? '.sp' : line(l)));
}
