/**
 * One user database and one set of share definitions for every node of a cluster (issue 13, item 3;
 * docs/cluster.md §7.3). etcd holds the whole ksmbdpwd.db text at `<prefix>config/users` and every
 * section of ksmbd.conf but `[global]` at `<prefix>config/shares`; `[global]` stays node-local
 * (node name, listen addresses, state directory, the keys that reach etcd). Each node keeps its local
 * files equal to etcd's values and lets its normal reload path apply them:
 *
 * - **join** (before the server reads its files): an absent key is created from the local content
 *   (create-if-absent, so the first node seeds the cluster); a present, valid one replaces the
 *   local content (etcd wins over files edited while the node was down);
 * - **local change** (before every reload, whatever started it): published with a compare on the
 *   mod revision the node last synced from; when another node published first, users are merged by
 *   name (a name both changed: the cluster's version wins) and share sections lose to the cluster's
 *   version — logged, never silent;
 * - **remote change** (a watch on `<prefix>config/`): triggers a reload, which writes etcd's text
 *   into the local file first. A node never publishes what it just wrote: it compares contents with
 *   what it last synced.
 *
 * Values are JSON `{"v":1,"kind","node","text"}`; another `v`, bad JSON, a wrong kind or an
 * oversized value is logged once and left alone (never applied, never overwritten). A value that
 * decodes but does not parse (bad share section, bad user line) is not applied either; a later
 * valid local change may replace it. Files are written in place (the server may write exactly these
 * two files, not their directories: core/permissions.ts), and a failed write puts the old content back.
 *
 * Pure parts (split/merge of ksmbd.conf, value codec, the user merge, the sync decision) are
 * exported for tests/cluster/shared_config_unit_test.ts. Layer: imports core/limits.ts and
 * core/cluster/ only (docs/cluster.md "Layer"); config parsing comes in as callbacks.
 *
 * @module
 */
import { Limits } from "../limits.ts";
import { EtcdError, type KeyValue, type Watch, type WatchUpdate } from "./etcd.ts";
import type { EtcdClient } from "./etcd.ts";

/** Version of the values this code writes and reads. */
export const SHARED_CONFIG_VERSION = 1;

/** The two shared values. */
export type SharedKind = "users" | "shares";

/** ksmbd.conf text split into the node-local part and the shared share sections. */
export interface SplitConfig {
  /** Lines before the first section and every `[global]` section, in file order, exactly. */
  local: string;
  /** Every other section, in file order, exactly (each block from its header to the next header). */
  shares: string;
}

