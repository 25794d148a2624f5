/**
 * A lean push parser for the tar streams of image layers: ustar, GNU (long
 * names 'L'/'K', base-256 numbers) and pax ('x' records: path, linkpath,
 * size, uid, gid). It parses headers in place and hands bodies to the caller
 * as slices of the chunks it is given, with no per-entry stream objects: a
 * layer of 200k small files costs little more than its headers.
 *
 * Measured against tar-stream on 50k small files (bench/layer-throughput.mjs):
 * ~45 ms against ~200-250 ms. tar-stream stays a dev-time oracle in the tests.
 *
 * Global pax headers ('g') are skipped, as containerd's applier does.
 * Parsing stops at the end-of-archive marker (two zero blocks); what follows
 * is ignored (the caller still hashes it: it is part of the diffId).
 */

export const blockSize = 512;
/** A pax or GNU long-name record larger than this is refused (no real path is that long). */
export const maxMetaRecordBytes = 1024 * 1024;

export interface TarHeader {
  /** The entry name as stored (pax/GNU long names applied), not normalised. */
  name: string;
  /** The raw type flag ('0', '5', 'L'...); '\0' and '7' read as '0', v7 '0' with a trailing '/' as '5'. */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  /** Body size in the archive. */
  size: number;
  linkname: string;
  /** Offset of the header in the uncompressed stream (for error messages). */
  offset: number;
}

/** Receives one entry's body in order, as slices of the parser's input (copy what you keep). */
export interface BodyConsumer {
  data(chunk: Buffer): void;
  end(): void;
}

/** Called for each entry header; return a consumer for its body, or undefined to skip the body. */
export type EntryVisitor = (header: TarHeader) => BodyConsumer | undefined;

export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

enum State {
  Header,
  Body,
  Meta,
  Padding,
  Done,
}

interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
}

export class TarParser {
  private readonly visit: EntryVisitor;
  private state = State.Header;
  /** Partial header across chunks. */
  private readonly headerBuffer = Buffer.alloc(blockSize);
  private headerFill = 0;
  /** Bytes left in the current body, meta record or padding. */
  private remaining = 0;
  private padding = 0;
  private consumer: BodyConsumer | undefined;
  private meta: Buffer | undefined;
  private metaFill = 0;
  private metaType = '';
  private pending: Pending | undefined;
  private zeroBlocks = 0;
  /** Uncompressed bytes consumed so far. */
  offset = 0;
  entries = 0;

