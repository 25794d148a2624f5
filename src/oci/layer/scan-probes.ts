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

/**
 * Runs a plan's probes over one body at a time, chunk by chunk. One runner
 * serves every body of a layer (tar bodies come one after the other): its
 * buffers are allocated once, not per file, and `reset` starts the next body.
 */
export class ProbeRunner {
  private plan: ProbePlan;
  private readonly head = Buffer.allocUnsafe(headProbeBytes);
  private headLength = 0;
  /** Body bytes not yet seen: when none are left, no carry is kept for a next chunk. */
  private remaining = Number.POSITIVE_INFINITY;
  /** The last bytes seen (at most carryBytes), searched joined to the next chunk's start. */
  private readonly carry = Buffer.allocUnsafe(carryBytes);
  private carryLength = 0;
  private readonly joined = Buffer.allocUnsafe(2 * carryBytes);
  private keyLabel: string | undefined;

  /** `size`: the body's length when known (its last chunk then leaves no carry behind). */
  constructor(plan: ProbePlan, size?: number) {
    this.plan = plan;
    this.reset(plan, size);
  }

  /** Starts over for the next body. */
  reset(plan: ProbePlan, size?: number): void {
    this.plan = plan;
    this.headLength = 0;
    this.remaining = size ?? Number.POSITIVE_INFINITY;
    this.carryLength = 0;
    this.keyLabel = undefined;
  }

  /** True while a chunk could still change a result. */
  get wantsMore(): boolean {
    return (
      (this.plan.head && this.headLength < headProbeBytes) ||
      (this.plan.privateKey && this.keyLabel === undefined)
    );
  }

  update(chunk: Buffer): void {
    this.remaining -= chunk.length;
    if (this.plan.head && this.headLength < headProbeBytes) {
      this.headLength += chunk.copy(this.head, this.headLength, 0, headProbeBytes - this.headLength);
    }
    if (this.plan.privateKey && this.keyLabel === undefined) this.searchKey(chunk);
  }

  results(): Partial<Record<ContentProbe, string>> | undefined {
    let results: Partial<Record<ContentProbe, string>> | undefined;
    if (this.plan.head) {
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
    if (this.carryLength > 0) {
      // A marker across the boundary: search the carried tail joined to the start of this chunk.
      const take = Math.min(chunk.length, carryBytes);
      this.carry.copy(this.joined, 0, 0, this.carryLength);
      chunk.copy(this.joined, this.carryLength, 0, take);
      const label = findPrivateKeyLabel(this.joined.subarray(0, this.carryLength + take));
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
    // The body's last chunk (most bodies have only one): nothing to join the tail to.
    if (this.remaining <= 0) return;
    // The carry becomes the last carryBytes of (carry + chunk).
    if (chunk.length >= carryBytes) {
      chunk.copy(this.carry, 0, chunk.length - carryBytes);
      this.carryLength = carryBytes;
    } else {
      const kept = Math.min(this.carryLength, carryBytes - chunk.length);
      this.carry.copyWithin(0, this.carryLength - kept, this.carryLength);
      chunk.copy(this.carry, kept);
      this.carryLength = kept + chunk.length;
    }
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
