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

  getpwnam(name: string): PasswdEntry | undefined {
    return this.userByName.get(name);
  }
  getpwuid(uid: number): PasswdEntry | undefined {
    return this.userByUid.get(uid);
  }
  getgrnam(name: string): GroupEntry | undefined {
    return this.groupByName.get(name);
  }
  getgrgid(gid: number): GroupEntry | undefined {
    return this.groupByGid.get(gid);
  }

  /** A user given as a name or a decimal uid: the name first, as tools that take either do. */
  findUser(spec: string): PasswdEntry | undefined {
    return this.getpwnam(spec) ?? (/^\d+$/.test(spec) && Number(spec) <= 4294967295 ? this.getpwuid(Number(spec)) : undefined);
  }

  /** Every uid (gid) that has a passwd (group) line, sorted, without repeats. */
  userIds(): number[] {
    return [...this.userByUid.keys()].sort((a, b) => a - b);
  }
  groupIds(): number[] {
    return [...this.groupByGid.keys()].sort((a, b) => a - b);
  }
}

/** Calls fn for each line that is not blank or a comment (after leading blanks), with its 1-based number. */
function eachDataLine(text: string, fn: (line: string, lineNo: number) => void): void {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    const c = line.charCodeAt(0);
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) line = line.replace(/^[ \t\r\v\f]+/, '');
    if (line === '' || line.charCodeAt(0) === 0x23) continue;
    fn(line, i + 1);
  }
}

/** glibc INT_FIELD with base 10, truncated to a 32-bit id; undefined when not a number. */
function idField(s: string | undefined): number | undefined {
  if (s === undefined || s.length === 0) return undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  return s.length <= 15 ? Number(s) % 4294967296 : Number(BigInt(s) % 4294967296n);
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  eachDataLine(text, (line, lineNo) => {
    const f = line.split(':', 5);
    // NIS compat entries (+name, -name) are not users of the files backend.
    if (f[0] === '' || f[0][0] === '+' || f[0][0] === '-') return;
    const uid = idField(f[2]);
    const gid = idField(f[3]);
    if (uid === undefined || gid === undefined) return;
    out.push({ name: f[0], uid, gid, lineNo });
  });
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  eachDataLine(text, (line, lineNo) => {
    const f = line.split(':', 5);
    if (f[0] === '' || f[0][0] === '+' || f[0][0] === '-') return;
    const gid = idField(f[2]);
    if (gid === undefined) return;
    out.push({ name: f[0], gid, members: f[3] ? f[3].split(',').filter((m) => m !== '') : [], lineNo });
  });
  return out;
}
