/**
 * The servers of the bench (bench/e2e_throughput.ts, bench/curves.ts): ksmbd-deno and a private
 * Samba smbd with the same shares, on a private tmpfs; each registered for cleanup (bench/table.ts)
 * so that neither a server nor the mount outlives the run, also on failure or Ctrl-C.
 *
 * @module
 */

import { TEST_USERS } from "../tests/helpers/fixtures.ts";
import { runCommand } from "../tests/helpers/run_command.ts";
import { type ServerHandle, type ServerOptions, startKsmbd, startSamba } from "../tests/helpers/server.ts";
import { onCleanup, type ServerKind } from "./table.ts";

/** The share every row uses. */
export const SHARE = "bench";
/** A `continuous availability` share on ksmbd-deno for the persistent-handle row. */
export const CA_SHARE = "benchca";

/** A directory for the shares: a private tmpfs when possible; `release` unmounts and removes it. */
export async function shareRoot(
  given: string | undefined,
  sizeMiB: number,
  log: (s: string) => void,
): Promise<{ path: string; release(): Promise<void> }> {
  if (given) return { path: given, release: async () => {} };
  const path = await Deno.makeTempDir({ prefix: "ksmbd-bench-tmpfs-" });
  const removeDir = async (): Promise<void> => await Deno.remove(path, { recursive: true }).catch(() => {});
  // tmpfs takes pages only as files are written: the size is a ceiling, the inode count is for the
  // directory curve's 10^6 files.
  const r = await runCommand(
    "mount",
    ["-t", "tmpfs", "-o", `size=${sizeMiB}m,nr_inodes=4m,mode=0755`, "tmpfs", path],
    { timeoutMs: 10_000 },
  );
  if (r.code !== 0) {
    log(`could not mount a tmpfs (${r.stderr.trim() || `exit ${r.code}`}): shares on ${path} (not tmpfs)`);
    return { path, release: removeDir };
  }
  log(`shares on a private tmpfs mounted at ${path} (up to ${sizeMiB} MiB)`);
  return {
    path,
    release: async () => {
      const u = await runCommand("umount", [path], { timeoutMs: 30_000 });
      // Busy (a server still holds it): detach it lazily.
      if (u.code !== 0) await runCommand("umount", ["-l", path], { timeoutMs: 30_000 });
      await removeDir();
    },
  };
}

/** Starts one server with the bench's shares; registered for cleanup. */
export async function startBenchServer(
  kind: ServerKind,
  baseDir: string,
  backend: "webcrypto" | "openssl",
  extraGlobal: Record<string, string> = {},
  extraSamba: Record<string, string> = {},
  extraShare: Record<string, string> = {},
): Promise<{ server: ServerHandle; stop(): Promise<void> }> {
  const opts: ServerOptions = {
    shares: kind === "samba" ? { [SHARE]: { "read only": "no", "vfs objects": "" } } : {
      [SHARE]: { "read only": "no", ...extraShare },
      // The persistent-handle row (bench/open_lease_bench.ts): a continuously available share.
      [CA_SHARE]: { "read only": "no", "continuous availability": "yes" },
    },
    users: TEST_USERS,
    baseDir,
    global: kind === "ksmbd"
      ? { "crypto backend": backend, "durable handles": "yes", ...extraGlobal }
      : { ...extraSamba },
  };
  const server = kind === "ksmbd" ? await startKsmbd(opts) : await startSamba(opts);
  const stop = onCleanup(() => server.stop());
  return { server, stop };
}
