/**
 * The local domain SID's three random sub-authorities (S-1-5-21-a-b-c), kept in the state directory
 * as ksmbd keeps them: a file `ksmbd.subauth` holding "a:b:c" (decimal u32s). The core reads or
 * creates it, because the rpc-wasm Worker has no file access, and passes the values in CONFIGURE;
 * samr and lsarpc build every account SID from them (RID = uid, group RID = gid).
 */

/** File name inside the state directory (ksmbd-tools uses the same name). */
export const SUBAUTH_FILE = "ksmbd.subauth";

export type Subauth = readonly [number, number, number];

/** Parses "a:b:c" (decimal, each 1..2^32-1, optional trailing newline); null when malformed. */
export function parseSubauth(text: string): Subauth | null {
  const m = /^\s*(\d{1,10}):(\d{1,10}):(\d{1,10})\s*$/.exec(text);
  if (!m) return null;
  const v = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (v.some((x) => x < 1 || x > 0xffffffff)) return null;
  return [v[0], v[1], v[2]];
}

/** Three random non-zero sub-authorities. */
export function randomSubauth(): Subauth {
  const v = new Uint32Array(3);
  do crypto.getRandomValues(v); while (v[0] === 0 || v[1] === 0 || v[2] === 0);
  return [v[0], v[1], v[2]];
}

/**
 * Reads `<stateDir>/ksmbd.subauth`, or creates it with fresh random values when it is missing or
 * malformed. When the directory cannot be used (empty path, missing, read-only), returns random
 * values without touching the disk: the SIDs then last as long as the process (`persisted` false).
 */
export function loadSubauth(stateDir: string): { subauth: Subauth; persisted: boolean } {
  if (stateDir === "") return { subauth: randomSubauth(), persisted: false };
  const path = `${stateDir.replace(/\/+$/, "")}/${SUBAUTH_FILE}`;
  try {
    const existing = parseSubauth(Deno.readTextFileSync(path));
    if (existing) return { subauth: existing, persisted: true };
  } catch {
    // missing or unreadable: create below
  }
  const fresh = randomSubauth();
  const text = `${fresh[0]}:${fresh[1]}:${fresh[2]}\n`;
  try {
    // Created only if absent: cluster nodes sharing the directory, started at once, agree on one.
    Deno.writeTextFileSync(path, text, { mode: 0o644, createNew: true });
    return { subauth: fresh, persisted: true };
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      try {
        const other = parseSubauth(Deno.readTextFileSync(path));
        if (other) return { subauth: other, persisted: true };
      } catch { /* unreadable: replaced below */ }
    }
  }
  try {
    Deno.writeTextFileSync(path, text, { mode: 0o644 });
    return { subauth: fresh, persisted: true };
  } catch {
    return { subauth: fresh, persisted: false };
  }
}