  constructor(visit: EntryVisitor) {
    this.visit = visit;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  write(chunk: Buffer): void {
    let at = 0;
    const length = chunk.length;
    while (at < length) {
      switch (this.state) {
        case State.Header: {
          if (this.headerFill === 0 && length - at >= blockSize) {
            this.header(chunk, at);
            at += blockSize;
            this.offset += blockSize;
          } else {
            const take = Math.min(blockSize - this.headerFill, length - at);
            chunk.copy(this.headerBuffer, this.headerFill, at, at + take);
            this.headerFill += take;
            at += take;
            this.offset += take;
            if (this.headerFill === blockSize) {
              this.headerFill = 0;
              this.header(this.headerBuffer, 0);
            }
          }
          break;
        }
        case State.Body: {
          const take = Math.min(this.remaining, length - at);
          if (this.consumer) this.consumer.data(chunk.subarray(at, at + take));
          at += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) this.endBody();
          break;
        }
        case State.Meta: {
          const take = Math.min(this.remaining, length - at);
          chunk.copy(this.meta as Buffer, this.metaFill, at, at + take);
          this.metaFill += take;
          at += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) this.endMeta();
          break;
        }
        case State.Padding: {
          const take = Math.min(this.padding, length - at);
          at += take;
          this.offset += take;
          this.padding -= take;
          if (this.padding === 0) this.state = State.Header;
          break;
        }
        case State.Done:
          this.offset += length - at;
          return;
      }
    }
  }

  /** End of input: throws when it cuts an entry or a header short. */
  end(): void {
    if (this.state === State.Done) return;
    if (this.state === State.Header && this.headerFill === 0 && this.pending === undefined) return;
    throw new TarFormatError(`unexpected end of tar data at offset ${this.offset}`);
  }

  private endBody(): void {
    const consumer = this.consumer;
    this.consumer = undefined;
    this.state = this.padding > 0 ? State.Padding : State.Header;
    consumer?.end();
  }

  private header(block: Buffer, at: number): void {
    if (block[at] === 0 && isZeroBlock(block, at)) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.state = State.Done;
      return;
    }
    this.zeroBlocks = 0;
    const headerOffset = this.offset - blockSize;
    checkChecksum(block, at, headerOffset);
    let typeflag = block[at + 156] === 0 ? '0' : String.fromCharCode(block[at + 156] as number);
    const size = readNumber(block, at + 124, 12, headerOffset);

    if (typeflag === 'x' || typeflag === 'L' || typeflag === 'K' || typeflag === 'g') {
      if (size > maxMetaRecordBytes) {
        throw new TarFormatError(
          `tar ${describeMeta(typeflag)} record of ${size} bytes at offset ${headerOffset}`,
        );
      }
      this.metaType = typeflag;
      this.meta = Buffer.allocUnsafe(size);
      this.metaFill = 0;
      this.remaining = size;
      this.padding = padTo(size);
      this.state = State.Meta;
      if (size === 0) this.endMeta();
      return;
    }

    let name = readString(block, at, 100);
    const magic = block.toString('latin1', at + 257, at + 263);
    if (magic === 'ustar\0' && block[at + 345] !== 0) {
      name = `${readString(block, at + 345, 155)}/${name}`;
    }
    if (typeflag === '7') typeflag = '0';
    if (typeflag === '0' && name.endsWith('/')) typeflag = '5';
    const header: TarHeader = {
      name,
      typeflag,
      mode: readNumber(block, at + 100, 8, headerOffset),
      uid: readNumber(block, at + 108, 8, headerOffset),
      gid: readNumber(block, at + 116, 8, headerOffset),
      size,
      linkname: block[at + 157] === 0 ? '' : readString(block, at + 157, 100),
      offset: headerOffset,
    };
    const pending = this.pending;
    if (pending) {
      this.pending = undefined;
      if (pending.path !== undefined) header.name = pending.path;
      if (pending.linkpath !== undefined) header.linkname = pending.linkpath;
      if (pending.size !== undefined) header.size = pending.size;
      if (pending.uid !== undefined) header.uid = pending.uid;
      if (pending.gid !== undefined) header.gid = pending.gid;
    }
    this.entries++;
    // Hard links, symlinks, devices and directories carry no body in layers; a size on them is skipped.
    this.consumer = this.visit(header);
    this.remaining = header.size;
    this.padding = padTo(header.size);
    if (header.size === 0) {
      this.endBody();
    } else {
      this.state = State.Body;
    }
  }

  private endMeta(): void {
    const record = (this.meta as Buffer).subarray(0, this.metaFill);
    this.meta = undefined;
    this.state = this.padding > 0 ? State.Padding : State.Header;
    const pending = this.pending ?? {};
    switch (this.metaType) {
      case 'L':
        pending.path = trimNul(record);
        break;
      case 'K':
        pending.linkpath = trimNul(record);
        break;
      case 'x':
        parsePax(record, pending, this.offset);
        break;
      default:
        // 'g': global pax records are ignored (as containerd does).
        return;
    }
    this.pending = pending;
  }
}

function describeMeta(typeflag: string): string {
  return typeflag === 'x' || typeflag === 'g' ? 'pax' : 'GNU long name';
}

function padTo(size: number): number {
  const rest = size % blockSize;
  return rest === 0 ? 0 : blockSize - rest;
}

