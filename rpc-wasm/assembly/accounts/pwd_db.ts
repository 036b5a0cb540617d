// ksmbdpwd.db parser (docs/ksmbd_compat.md §3): one `name:base64(MD4(UTF-16LE(password)))` per line.
// The core hands the file over as raw bytes; only this module ever decodes the hashes. Malformed
// lines are skipped and reported by line number (CONFIGURE_RESPONSE), never trapped on.

import { base64Decode, upperSimple, utf8Decode } from "../lib/text";

/** Name byte limit from ksmbd.adduser: 1..47 bytes of UTF-8 (48 with the NUL in ksmbd's ABI). */
export const MAX_NAME_BYTES: i32 = 47;
/** Line numbers reported back at most (the count is always exact). */
export const MAX_REPORTED_BAD_LINES: i32 = 32;

export class PwdUser {
  name: string;
  ntHash: Uint8Array;
  constructor(name: string, ntHash: Uint8Array) {
    this.name = name;
    this.ntHash = ntHash;
  }
}

export class PwdDb {
  /** Exact-name index. */
  exact: Map<string, PwdUser> = new Map<string, PwdUser>();
  /** Uppercased-name index (first entry wins), for clients that change the name's case. */
  folded: Map<string, PwdUser> = new Map<string, PwdUser>();
  /** In file order (later duplicates replace earlier ones in `exact`). */
  names: Array<string> = new Array<string>();
  badLines: i32 = 0;
  badLineNumbers: Array<i32> = new Array<i32>();

  get count(): i32 {
    return this.exact.size;
  }

  /** Exact match first, then case-insensitive. */
  lookup(name: string): PwdUser | null {
    if (this.exact.has(name)) return this.exact.get(name);
    const f = upperSimple(name);
    if (this.folded.has(f)) return this.folded.get(f);
    return null;
  }

  private bad(line: i32): void {
    this.badLines++;
    if (this.badLineNumbers.length < MAX_REPORTED_BAD_LINES) this.badLineNumbers.push(line);
  }

  private parseLine(b: Uint8Array, start: i32, end: i32, line: i32): void {
    if (end > start && b[end - 1] == 0x0d) end--; // CRLF files
    if (end == start) return; // blank line
    let colon = -1;
    for (let i = start; i < end; i++) {
      if (b[i] == 0x3a) {
        colon = i;
        break;
      }
    }
    const nameLen = colon - start;
    if (colon < 0 || nameLen < 1 || nameLen > MAX_NAME_BYTES) {
      this.bad(line);
      return;
    }
    const name = utf8Decode(b, start, colon);
    if (name == null) {
      this.bad(line);
      return;
    }
    const hash = base64Decode(b, colon + 1, end);
    if (hash == null || hash.length != 16) {
      this.bad(line);
      return;
    }
    const u = new PwdUser(name, hash);
    if (!this.exact.has(name)) this.names.push(name);
    this.exact.set(name, u);
    const f = upperSimple(name);
    if (!this.folded.has(f) || this.folded.get(f).name == name) this.folded.set(f, u);
  }

  static parse(b: Uint8Array): PwdDb {
    const db = new PwdDb();
    let start = 0;
    let line = 1;
    for (let i = 0; i <= b.length; i++) {
      if (i == b.length || b[i] == 0x0a) {
        if (i > start || i < b.length) db.parseLine(b, start, i, line);
        start = i + 1;
        line++;
      }
    }
    return db;
  }
}