/** Lines of `text` with their terminators (a last line without one is kept as is). */
function linesOf(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/** The section name of a header line (`[name]`), or null when the line is not a header. */
function headerName(line: string): string | null {
  const t = line.trimStart();
  if (!t.startsWith("[")) return null;
  const close = t.indexOf("]");
  return (close < 0 ? t.slice(1) : t.slice(1, close)).trim();
}

/**
 * Splits ksmbd.conf text: a block runs from a section header to the next header; blocks of
 * `[global]` (any case, repeated or not) and the lines before the first header are node-local.
 */
export function splitConfig(text: string): SplitConfig {
  let local = "";
  let shares = "";
  let inGlobal = true; // the lines before the first header stay with [global]
  for (const line of linesOf(text)) {
    const name = headerName(line);
    if (name !== null) inGlobal = name.toLowerCase() === "global";
    if (inGlobal) local += line;
    else shares += line;
  }
  return { local, shares };
}

/**
 * The node's ksmbd.conf with `shares` in place of its share sections: the local part exactly as it
 * is (a line terminator added only when it ends without one), then `shares`.
 * `splitConfig(mergeConfig(l, s)).shares === s` for every `s` whose first line is a share header.
 */
export function mergeConfig(local: string, shares: string): string {
  const head = local === "" || local.endsWith("\n") ? local : local + "\n";
  return head + shares;
}

/** A decoded value. */
export interface SharedValue {
  text: string;
  /** The node that published it (for logs). */
  node: string;
}

/** Result of {@link decodeSharedValue}. */
export type DecodeResult =
  | { ok: true; value: SharedValue }
  /** `newer`: written by a later version of this format (left alone, as other records). */
  | { ok: false; newer: boolean; reason: string };

/** Encodes a value: `{"v":1,"kind","node","text"}`. */
export function encodeSharedValue(kind: SharedKind, text: string, node: string): string {
  return JSON.stringify({ v: SHARED_CONFIG_VERSION, kind, node, text });
}

/** Decodes a value read from etcd (never throws). */
export function decodeSharedValue(
  bytes: Uint8Array,
  kind: SharedKind,
  maxBytes: number = Limits.clusterSharedConfigMaxBytes,
): DecodeResult {
  if (bytes.length > maxBytes) {
    return { ok: false, newer: false, reason: `${bytes.length} bytes, more than ${maxBytes}` };
  }
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, newer: false, reason: "not JSON text" };
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    return { ok: false, newer: false, reason: "not a JSON object" };
  }
  const r = o as Record<string, unknown>;
  if (typeof r.v === "number" && Number.isInteger(r.v) && r.v > SHARED_CONFIG_VERSION) {
    return {
      ok: false,
      newer: true,
      reason: `format version ${r.v} (this node reads ${SHARED_CONFIG_VERSION})`,
    };
  }
  if (r.v !== SHARED_CONFIG_VERSION) return { ok: false, newer: false, reason: "no valid format version" };
  if (r.kind !== kind) {
    return { ok: false, newer: false, reason: `kind ${JSON.stringify(r.kind)}, not "${kind}"` };
  }
  if (typeof r.text !== "string" || typeof r.node !== "string") {
    return { ok: false, newer: false, reason: "text or node is not a string" };
  }
  return { ok: true, value: { text: r.text, node: r.node } };
}

/** Result of {@link mergeUsers}. */
export interface UserMerge {
  text: string;
  /** Names this node changed that the cluster changed too: the cluster's version was kept. */
  lost: string[];
}

/** `name -> line` of ksmbdpwd.db text (blank lines skipped; the name is the text before the first `:`). */
function userLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    if (!out.has(name)) out.set(name, line);
  }
  return out;
}

/**
 * Three-way merge of ksmbdpwd.db by user name: `base` is what this node last synced, `local` its
 * file now, `remote` the cluster's newer value. A user this node added, changed or removed since
 * `base` keeps that change unless the cluster changed the same user too (then the cluster's version
 * stays and the name is reported in `lost`); everything else is the cluster's. Users keep the
 * cluster's order, users only this node added follow in its order.
 */
export function mergeUsers(base: string, local: string, remote: string): UserMerge {
  const b = userLines(base);
  const l = userLines(local);
  const r = userLines(remote);
  const lost: string[] = [];
  const pick = (name: string): string | undefined => {
    const bv = b.get(name);
    const lv = l.get(name);
    const rv = r.get(name);
    if (lv === bv) return rv; // not changed here
    if (rv === bv || rv === lv) return lv; // changed here only (or the same way on both)
    lost.push(name);
    return rv;
  };
  const out: string[] = [];
  for (const name of r.keys()) {
    const v = pick(name);
    if (v !== undefined) out.push(v);
  }
  for (const name of l.keys()) {
    if (r.has(name)) continue;
    const v = pick(name);
    if (v !== undefined) out.push(v);
  }
  return { text: out.map((line) => `${line}\n`).join(""), lost };
}

/** What the node last synced of one value: etcd's mod revision and the text. */
export interface SyncedState {
  rev: bigint;
  text: string;
}

