/**
 * Parsers for /etc/passwd and /etc/group as found in images: tolerant of
 * comments, blank lines, CRLF line ends, short lines and NIS '+'/'-' lines.
 * A line is kept when it has a name and a numeric id; the first line for a
 * name or id wins, as getpwnam(3) and getpwuid(3) would answer.
 */

/** How the body of a file was obtained from the merged view. */
export type ReadStatus = 'ok' | 'truncated' | 'absent' | 'not-captured' | 'not-file';

export interface PasswdEntry {
  name: string;
  uid: number;
  /** Missing on a short line. */
  gid?: number;
  gecos?: string;
  home?: string;
  shell?: string;
  /** 1-based line number in the file. */
  line: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
  /** Supplementary members (fourth field), empty names dropped. */
  members: string[];
  line: number;
}

/** A parsed account file with lookups; `status` says whether the file could be read at all. */
export class AccountFile<T extends { name: string }> {
  readonly status: ReadStatus;
  readonly entries: readonly T[];
  /** Lines that are neither blank, comments nor usable entries (1-based). */
  readonly badLines: readonly number[];
  private readonly names = new Map<string, T>();
  private readonly ids = new Map<number, T>();

  constructor(status: ReadStatus, entries: T[], badLines: number[], idOf: (entry: T) => number) {
    this.status = status;
    this.entries = entries;
    this.badLines = badLines;
    for (const entry of entries) {
      if (!this.names.has(entry.name)) this.names.set(entry.name, entry);
      const id = idOf(entry);
      if (!this.ids.has(id)) this.ids.set(id, entry);
    }
  }

  /** True when the file's content is known (completely or as a prefix). */
  get readable(): boolean {
    return this.status === 'ok' || this.status === 'truncated';
  }

  byName(name: string): T | undefined {
    return this.names.get(name);
  }

  byId(id: number): T | undefined {
    return this.ids.get(id);
  }
}

export type PasswdFile = AccountFile<PasswdEntry>;
export type GroupFile = AccountFile<GroupEntry>;

const numeric = /^\d+$/;

function parseId(field: string | undefined): number | undefined {
  if (field === undefined) return undefined;
  const trimmed = field.trim();
  if (!numeric.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Split a file into lines; with `truncated`, the last line may be cut short
 * and is dropped.
 */
function lines(text: string, truncated: boolean): string[] {
  const all = text.split('\n');
  if (truncated && all.length > 0) all.pop();
  return all;
}

function isSkippable(line: string): boolean {
  const trimmed = line.trim();
  return trimmed === '' || trimmed.startsWith('#');
}

/**
 * The shared shape of passwd(5) and group(5): colon-separated records, a name
 * first and a numeric id third; comments, blank and NIS (+/-) lines skipped,
 * malformed ones recorded by line number.
 */
function parseRecords<T>(
  text: string,
  status: ReadStatus,
  build: (name: string, id: number, fields: string[], line: number) => T,
): { entries: T[]; bad: number[] } {
  const entries: T[] = [];
  const bad: number[] = [];
  lines(text, status === 'truncated').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (isSkippable(line)) return;
    const fields = line.split(':');
    const name = fields[0]?.trim() ?? '';
    const id = parseId(fields[2]);
    if (name === '' || name.startsWith('+') || name.startsWith('-') || id === undefined) {
      bad.push(index + 1);
      return;
    }
    entries.push(build(name, id, fields, index + 1));
  });
  return { entries, bad };
}

export function parsePasswd(text: string, status: ReadStatus = 'ok'): PasswdFile {
  const { entries, bad } = parseRecords(text, status, (name, uid, fields, line) => {
    const entry: PasswdEntry = { name, uid, line };
    const gid = parseId(fields[3]);
    if (gid !== undefined) entry.gid = gid;
    if (fields[4] !== undefined) entry.gecos = fields[4];
    if (fields[5] !== undefined && fields[5] !== '') entry.home = fields[5];
    if (fields[6] !== undefined && fields[6] !== '') entry.shell = fields[6];
    return entry;
  });
  return new AccountFile(status, entries, bad, (entry) => entry.uid);
}

export function parseGroup(text: string, status: ReadStatus = 'ok'): GroupFile {
  const { entries, bad } = parseRecords(text, status, (name, gid, fields, line): GroupEntry => {
    const members = (fields[3] ?? '')
      .split(',')
      .map((member) => member.trim())
      .filter((member) => member !== '');
    return { name, gid, members, line };
  });
  return new AccountFile(status, entries, bad, (entry) => entry.gid);
}

/** An account file that could not be read: no entries, and the reason. */
export function unreadable<T extends { name: string }>(status: ReadStatus): AccountFile<T> {
  return new AccountFile<T>(status, [], [], () => -1);
}
