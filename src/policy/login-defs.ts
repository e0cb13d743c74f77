/**
 * /etc/login.defs as shadow's def_load reads it (lib/getdef.c, Debian builds
 * without libeconf): per line, trailing blanks trimmed; the name is the first
 * word; the value starts after blanks and double quotes and ends at the next
 * double quote; a later definition replaces an earlier one. getdef_bool is
 * true only for a value equal to "yes" ignoring case. Pure.
 */
export function parseLoginDefs(text: string): Map<string, string> {
  const defs = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[ \t\n\v\f\r]+$/, '');
    const name = line.replace(/^[ \t]+/, '');
    if (name === '' || name[0] === '#') continue;
    const sep = name.search(/[ \t]/);
    if (sep < 0) continue;
    let value = name.slice(sep + 1).replace(/^[ "\t]+/, '');
    const quote = value.indexOf('"');
    if (quote >= 0) value = value.slice(0, quote);
    defs.set(name.slice(0, sep), value);
  }
  return defs;
}

export function getdefBool(defs: Map<string, string>, item: string): boolean {
  return defs.get(item)?.toLowerCase() === 'yes';
}
