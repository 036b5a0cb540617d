/**
 * Live configuration: noticing that ksmbd.conf or ksmbdpwd.db changed on disk (an editor,
 * configuration management, ksmbd-tools' `ksmbd.adduser` / `ksmbd.addshare`, which write the files in
 * place and signal ksmbd.mountd, a process this server is not), and checking share paths at reload.
 *
 * The files are polled with `Deno.stat` (the server holds read permission on both files, nothing on
 * their directories, so `Deno.watchFs` on the directories is not available; polling also survives an
 * editor replacing the file by rename). A change is acted on once the file looked the same on two
 * polls in a row, so a reload never reads a half-written file (docs/operations.md, "Reload semantics").
 *
 * @module
 */
import { Limits } from "./limits.ts";
import type { ShareConfig } from "./config/types.ts";

/** What identifies one version of a file: inode, size, mtime and ctime; "missing" when absent. */
export type FileSignature = string;

/** Reads a file's signature; "missing" when it does not exist, "error:<name>" when stat fails. */
export async function fileSignature(path: string): Promise<FileSignature> {
  try {
    const st = await Deno.stat(path);
    return `${st.ino ?? 0}:${st.size}:${st.mtime?.getTime() ?? 0}:${st.ctime?.getTime() ?? 0}`;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "missing";
    return `error:${(e as Error).name}`;
  }
}

/**
 * The debounce of the poller, as a pure state machine: `seen` is the version the running
 * configuration was loaded from, `last` what the previous poll saw. A poll returns true (reload now)
 * when the file differs from `seen` and did not change since the previous poll.
 */
export class ChangeDebouncer {
  private seen: FileSignature | null = null;
  private last: FileSignature | null = null;

  /** Records the version a reload (or the start) just read. */
  markSeen(sig: FileSignature): void {
    this.seen = sig;
    this.last = sig;
  }

  /** Feeds one poll's signature; true when a settled change is waiting. */
  poll(sig: FileSignature): boolean {
    const settled = sig === this.last;
    this.last = sig;
    if (this.seen === null) {
      this.seen = sig;
      return false;
    }
    return settled && sig !== this.seen;
  }
}

/** A running watcher over a set of files. */
export interface ConfigWatcher {
  /** Records the current versions as loaded (call when a reload starts reading the files). */
  markSeen(): Promise<void>;
  /** Stops polling. */
  stop(): void;
}

/**
 * Polls `paths` every `intervalMs` (default {@link Limits.configPollMs}) and calls `onChange` with the
 * changed paths when a change has settled. `onChange` is not called again while a previous call runs.
 * `initial` holds the signatures taken before the running configuration was read (so a change made
 * between that read and this call is still seen); paths missing from it are taken now.
 */
export function watchConfigFiles(
  paths: readonly string[],
  onChange: (changed: string[]) => Promise<void>,
  intervalMs: number = Limits.configPollMs,
  initial: ReadonlyMap<string, FileSignature> = new Map(),
): ConfigWatcher {
  const deb = new Map(paths.map((p) => [p, new ChangeDebouncer()]));
  let busy = false;
  let stopped = false;
  const markSeen = async (): Promise<void> => {
    for (const [p, d] of deb) d.markSeen(await fileSignature(p));
  };
  const tick = async (): Promise<void> => {
    if (busy || stopped) return;
    busy = true;
    try {
      const changed: string[] = [];
      for (const [p, d] of deb) if (d.poll(await fileSignature(p))) changed.push(p);
      if (changed.length > 0 && !stopped) await onChange(changed);
    } catch {
      /* a failed poll is retried at the next tick */
    } finally {
      busy = false;
    }
  };
  const first = (async () => {
    for (const [p, d] of deb) d.markSeen(initial.get(p) ?? await fileSignature(p));
  })();
  void first;
  const timer = setInterval(() => void tick(), intervalMs);
  Deno.unrefTimer(timer);
  return {
    markSeen,
    stop(): void {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** How {@link sharePathProblem} looks at a path: "dir", "file" (anything else), or "missing". */
export type PathKind = "dir" | "file" | "missing";

/** `Deno.statSync` as a {@link PathKind} (follows symlinks, as the share code does for the root). */
export function statPathKind(path: string): PathKind {
  try {
    return Deno.statSync(path).isDirectory ? "dir" : "file";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return "missing";
    throw e;
  }
}

/**
 * Why a share cannot be served from its path ("path /x does not exist", "path /x is not a
 * directory"), or null. IPC$ and pipe shares have no path.
 */
export function sharePathProblem(
  share: ShareConfig,
  kind: (path: string) => PathKind = statPathKind,
): string | null {
  if (share.isPipe || share.path === "") return null;
  const k = kind(share.path);
  if (k === "missing") return `path ${share.path} does not exist`;
  if (k === "file") return `path ${share.path} is not a directory`;
  return null;
}
