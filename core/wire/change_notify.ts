import type { Writer } from "./writer.ts";
import { type FileId, openBody, readFileId } from "./body.ts";
import { encodeOutputBufferResponse } from "./query_directory.ts";

/** CHANGE_NOTIFY Flags (MS-SMB2 2.2.35). */
export const ChangeNotifyFlags = { WATCH_TREE: 0x0001 } as const;

/** CompletionFilter (MS-SMB2 2.2.35). */
export const CompletionFilter = {
  FILE_NAME: 0x00000001,
  DIR_NAME: 0x00000002,
  ATTRIBUTES: 0x00000004,
  SIZE: 0x00000008,
  LAST_WRITE: 0x00000010,
  LAST_ACCESS: 0x00000020,
  CREATION: 0x00000040,
  EA: 0x00000080,
  SECURITY: 0x00000100,
  STREAM_NAME: 0x00000200,
  STREAM_SIZE: 0x00000400,
  STREAM_WRITE: 0x00000800,
} as const;

/** FILE_NOTIFY_INFORMATION Action (MS-FSCC 2.7.1). */
export const NotifyAction = {
  ADDED: 1,
  REMOVED: 2,
  MODIFIED: 3,
  RENAMED_OLD_NAME: 4,
  RENAMED_NEW_NAME: 5,
  ADDED_STREAM: 6,
  REMOVED_STREAM: 7,
  MODIFIED_STREAM: 8,
} as const;

/** SMB2 CHANGE_NOTIFY request (MS-SMB2 2.2.35). */
export interface ChangeNotifyRequest {
  flags: number;
  outputBufferLength: number;
  fileId: FileId;
  completionFilter: number;
}

export function decodeChangeNotifyRequest(pdu: Uint8Array): ChangeNotifyRequest {
  const r = openBody(pdu, 32, "CHANGE_NOTIFY");
  const flags = r.u16();
  const outputBufferLength = r.u32();
  const fileId = readFileId(r);
  const completionFilter = r.u32();
  return { flags, outputBufferLength, fileId, completionFilter };
}

/** Appends a CHANGE_NOTIFY response (MS-SMB2 2.2.36): buffer of FILE_NOTIFY_INFORMATION at 0x48. */
export function encodeChangeNotifyResponse(w: Writer, hdrStart: number, data: Uint8Array): void {
  encodeOutputBufferResponse(w, hdrStart, data);
}

export interface NotifyEntry {
  action: number;
  /** Path relative to the watched directory, backslash-separated. */
  name: string;
}

/**
 * Packs FILE_NOTIFY_INFORMATION entries (MS-FSCC 2.7.1): NextEntryOffset, Action, FileNameLength,
 * name; entries 4-byte aligned, last NextEntryOffset 0. Returns null when they do not fit in
 * `maxLength` — the handler then answers STATUS_NOTIFY_ENUM_DIR (MS-SMB2 3.3.4.4).
 */
export function encodeFileNotifyInformation(entries: NotifyEntry[], maxLength: number): Uint8Array | null {
  const parts = entries.map((e) => {
    const name = new Uint8Array(e.name.length * 2);
    for (let i = 0; i < e.name.length; i++) {
      const c = e.name.charCodeAt(i);
      name[i * 2] = c & 0xff;
      name[i * 2 + 1] = c >> 8;
    }
    return { action: e.action, name };
  });
  let total = 0;
  const offs: number[] = [];
  for (const p of parts) {
    total = (total + 3) & ~3;
    offs.push(total);
    total += 12 + p.name.byteLength;
  }
  if (total > maxLength) return null;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  parts.forEach((p, i) => {
    const o = offs[i];
    v.setUint32(o, i + 1 < parts.length ? offs[i + 1] - o : 0, true);
    v.setUint32(o + 4, p.action, true);
    v.setUint32(o + 8, p.name.byteLength, true);
    out.set(p.name, o + 12);
  });
  return out;
}