/** What one sync step does (see {@link decideSync}). */
export type SyncDecision =
  | { action: "none" }
  /** Write `text` to etcd if its mod revision is still `compareRev` (0n: only if absent). */
  | {
    action: "publish";
    text: string;
    compareRev: bigint;
    why: "seed" | "local" | "merge" | "replace-invalid";
  }
  /** Take the cluster's value: write it to the local file (when it differs) and remember it. */
  | { action: "pull"; text: string; rev: bigint; lost: string | null }
  /** The cluster's value cannot be applied and nothing replaces it: log, keep the local file. */
  | { action: "refuse"; reason: string };

/** The inputs of {@link decideSync}. */
export interface SyncInputs {
  kind: SharedKind;
  /** Last synced state; null before the first sync (join) or while only bad values were seen. */
  synced: SyncedState | null;
  /** The local content (ksmbdpwd.db text, or ksmbd.conf's share sections). */
  local: string;
  /** Why the local content cannot be published (it does not parse), or null. */
  localProblem: string | null;
  /** The key in etcd, or null when absent. */
  remote: { rev: bigint; decoded: DecodeResult; problem: string | null } | null;
}

/**
 * The sync rule, pure. `remote.problem` is why a decoded value does not parse (not applied).
 * Conflicts: a node that changed its file while another node published is merged by user name
 * (users) or loses to the cluster's version (shares), and says so.
 */
export function decideSync(i: SyncInputs): SyncDecision {
  const { synced, local } = i;
  if (i.remote === null) {
    // Nobody has published (first node of the cluster, or the key was deleted): seed it.
    if (i.localProblem !== null) {
      return { action: "refuse", reason: `local content not published: ${i.localProblem}` };
    }
    return { action: "publish", text: local, compareRev: 0n, why: "seed" };
  }
  const { rev, decoded } = i.remote;
  if (!decoded.ok) {
    return {
      action: "refuse",
      reason: `${decoded.newer ? "written by a newer version" : "malformed"}: ${decoded.reason}; left alone`,
    };
  }
  const remoteText = decoded.value.text;
  const localChanged = synced !== null && local !== synced.text;
  if (synced !== null && rev === synced.rev) {
    if (!localChanged) return { action: "none" };
    if (i.localProblem !== null) {
      return { action: "refuse", reason: `local change not published: ${i.localProblem}` };
    }
    return { action: "publish", text: local, compareRev: rev, why: "local" };
  }
  // The cluster's value changed since this node last synced (or was never synced).
  if (i.remote.problem !== null) {
    if (localChanged && i.localProblem === null) {
      return { action: "publish", text: local, compareRev: rev, why: "replace-invalid" };
    }
    return { action: "refuse", reason: `does not parse: ${i.remote.problem}; not applied` };
  }
  if (!localChanged || local === remoteText) return { action: "pull", text: remoteText, rev, lost: null };
  if (i.localProblem !== null) {
    return {
      action: "pull",
      text: remoteText,
      rev,
      lost: `the local file does not parse (${i.localProblem})`,
    };
  }
  if (i.kind === "users") {
    const m = mergeUsers(synced!.text, local, remoteText);
    if (m.text === remoteText) {
      return {
        action: "pull",
        text: remoteText,
        rev,
        lost: m.lost.length > 0 ? `changes to user(s) ${m.lost.join(", ")}` : null,
      };
    }
    return { action: "publish", text: m.text, compareRev: rev, why: "merge" };
  }
  return { action: "pull", text: remoteText, rev, lost: "the change to the share sections" };
}

/** What {@link SharedConfigSync} needs. */
export interface SharedConfigOptions {
  client: EtcdClient;
  /** The cluster's key prefix (core/cluster_mode.ts clusterPrefix). */
  prefix: string;
  /** This node's name (written into values, for logs). */
  node: string;
  configPath: string;
  pwdDbPath: string;
  /** Why ksmbd.conf share sections (alone, then on top of the local `[global]`) do not parse, or null. */
  validateShares(shares: string, merged: string, source: string): string | null;
  /** Why ksmbdpwd.db text does not parse, or null. */
  validateUsers(text: string, source: string): string | null;
  log(level: "info" | "warn" | "error", msg: string): void;
  /** Watch idle limit (default `Limits.clusterWatchIdleMs`). */
  watchIdleTimeoutMs?: number;
  /** Pause before a sync that failed (etcd unreachable, a file not written) is tried again. */
  retryMs?: number;
}

