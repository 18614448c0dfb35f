/**
 * The part of the zip format that `torch.save` writes (PyTorch's `PyTorchFileWriter`, since 1.6):
 * stored (uncompressed) entries, each with a CRC-32, sizes in the central directory (the local
 * headers set the data-descriptor flag and leave them zero), zip64 records for large archives.
 * Compressed or encrypted entries are refused with a message naming the entry; nothing is
 * decompressed.
 */

import { crc32 } from 'node:zlib';
import { DetkdError } from '../core/errors.ts';

export interface ZipEntry {
  name: string;
  /** The entry's bytes (a view into the archive; not copied). */
  data: Uint8Array;
  /** The CRC-32 the central directory records. */
  crc: number;
  /** Where this entry's central-directory record starts in the archive (its CRC is at +16). */
  centralOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** True when the bytes start like a zip archive (a local file header). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04
  );
}

/**
 * The entries of a zip archive by name, each checked against its CRC-32. `where` names the file
 * in errors: `model.pth: zip entry 'model/data/0' is compressed (method 8)...`.
 */
export function readZip(bytes: Uint8Array, where: string): Map<string, ZipEntry> {
  const n = bytes.length;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (msg: string): never => {
    throw new DetkdError(`${where}: ${msg}`);
  };
  const u16 = (at: number) => (at + 2 <= n ? v.getUint16(at, true) : fail(`unexpected end at byte ${n}`));
  const u32 = (at: number) => (at + 4 <= n ? v.getUint32(at, true) : fail(`unexpected end at byte ${n}`));
  const u64 = (at: number): number => {
    if (at + 8 > n) fail(`unexpected end at byte ${n}`);
    const x = v.getBigUint64(at, true);
    return x > BigInt(n)
      ? fail(`zip64 field at byte ${at} (${x}) is beyond the end of the file (${n} bytes)`)
      : Number(x);
  };

  // The end-of-central-directory record: the last 22 bytes plus at most a 64 KiB comment.
  let eocd = -1;
  for (let at = n - 22; at >= 0 && at >= n - 22 - 0xffff; at--) {
    if (v.getUint32(at, true) === EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail('not a complete zip archive (no end-of-central-directory record; truncated?)');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== EOCD64_LOCATOR)
      fail('zip64 archive without a zip64 end-of-central-directory locator');
    const at = u64(loc + 8);
    if (u32(at) !== EOCD64) fail(`no zip64 end-of-central-directory record at byte ${at}`);
    count = u64(at + 32);
    cdSize = u64(at + 40);
    cdOffset = u64(at + 48);
  }
  if (cdOffset + cdSize > n)
    fail(`central directory (bytes ${cdOffset}..${cdOffset + cdSize}) runs past the end (${n} bytes)`);
  if (count * 46 > cdSize) fail(`central directory of ${cdSize} bytes cannot hold ${count} entries`);

  const entries = new Map<string, ZipEntry>();
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  let at = cdOffset;
  for (let k = 0; k < count; k++) {
    if (at + 46 > cdOffset + cdSize || u32(at) !== CENTRAL)
      fail(`central directory entry ${k} at byte ${at} is damaged`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    const crc = u32(at + 16);
    let csize = u32(at + 20);
    let usize = u32(at + 24);
    const nameLen = u16(at + 28);
    const extraLen = u16(at + 30);
    const commentLen = u16(at + 32);
    let local = u32(at + 42);
    const end = at + 46 + nameLen + extraLen + commentLen;
    if (end > cdOffset + cdSize) fail(`central directory entry ${k} at byte ${at} runs past the directory`);
    const name = utf8.decode(bytes.subarray(at + 46, at + 46 + nameLen));
    // zip64 extended information: the 64-bit values of the fields set to 0xffffffff, in order.
    let e = at + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = u16(e);
      const size = u16(e + 2);
      if (e + 4 + size > extraEnd) fail(`zip entry '${name}': damaged extra field`);
      if (id === 0x0001) {
        let f = e + 4;
        const next = (): number => {
          if (f + 8 > e + 4 + size) fail(`zip entry '${name}': short zip64 extra field`);
          const x = u64(f);
          f += 8;
          return x;
        };
        if (usize === 0xffffffff) usize = next();
        if (csize === 0xffffffff) csize = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + size;
    }
    if (flags & 1) fail(`zip entry '${name}' is encrypted`);
    if (method !== 0)
      fail(
        `zip entry '${name}' is compressed (method ${method}); torch.save stores entries uncompressed, ` +
          'and detkd reads only stored entries (re-save the file with torch.save)',
      );
    if (csize !== usize) fail(`zip entry '${name}': stored entry with sizes ${csize} != ${usize}`);
    if (local + 30 > n || u32(local) !== LOCAL) fail(`zip entry '${name}': no local header at byte ${local}`);
    const dataAt = local + 30 + u16(local + 26) + u16(local + 28);
    if (dataAt + usize > n)
      fail(
        `zip entry '${name}': ${usize} bytes at byte ${dataAt} run past the end of the file (${n} bytes; truncated?)`,
      );
    const data = bytes.subarray(dataAt, dataAt + usize);
    if (crc32(data) >>> 0 !== crc) fail(`zip entry '${name}' fails its CRC-32 check (the file is damaged)`);
    if (entries.has(name)) fail(`zip entry '${name}' appears twice`);
    entries.set(name, { name, data, crc, centralOffset: at });
    at = end;
  }
  return entries;
}
