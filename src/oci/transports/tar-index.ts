import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ImageError } from '../../errors.js';
import { blobReadBytes } from './layout-store.js';

/**
 * Random access into an uncompressed tar file: one pass over the headers
 * (bodies are skipped by seeking), then members are streamed by offset.
 * This is how oci-archive and docker-archive sources avoid a temp copy.
 */

export interface TarMember {
  name: string;
  /** Offset of the body in the file. */
  offset: number;
  size: number;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  linkname?: string;
}

const blockSize = 512;
/** Header-only reads: a pax or GNU long-name record larger than this is not a real path. */
const maxMetaRecord = 1024 * 1024;

export class TarIndex {
  readonly file: string;
  private readonly members: Map<string, TarMember>;

  private constructor(file: string, members: Map<string, TarMember>) {
    this.file = file;
    this.members = members;
  }

  static async open(file: string, context: { image?: string } = {}): Promise<TarIndex> {
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new ImageError(
        code === 'ENOENT' ? 'ERR_NOT_FOUND' : 'ERR_IO',
        code === 'ENOENT'
          ? `archive '${file}' does not exist`
          : `cannot open archive '${file}': ${(error as Error).message}`,
        { ...context, cause: error },
      );
    }
    try {
      const members = await readHeaders(handle, file, context);
      return new TarIndex(file, members);
    } finally {
      await handle.close();
    }
  }

  /** The member at `name` (normalised: no leading './' or '/'), following hardlinks and symlinks inside the archive. */
  get(name: string): TarMember | undefined {
    let member = this.members.get(normaliseMemberName(name));
    for (let hops = 0; member && hops < maxLinkHops; hops++) {
      if ((member.type === 'hardlink' || member.type === 'symlink') && member.linkname !== undefined) {
        member = this.members.get(linkTarget(member.name, member.type, member.linkname));
      } else {
        return member;
      }
    }
    return member?.type === 'file' ? member : undefined;
  }

  names(): IterableIterator<string> {
    return this.members.keys();
  }

  /** A stream of the member's body (not verified: callers wrap it with verified(), layout-store.ts). */
  stream(member: TarMember): Readable {
    // Node 20 refuses start > end: an empty member is an empty stream.
    if (member.size === 0) return Readable.from([]);
    return createReadStream(this.file, {
      start: member.offset,
      end: member.offset + member.size - 1,
      highWaterMark: blobReadBytes,
    });
  }

  async read(member: TarMember, limit: number, context: { image?: string } = {}): Promise<Buffer> {
    if (member.size > limit) {
      throw new ImageError(
        'ERR_TOO_LARGE',
        `archive member '${member.name}' is over the ${limit}-byte limit`,
        {
          ...context,
          blob: member.name,
        },
      );
    }
    const handle = await open(this.file, 'r');
    try {
      const buffer = Buffer.alloc(member.size);
      const { bytesRead } = await handle.read(buffer, 0, member.size, member.offset);
      if (bytesRead !== member.size) {
        throw new ImageError(
          'ERR_ARCHIVE',
          `archive '${this.file}' is truncated inside '${member.name}'`,
          context,
        );
      }
      return buffer;
    } finally {
      await handle.close();
    }
  }
}

/** Links followed at most when resolving a member: a loop is not followed for ever. */
export const maxLinkHops = 16;

/**
 * The member a link member names: a hard link's target is an archive path; a
 * symlink's is relative to the link's directory, or to the archive's root when absolute.
 */
export function linkTarget(name: string, type: 'hardlink' | 'symlink', linkname: string): string {
  if (type === 'hardlink' || linkname.startsWith('/')) return normaliseMemberName(linkname);
  return normaliseMemberName(name.slice(0, name.lastIndexOf('/') + 1) + linkname);
}

