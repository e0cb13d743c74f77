/**
 * /etc/passwd and /etc/group as glibc's "files" NSS backend reads them for
 * getpwnam/getpwuid/getgrnam/getgrgid: blank lines and lines starting with
 * '#' (after leading blanks) are skipped, and so are lines whose id fields
 * are not numbers; lookups return the first matching line. Pure.
 */

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly lineNo: number;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
  readonly lineNo: number;
}

export class Accounts {
  readonly users: readonly PasswdEntry[];
  readonly groups: readonly GroupEntry[];
  private readonly userByName = new Map<string, PasswdEntry>();
  private readonly userByUid = new Map<number, PasswdEntry>();
  private readonly groupByName = new Map<string, GroupEntry>();
  private readonly groupByGid = new Map<number, GroupEntry>();

  constructor(users: readonly PasswdEntry[], groups: readonly GroupEntry[] = []) {
    this.users = users;
    this.groups = groups;
    // First match wins, as in a linear scan of the file.
    for (const u of users) {
      if (!this.userByName.has(u.name)) this.userByName.set(u.name, u);
      if (!this.userByUid.has(u.uid)) this.userByUid.set(u.uid, u);
    }
    for (const g of groups) {
      if (!this.groupByName.has(g.name)) this.groupByName.set(g.name, g);
      if (!this.groupByGid.has(g.gid)) this.groupByGid.set(g.gid, g);
    }
  }

  static parse(passwdText: string, groupText = ''): Accounts {
    return new Accounts(parsePasswd(passwdText), parseGroup(groupText));
  }

  getpwnam(name: string): PasswdEntry | undefined { return this.userByName.get(name); }
  getpwuid(uid: number): PasswdEntry | undefined { return this.userByUid.get(uid); }
  getgrnam(name: string): GroupEntry | undefined { return this.groupByName.get(name); }
  getgrgid(gid: number): GroupEntry | undefined { return this.groupByGid.get(gid); }

  /** A user given as a name or a decimal uid: the name first, as tools that take either do. */
  findUser(spec: string): PasswdEntry | undefined {
    return this.getpwnam(spec) ?? (/^\d+$/.test(spec) && Number(spec) <= 4294967295 ? this.getpwuid(Number(spec)) : undefined);
  }

  /** Every uid (gid) that has a passwd (group) line, sorted, without repeats. */
  userIds(): number[] { return [...this.userByUid.keys()].sort((a, b) => a - b); }
  groupIds(): number[] { return [...this.groupByGid.keys()].sort((a, b) => a - b); }
}

function* dataLines(text: string): Generator<[string, number]> {
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.replace(/^[ \t\r\v\f]+/, '');
    if (line === '' || line[0] === '#') continue;
    yield [line, lineNo];
  }
}

/** glibc INT_FIELD with base 10, truncated to a 32-bit id; undefined when not a number. */
function idField(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  return Number(BigInt(s) % 4294967296n);
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const [line, lineNo] of dataLines(text)) {
    const f = line.split(':');
    // NIS compat entries (+name, -name) are not users of the files backend.
    if (f[0] === '' || f[0][0] === '+' || f[0][0] === '-') continue;
    const uid = idField(f[2]);
    const gid = idField(f[3]);
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, lineNo });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const [line, lineNo] of dataLines(text)) {
    const f = line.split(':');
    if (f[0] === '' || f[0][0] === '+' || f[0][0] === '-') continue;
    const gid = idField(f[2]);
    if (gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').filter((m) => m !== ''), lineNo });
  }
  return out;
}