function isZeroBlock(block: Buffer, at: number): boolean {
  for (let i = at; i < at + blockSize; i++) if (block[i] !== 0) return false;
  return true;
}

function checkChecksum(block: Buffer, at: number, offset: number): void {
  // The checksum field itself counts as eight spaces.
  let unsigned = 8 * 0x20;
  for (let i = at; i < at + 148; i++) unsigned += block[i] as number;
  for (let i = at + 156; i < at + blockSize; i++) unsigned += block[i] as number;
  const stored = readNumber(block, at + 148, 8, offset);
  if (stored === unsigned) return;
  // Some old writers summed signed bytes.
  let signed = 8 * 0x20;
  for (let i = at; i < at + blockSize; i++) {
    if (i === at + 148) i += 8;
    const byte = block[i] as number;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== signed) throw new TarFormatError(`invalid tar header checksum at offset ${offset}`);
}

/** An octal field (space padded, NUL or space terminated), or GNU base-256 when the first byte has its high bit set. */
function readNumber(block: Buffer, at: number, length: number, offset: number): number {
  const first = block[at] as number;
  const end = at + length;
  if (first & 0x80) {
    if (first !== 0x80)
      throw new TarFormatError(`negative or oversized number in tar header at offset ${offset}`);
    let value = 0;
    for (let i = at + 1; i < end; i++) value = value * 256 + (block[i] as number);
    if (!Number.isSafeInteger(value))
      throw new TarFormatError(`oversized number in tar header at offset ${offset}`);
    return value;
  }
  let i = at;
  while (i < end && block[i] === 0x20) i++;
  let value = 0;
  for (; i < end; i++) {
    const byte = block[i] as number;
    if (byte === 0 || byte === 0x20) break;
    if (byte < 0x30 || byte > 0x37)
      throw new TarFormatError(`invalid number in tar header at offset ${offset}`);
    value = value * 8 + (byte - 0x30);
  }
  return value;
}

function readString(block: Buffer, at: number, length: number): string {
  let end = block.indexOf(0, at);
  if (end === -1 || end > at + length) end = at + length;
  return block.toString('utf8', at, end);
}

function trimNul(record: Buffer): string {
  let end = record.indexOf(0);
  if (end === -1) end = record.length;
  return record.toString('utf8', 0, end);
}

/** Pax records: "<length> <key>=<value>\n", length counting the whole record. */
function parsePax(record: Buffer, pending: Pending, offset: number): void {
  let at = 0;
  while (at < record.length) {
    if (record[at] === 0) break; // NUL padding some writers leave
    const space = record.indexOf(0x20, at);
    if (space === -1) throw new TarFormatError(`malformed pax record before offset ${offset}`);
    const length = Number(record.toString('latin1', at, space));
    if (!Number.isSafeInteger(length) || length <= space - at + 1 || at + length > record.length) {
      throw new TarFormatError(`malformed pax record before offset ${offset}`);
    }
    if (record[at + length - 1] !== 0x0a)
      throw new TarFormatError(`malformed pax record before offset ${offset}`);
    const text = record.toString('utf8', space + 1, at + length - 1);
    const equals = text.indexOf('=');
    if (equals <= 0) throw new TarFormatError(`malformed pax record before offset ${offset}`);
    const key = text.slice(0, equals);
    const value = text.slice(equals + 1);
    switch (key) {
      case 'path':
        pending.path = value;
        break;
      case 'linkpath':
        pending.linkpath = value;
        break;
      case 'size':
      case 'uid':
      case 'gid': {
        const number = Number(value);
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(number)) {
          throw new TarFormatError(`invalid pax ${key} '${value.slice(0, 40)}' before offset ${offset}`);
        }
        pending[key] = number;
        break;
      }
      default:
        // mtime, xattrs (SCHILY.xattr.*), uname, gname...: not facts we keep.
        break;
    }
    at += length;
  }
}
