import type { ContentProbe } from './facts.js';

/**
 * Content probes (see ContentProbe in facts.ts), fed a file's body chunk by
 * chunk. Each keeps a bounded amount of state and records a short string.
 */

/** Bytes of an executable read for 'shebang' and 'elf'. */
export const headProbeBytes = 256;
/** Largest file searched for a private key. */
export const privateKeyProbeMaxSize = 1024 * 1024;

const beginMarker = Buffer.from('-----BEGIN ', 'latin1');
/** Longest PEM label we look for ('ENCRYPTED PRIVATE KEY' is 21). */
const maxLabelBytes = 64;
/** Bytes carried over a chunk boundary: a marker split in two is still found. */
const carryBytes = beginMarker.length + maxLabelBytes + 5;

const labelPattern = /^((?:[A-Z0-9]+ )*PRIVATE KEY)-----/;

export interface ProbePlan {
  head: boolean;
  shebang: boolean;
  elf: boolean;
  privateKey: boolean;
}

/** Which probes apply to a regular file of this mode and size; undefined when none does. */
export function planProbes(
  probes: ReadonlySet<ContentProbe>,
  mode: number,
  size: number,
): ProbePlan | undefined {
  if (size === 0) return undefined;
  const executable = (mode & 0o111) !== 0;
  const shebang = executable && probes.has('shebang');
  const elf = executable && probes.has('elf');
  const privateKey = size <= privateKeyProbeMaxSize && probes.has('private-key');
  if (!shebang && !elf && !privateKey) return undefined;
  return { head: shebang || elf, shebang, elf, privateKey };
}

export class ProbeRunner {
  private readonly plan: ProbePlan;
  private head: Buffer | undefined;
  private headLength = 0;
  private carry: Buffer | undefined;
  private keyLabel: string | undefined;

  constructor(plan: ProbePlan) {
    this.plan = plan;
    if (plan.head) this.head = Buffer.allocUnsafe(headProbeBytes);
  }

  /** True while a chunk could still change a result. */
  get wantsMore(): boolean {
    return (
      (this.plan.head && this.headLength < headProbeBytes) ||
      (this.plan.privateKey && this.keyLabel === undefined)
    );
  }

  update(chunk: Buffer): void {
    if (this.head && this.headLength < headProbeBytes) {
      this.headLength += chunk.copy(this.head, this.headLength, 0, headProbeBytes - this.headLength);
    }
    if (this.plan.privateKey && this.keyLabel === undefined) this.searchKey(chunk);
  }

  results(): Partial<Record<ContentProbe, string>> | undefined {
    let results: Partial<Record<ContentProbe, string>> | undefined;
    if (this.head) {
      const head = this.head.subarray(0, this.headLength);
      if (this.plan.shebang && head.length >= 2 && head[0] === 0x23 && head[1] === 0x21) {
        const newline = head.indexOf(0x0a);
        let line = head.subarray(0, newline === -1 ? head.length : newline).toString('utf8');
        if (line.endsWith('\r')) line = line.slice(0, -1);
        results = { shebang: line };
      }
      if (
        this.plan.elf &&
        head.length >= 4 &&
        head[0] === 0x7f &&
        head[1] === 0x45 &&
        head[2] === 0x4c &&
        head[3] === 0x46
      ) {
        results = { ...results, elf: 'elf' };
      }
    }
    if (this.keyLabel !== undefined) results = { ...results, 'private-key': this.keyLabel };
    return results;
  }

  private searchKey(chunk: Buffer): void {
    if (this.carry) {
      // A marker across the boundary: search the carried tail joined to the start of this chunk.
      const joined = Buffer.concat([this.carry, chunk.subarray(0, carryBytes)]);
      const label = findPrivateKeyLabel(joined);
      if (label !== undefined) {
        this.keyLabel = label;
        return;
      }
    }
    const label = findPrivateKeyLabel(chunk);
    if (label !== undefined) {
      this.keyLabel = label;
      return;
    }
    const tail = chunk.length > carryBytes ? chunk.subarray(chunk.length - carryBytes) : chunk;
    this.carry =
      this.carry && chunk.length < carryBytes ? Buffer.concat([this.carry, tail]) : Buffer.from(tail);
    if (this.carry.length > carryBytes) this.carry = this.carry.subarray(this.carry.length - carryBytes);
  }
}

/** The PEM label of the first '-----BEGIN <label>PRIVATE KEY-----' in `data`, if any. */
export function findPrivateKeyLabel(data: Buffer): string | undefined {
  let at = data.indexOf(beginMarker);
  while (at !== -1) {
    const start = at + beginMarker.length;
    const window = data.toString('latin1', start, Math.min(data.length, start + maxLabelBytes + 5));
    const match = labelPattern.exec(window);
    if (match) return match[1];
    at = data.indexOf(beginMarker, start);
  }
  return undefined;
}