const KINDS: readonly SharedKind[] = ["users", "shares"];

/**
 * Writes `text` over the file at `path` in place (the directory may not be writable): write from
 * offset 0, cut to length, fsync. A failure puts the previous content back the same way and throws.
 */
export async function writeFileInPlace(path: string, text: string, mode?: number): Promise<void> {
  const data = new TextEncoder().encode(text);
  let old: Uint8Array | null = null;
  try {
    old = await Deno.readFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const put = async (bytes: Uint8Array): Promise<void> => {
    const f = await Deno.open(path, { write: true, create: true, mode: mode ?? 0o644 });
    try {
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.truncate(bytes.length);
      await f.sync();
    } finally {
      f.close();
    }
  };
  try {
    await put(data);
  } catch (e) {
    if (old !== null) await put(old).catch(() => {});
    throw e;
  }
  if (mode !== undefined) await Deno.chmod(path, mode);
}

/**
 * The running sync of one node: {@link join} once before the server reads its files, {@link sync}
 * before every reload, {@link startWatch} once the reload path exists, {@link stop} at the end.
 */
export class SharedConfigSync {
  readonly #o: SharedConfigOptions;
  readonly #synced = new Map<SharedKind, SyncedState>();
  /** Mod revision of a refused value already logged (so it is logged once). */
  readonly #refusedLogged = new Map<SharedKind, bigint>();
  #watch: Watch | null = null;
  #watchFrom = 0n;
  #requestReload: (() => void) | null = null;
  #reloadQueued = false;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #failing = false;
  #retryDelayMs = 0;
  #stopped = false;
  /** The sync running now (a watch event waits for it: it may be this node's own publish). */
  #running: Promise<void> | null = null;

  constructor(opts: SharedConfigOptions) {
    this.#o = opts;
  }

  /** The etcd key of a value. */
  key(kind: SharedKind): string {
    return `${this.#o.prefix}config/${kind}`;
  }

  /** What the node last synced (tests and status). */
  synced(kind: SharedKind): SyncedState | null {
    return this.#synced.get(kind) ?? null;
  }

  /**
   * The first sync, before the server reads its files. Returns true when a local file was
   * rewritten. Throws (EtcdError) when etcd cannot be reached: the node cannot join anyway.
   */
  async join(): Promise<boolean> {
    const r = await this.#o.client.range(`${this.#o.prefix}config/`);
    this.#watchFrom = r.revision + 1n;
    let wrote = false;
    for (const kind of KINDS) wrote = (await this.#syncKind(kind)) || wrote;
    return wrote;
  }

  /**
   * Brings the local files and etcd together before a reload reads the files. Never throws: etcd
   * unreachable or a failed write is logged, the files stay as they are, and the sync is retried.
   */
  sync(): Promise<void> {
    const run = this.#sync();
    this.#running = run;
    return run;
  }

  async #sync(): Promise<void> {
    this.#reloadQueued = false;
    if (this.#stopped) return;
    try {
      for (const kind of KINDS) await this.#syncKind(kind);
      if (this.#failing) this.#o.log("info", "cluster config: in sync with etcd again");
      this.#failing = false;
      this.#retryDelayMs = 0;
    } catch (e) {
      if (!this.#failing) {
        this.#o.log(
          "warn",
          `cluster config: cannot sync with etcd (${(e as Error).message}); the local configuration ` +
            `stays and the sync is retried`,
        );
      }
      this.#failing = true;
      this.#scheduleRetry();
    }
  }

  /** Watches `config/` from the join's read on; a change asks for a reload (which syncs first). */
  startWatch(requestReload: () => void): void {
    this.#requestReload = requestReload;
    this.#openWatch(this.#watchFrom);
    if (this.#failing) this.#scheduleRetry();
  }

  /** Stops the watch and the retries. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const w = this.#watch;
    this.#watch = null;
    await w?.cancel();
  }

  #askReload(): void {
    if (this.#stopped || this.#reloadQueued || this.#requestReload === null) return;
    this.#reloadQueued = true;
    this.#requestReload();
  }

  #scheduleRetry(): void {
    if (this.#stopped || this.#retryTimer !== null || this.#requestReload === null) return;
    // Each retry is a reload: back off from the retry pause to 16 times it while etcd stays away.
    const first = this.#o.retryMs ?? Limits.clusterSharedConfigRetryMs;
    this.#retryDelayMs = this.#retryDelayMs === 0 ? first : Math.min(this.#retryDelayMs * 2, first * 16);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#askReload();
    }, this.#retryDelayMs);
  }

  #openWatch(from: bigint): void {
    if (this.#stopped) return;
    const onUpdate = async (u: WatchUpdate): Promise<void> => {
      if (u.type === "events") {
        // The event may be the echo of this node's own publish, still being recorded.
        await this.#running?.catch(() => {});
        for (const ev of u.events) {
          const kind = KINDS.find((k) => this.key(k) === ev.kv.key);
          if (kind === undefined) continue;
          // A value already synced (this node's own publish, or pulled already) needs nothing.
          if (ev.type === "put" && (this.#synced.get(kind)?.rev ?? -1n) >= ev.kv.modRevision) continue;
          this.#askReload();
        }
      } else if (u.type === "compacted") {
        // Events may be lost: read again, watch from there, and sync in case something changed.
        try {
          const r = await this.#o.client.range(`${this.#o.prefix}config/`, { limit: 1 });
          queueMicrotask(() => this.#openWatch(r.revision + 1n));
        } catch {
          setTimeout(() => this.#openWatch(this.#watch?.nextRevision() ?? from), 1000);
        }
        this.#askReload();
      }
    };
    this.#watch = this.#o.client.watch(`${this.#o.prefix}config/`, from, onUpdate, {
      idleTimeoutMs: this.#o.watchIdleTimeoutMs ?? Limits.clusterWatchIdleMs,
    });
  }

  async #readLocal(kind: SharedKind): Promise<{ text: string; conf: string } | null> {
    if (kind === "users") {
      try {
        return { text: await Deno.readTextFile(this.#o.pwdDbPath), conf: "" };
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return { text: "", conf: "" };
        throw e;
      }
    }
    try {
      const conf = await Deno.readTextFile(this.#o.configPath);
      return { text: splitConfig(conf).shares, conf };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null; // nothing to publish or merge into
      throw e;
    }
  }

  #validate(kind: SharedKind, text: string, conf: string, source: string): string | null {
    if (kind === "users") return this.#o.validateUsers(text, source);
    const s = splitConfig(text);
    if (s.local !== "") return "text before the first share section, or a [global] section";
    return this.#o.validateShares(text, mergeConfig(splitConfig(conf).local, text), source);
  }

  async #writeLocal(kind: SharedKind, text: string): Promise<void> {
    if (kind === "users") {
      await writeFileInPlace(this.#o.pwdDbPath, text, 0o600);
      return;
    }
    // Re-read: [global] is kept exactly as the file holds it now.
    const conf = await Deno.readTextFile(this.#o.configPath);
    await writeFileInPlace(this.#o.configPath, mergeConfig(splitConfig(conf).local, text));
  }

  #file(kind: SharedKind): string {
    return kind === "users" ? this.#o.pwdDbPath : `the share sections of ${this.#o.configPath}`;
  }

  /** One value's sync; true when the local file was rewritten. Throws EtcdError or a file error. */
  async #syncKind(kind: SharedKind): Promise<boolean> {
    const key = this.key(kind);
    for (let round = 0; round < Limits.clusterTxnRetries; round++) {
      const local = await this.#readLocal(kind);
      if (local === null) return false;
      const kv: KeyValue | null = await this.#o.client.get(key);
      let remote: SyncInputs["remote"] = null;
      let remoteNode = "";
      if (kv !== null) {
        const decoded = decodeSharedValue(kv.value, kind);
        let problem: string | null = null;
        if (decoded.ok) {
          remoteNode = decoded.value.node;
          problem = this.#validate(kind, decoded.value.text, local.conf, key);
        }
        remote = { rev: kv.modRevision, decoded, problem };
      }
      const synced = this.#synced.get(kind) ?? null;
      const d = decideSync({
        kind,
        synced,
        local: local.text,
        localProblem: this.#validate(kind, local.text, local.conf, this.#file(kind)),
        remote,
      });
      switch (d.action) {
        case "none":
          return false;
        case "refuse":
          if (this.#refusedLogged.get(kind) !== (kv?.modRevision ?? 0n)) {
            this.#refusedLogged.set(kind, kv?.modRevision ?? 0n);
            this.#o.log(
              "error",
              `cluster config: ${key}${kv ? ` (mod revision ${kv.modRevision})` : ""}: ${d.reason}; ` +
                `${this.#file(kind)} not changed`,
            );
          }
          return false;
        case "pull": {
          const wrote = d.text !== local.text;
          if (d.lost !== null) {
            this.#o.log(
              "error",
              `cluster config: ${d.lost} in ${this.#file(kind)} on node ${this.#o.node} LOST: node ` +
                `${remoteNode} published ${key} first (mod revision ${d.rev}); the cluster's version ` +
                `replaces the local one — make the change again`,
            );
          }
          if (wrote) await this.#writeLocal(kind, d.text);
          this.#synced.set(kind, { rev: d.rev, text: d.text });
          if (wrote) {
            this.#o.log(
              "info",
              `cluster config: ${this.#file(kind)} updated from ${key} (mod revision ${d.rev}, ` +
                `published by node ${remoteNode})`,
            );
          }
          return wrote;
        }
        case "publish": {
          const value = encodeSharedValue(kind, d.text, this.#o.node);
          const size = new TextEncoder().encode(value).length;
          if (size > Limits.clusterSharedConfigMaxBytes) {
            this.#o.log(
              "error",
              `cluster config: ${this.#file(kind)} is too large to share (${size} bytes encoded, at most ` +
                `${Limits.clusterSharedConfigMaxBytes}); not published`,
            );
            return false;
          }
          let t;
          try {
            t = await this.#o.client.txn({
              compare: [
                d.compareRev === 0n
                  ? { key, target: "create", createRevision: 0n }
                  : { key, target: "mod", modRevision: d.compareRev },
              ],
              success: [{ put: { key, value } }],
            });
          } catch (e) {
            // Maybe applied: read again; a value equal to ours is then pulled without a write.
            if (e instanceof EtcdError && e.maybeApplied) continue;
            throw e;
          }
          if (!t.succeeded) continue; // another node was first: decide again on its value
          const wrote = d.text !== local.text;
          this.#synced.set(kind, { rev: t.revision, text: d.text });
          // A merge's result goes into the local file too. If that write fails, the node forgets
          // what it synced: the next sync then takes etcd's (merged) value as at join.
          if (wrote) {
            try {
              await this.#writeLocal(kind, d.text);
            } catch (e) {
              this.#synced.delete(kind);
              throw e;
            }
          }
          this.#o.log(
            "info",
            `cluster config: ${this.#file(kind)} published to ${key} (mod revision ${t.revision}` +
              `${
                d.why === "seed"
                  ? ", first value of the cluster"
                  : d.why === "merge"
                  ? ", merged by user name with node " + remoteNode + "'s change"
                  : d.why === "replace-invalid"
                  ? ", replacing a value that did not parse"
                  : ""
              })`,
          );
          return wrote;
        }
      }
    }
    throw new Error(`${key}: changed by other nodes ${Limits.clusterTxnRetries} times in a row`);
  }
}
