/**
 * The stat / delete per file row through libsmbclient (Samba's client library, the one file managers
 * and `smbget` use), called over Deno FFI. Run as a subprocess by bench/rows.ts, so the blocking FFI
 * calls never stall the bench's event loop and a library crash ends only this process. FFI is used
 * by this client only; the server under test loads no native code.
 *
 * usage: deno run -A bench/smbc_meta.ts PORT SHARE USER PASS PREFIX COUNT stat|delete
 *   stats (one smbc_stat each) or deletes (one smbc_unlink each) the files PREFIX0 .. PREFIX{COUNT-1};
 *   prints one JSON line {count, seconds}. Before the clock starts, one smbc_stat of the share root
 *   sets up the connection, session and tree connect.
 *
 * @module
 */

/** The timed phase. */
export interface SmbcMetaResult {
  count: number;
  seconds: number;
}

const LIBS = ["libsmbclient.so.0", "/usr/lib/x86_64-linux-gnu/libsmbclient.so.0"];

function openLib() {
  let last: unknown;
  for (const path of LIBS) {
    try {
      return Deno.dlopen(
        path,
        {
          smbc_init: { parameters: ["function", "i32"], result: "i32" },
          smbc_stat: { parameters: ["buffer", "buffer"], result: "i32" },
          smbc_unlink: { parameters: ["buffer"], result: "i32" },
        } as const,
      );
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`libsmbclient not loadable: ${String(last)}`);
}

function cstr(s: string): Uint8Array<ArrayBuffer> {
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(b.byteLength + 1);
  out.set(b);
  return out;
}

/** Copies `s` (NUL-terminated, truncated to `len`) into the C buffer at `p`. */
function fill(p: Deno.PointerValue, len: number, s: string): void {
  if (p === null || len <= 0) return;
  const view = new Deno.UnsafePointerView(p);
  const b = new TextEncoder().encode(s).subarray(0, len - 1);
  const dst = new Uint8Array(view.getArrayBuffer(len));
  dst.set(b);
  dst[b.byteLength] = 0;
}

/** Stats or deletes `count` existing files `prefix0`.. on the share, one call per file. */
export function smbcMeta(
  port: number,
  share: string,
  user: string,
  pass: string,
  prefix: string,
  count: number,
  op: "stat" | "delete",
): SmbcMetaResult {
  const lib = openLib();
  // void fn(const char *srv, const char *shr, char *wg, int wglen, char *un, int unlen, char *pw, int pwlen)
  const auth = new Deno.UnsafeCallback(
    {
      parameters: ["pointer", "pointer", "pointer", "i32", "pointer", "i32", "pointer", "i32"],
      result: "void",
    } as const,
    (_srv, _shr, wg, wglen, un, unlen, pw, pwlen) => {
      fill(wg, wglen, "WORKGROUP");
      fill(un, unlen, user);
      fill(pw, pwlen, pass);
    },
  );
  try {
    if (lib.symbols.smbc_init(auth.pointer, 0) !== 0) throw new Error("smbc_init failed");
    const url = (i: number): Uint8Array<ArrayBuffer> =>
      cstr(`smb://127.0.0.1:${port}/${share}/${prefix}${i}`);
    const st = new Uint8Array(256);
    // One untimed call: the connection, session and tree connect are set up here.
    if (lib.symbols.smbc_stat(cstr(`smb://127.0.0.1:${port}/${share}/`), st) !== 0) {
      throw new Error(`smbc_stat of the share root failed`);
    }
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      // struct stat is 144 bytes on x86_64 and aarch64 Linux; the buffer is larger.
      const rc = op === "stat" ? lib.symbols.smbc_stat(url(i), st) : lib.symbols.smbc_unlink(url(i));
      if (rc !== 0) throw new Error(`smbc_${op === "stat" ? "stat" : "unlink"} ${prefix}${i} failed`);
    }
    return { count, seconds: (performance.now() - t0) / 1000 };
  } finally {
    auth.close();
    lib.close();
  }
}

if (import.meta.main) {
  const [port, share, user, pass, prefix, count, op] = Deno.args;
  if (op !== "stat" && op !== "delete") throw new RangeError(`Unknown operation "${op}"`);
  console.log(JSON.stringify(smbcMeta(Number(port), share, user, pass, prefix, Number(count), op)));
}
