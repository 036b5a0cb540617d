/** Shared test fixture: a temporary share root, a sibling "outside" directory and a state dir. */
import * as fs from "node:fs";
import assert from "node:assert/strict";
import { ShareFs, type ShareFsOptions, VfsError } from "../../core/vfs/mod.ts";

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

/** Asserts that fn throws a VfsError with the given NTSTATUS. */
export function assertStatus(fn: () => unknown, status: number, msg?: string): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VfsError, `expected VfsError, got ${e}`);
    assert.equal(
      (e as VfsError).status.toString(16),
      status.toString(16),
      `${msg ?? ""} wrong status: ${(e as Error).message}`,
    );
    return;
  }
  assert.fail(`${msg ?? "call"} did not throw (expected 0x${status.toString(16)})`);
}

/** Async variant of assertStatus. */
export async function assertStatusAsync(fn: () => Promise<unknown>, status: number): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof VfsError, `expected VfsError, got ${e}`);
    assert.equal((e as VfsError).status.toString(16), status.toString(16), (e as Error).message);
    return;
  }
  assert.fail(`did not throw (expected 0x${status.toString(16)})`);
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