export function normaliseMemberName(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

async function readHeaders(
  handle: FileHandle,
  file: string,
  context: { image?: string },
): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const { size: fileSize } = await handle.stat();
  const header = Buffer.alloc(blockSize);
  let position = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  const corrupt = (why: string) =>
    new ImageError('ERR_ARCHIVE', `'${file}' is not a valid tar archive: ${why}`, { ...context });

  for (;;) {
    const { bytesRead } = await handle.read(header, 0, blockSize, position);
    if (bytesRead === 0) break;
    if (bytesRead < blockSize) throw corrupt(`truncated header at offset ${position}`);
    if (header.every((byte) => byte === 0)) break;
    if (!checksumOk(header)) {
      if (position === 0) {
        const gzip = header[0] === 0x1f && header[1] === 0x8b;
        throw corrupt(gzip ? 'it is gzip-compressed; decompress it first' : 'bad header checksum');
      }
      throw corrupt(`bad header checksum at offset ${position}`);
    }
    const typeflag = String.fromCharCode(header[156] ?? 0x30);
    const meta = typeflag === 'L' || typeflag === 'K' || typeflag === 'x' || typeflag === 'g';
    let size = parseNumeric(header, 124, 12);
    if (size === undefined || size < 0) throw corrupt(`bad size field at offset ${position}`);
    // A pax size (a member over 8 GiB, whose header field says 0) is the body's size: the
    // next header is found after it, not after the header's.
    if (!meta && pax.size !== undefined) {
      size = /^\d+$/.test(pax.size) ? Number(pax.size) : Number.NaN;
      if (!Number.isSafeInteger(size)) throw corrupt(`bad pax size at offset ${position}`);
    }
    const bodyOffset = position + blockSize;
    if (bodyOffset + size > fileSize) throw corrupt(`truncated member at offset ${position}`);
    position = bodyOffset + Math.ceil(size / blockSize) * blockSize;

    if (meta) {
      if (size > maxMetaRecord) throw corrupt('oversized extended header');
      const body = Buffer.alloc(size);
      await handle.read(body, 0, size, bodyOffset);
      if (typeflag === 'L') longName = cString(body, 0, size);
      else if (typeflag === 'K') longLink = cString(body, 0, size);
      else if (typeflag === 'x') pax = parsePax(body);
      continue;
    }

    let name = cString(header, 0, 100);
    const magic = header.toString('latin1', 257, 263);
    if (magic.startsWith('ustar')) {
      const prefix = cString(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    name = pax.path ?? longName ?? name;
    const linkname = pax.linkpath ?? longLink ?? cString(header, 157, 100);
    longName = undefined;
    longLink = undefined;
    pax = {};
    const type =
      typeflag === '0' || typeflag === '\0' || typeflag === '7'
        ? 'file'
        : typeflag === '5'
          ? 'dir'
          : typeflag === '2'
            ? 'symlink'
            : typeflag === '1'
              ? 'hardlink'
              : 'other';
    const member: TarMember = {
      name: normaliseMemberName(name),
      offset: bodyOffset,
      size,
      type,
    };
    if (type === 'symlink' || type === 'hardlink') member.linkname = linkname;
    members.set(member.name, member);
  }
  return members;
}

function cString(buffer: Buffer, start: number, length: number): string {
  const end = buffer.indexOf(0, start);
  return buffer.toString('utf8', start, end < 0 || end > start + length ? start + length : end);
}

function parseNumeric(buffer: Buffer, start: number, length: number): number | undefined {
  const first = buffer[start] ?? 0;
  if (first & 0x80) {
    // GNU base-256 for sizes over 8 GiB.
    let value = 0;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + (buffer[i] ?? 0);
    return value;
  }
  const text = cString(buffer, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return Number.parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  const stored = parseNumeric(header, 148, 8);
  if (stored === undefined) return false;
  let sum = 0;
  for (let i = 0; i < blockSize; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  return sum === stored;
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number.parseInt(body.toString('latin1', offset, space), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = body.toString('utf8', space + 1, offset + length - 1);
    const equals = record.indexOf('=');
    if (equals > 0) out[record.slice(0, equals)] = record.slice(equals + 1);
    offset += length;
  }
  return out;
}
