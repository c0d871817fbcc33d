/**
 * Reads one member of a zip archive (stored or deflated, no zip64), enough for datasets that
 * ship as a zip in their repository (PubMedQA's `pqal.zip`).
 *
 * @module
 */

import { inflateRawSync } from "node:zlib";

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_ENTRY = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;

/** The names of the members of a zip archive, in directory order. */
export function zipMembers(archive: Uint8Array): string[] {
  return centralEntries(archive).map((e) => e.name);
}

/**
 * The bytes of member `name` of a zip archive.
 *
 * @throws {Error} naming the member when it is missing or stored in a way this reader skips.
 */
export function readZipMember(archive: Uint8Array, name: string): Uint8Array {
  const entry = centralEntries(archive).find((e) => e.name === name);
  if (!entry) throw new Error(`Cannot find "${name}" in the zip archive`);
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  if (view.getUint32(entry.localOffset, true) !== LOCAL_HEADER) {
    throw new Error(`Cannot read "${name}": its local header is damaged`);
  }
  const start = entry.localOffset + 30 + view.getUint16(entry.localOffset + 26, true) +
    view.getUint16(entry.localOffset + 28, true);
  const data = archive.subarray(start, start + entry.compressedSize);
  const bytes = entry.method === 0 ? data : entry.method === 8 ? new Uint8Array(inflateRawSync(data)) : null;
  if (bytes === null) {
    throw new Error(`Cannot read "${name}": compression method ${entry.method} is not supported`);
  }
  if (bytes.length !== entry.size) throw new Error(`Cannot read "${name}": it inflates to the wrong size`);
  return bytes;
}

interface CentralEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function centralEntries(archive: Uint8Array): CentralEntry[] {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  let end = -1;
  // The end record sits within the last 22 bytes plus a comment of at most 65535.
  for (let i = archive.length - 22; i >= Math.max(0, archive.length - 65557); i--) {
    if (view.getUint32(i, true) === END_OF_CENTRAL_DIRECTORY) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error("Cannot read the zip archive: no end-of-central-directory record");
  const count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  if (offset === 0xffffffff) throw new Error("Cannot read the zip archive: zip64 is not supported");
  const decoder = new TextDecoder();
  const entries: CentralEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (view.getUint32(offset, true) !== CENTRAL_ENTRY) {
      throw new Error("Cannot read the zip archive: bad directory");
    }
    const nameLength = view.getUint16(offset + 28, true);
    entries.push({
      method: view.getUint16(offset + 10, true),
      compressedSize: view.getUint32(offset + 20, true),
      size: view.getUint32(offset + 24, true),
      localOffset: view.getUint32(offset + 42, true),
      name: decoder.decode(archive.subarray(offset + 46, offset + 46 + nameLength)),
    });
    offset += 46 + nameLength + view.getUint16(offset + 30, true) + view.getUint16(offset + 32, true);
  }
  return entries;
}
