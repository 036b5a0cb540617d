/** Shared test fixture: a temporary share root, a sibling "outside" directory and a state dir. */
import * as fs from "node:fs";
import assert from "node:assert/strict";
import { ShareFs, type ShareFsOptions, VfsError, type VfsErrorKind } from "../../core/vfs/mod.ts";

export interface Fixture {
  share: ShareFs;
  /** realpath of the share root. */
  root: string;
  /** A directory next to the root that must never be touched. */
  outside: string;
  base: string;
  cleanup: () => void;
}

export function makeShare(over: Partial<ShareFsOptions> = {}): Fixture {
  const base = fs.realpathSync(Deno.makeTempDirSync({ prefix: "vfs_test_" }));
  const root = `${base}/share`;
  const outside = `${base}/outside`;
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  fs.writeFileSync(`${outside}/secret.txt`, "secret");
  const share = ShareFs.open({
    root,
    readOnly: false,
    storeDosAttributes: true,
    hideDotFiles: true,
    vetoFiles: [],
    followSymlinks: false,
    createMask: 0o744,
    directoryMask: 0o755,
    forceCreateMode: 0,
    forceDirectoryMode: 0,
    stateDir: `${base}/state`,
    label: "test",
    ...over,
  });
  return {
    share,
    root,
    outside,
    base,
    cleanup: () => {
      share.close();
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
}

/**
 * Asserts that fn throws a VfsError of the given kind (the status each kind becomes is checked once,
 * in tests/smb2/status_map_test.ts).
 */
export function assertKind(fn: () => unknown, kind: VfsErrorKind, msg?: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VfsError, `expected VfsError, got ${e}`);
    assert.equal((e as VfsError).kind, kind, `${msg ?? ""} wrong kind: ${(e as Error).message}`);
    return;
  }
  assert.fail(`${msg ?? "call"} did not throw (expected ${kind})`);
}

/** Async variant of assertKind. */
export async function assertKindAsync(fn: () => Promise<unknown>, kind: VfsErrorKind): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof VfsError, `expected VfsError, got ${e}`);
    assert.equal((e as VfsError).kind, kind, (e as Error).message);
    return;
  }
  assert.fail(`did not throw (expected ${kind})`);
}

/** Snapshot of a directory tree (names, sizes, mtimes) to prove nothing outside changed. */
export function snapshot(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      const st = fs.lstatSync(`${d}/${n}`);
      out.push(`${d}/${n}:${st.size}:${st.mtimeMs}:${st.mode}`);
      if (st.isDirectory()) walk(`${d}/${n}`);
    }
  };
  walk(dir);
  return out.join("\n");
}

/**
 * Waits (at most 300 ms) until `h`'s writer (VfsHandle.writer), which its first large write starts
 * opening in the background, is open or known not to be.
 */
export async function writerSettled(h: { writer: unknown }): Promise<void> {
  for (let i = 0; i < 60 && h.writer === false; i++) await new Promise((r) => setTimeout(r, 5));
}

/** Descriptors of this process open on `path` (/proc/self/fd). */
export function fdsOn(path: string): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${e.name}`) === path) n++;
    } catch {
      // Closed meanwhile (the directory listing's own descriptor).
    }
  }
  return n;
}
