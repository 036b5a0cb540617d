// Mutable module state that outlives a reload: the current configuration, bad-password counters,
// per-share connection counts and the session -> tree -> share map (ksmbd.mountd's session table).

import { Config } from "./config";
import { upperSimple } from "../lib/text";

export let current: Config | null = null;
/** True once a reload has happened: shares rebuilt by later reloads carry UPDATE. */
let configuredOnce = false;

export function install(c: Config): void {
  if (configuredOnce) {
    for (let i = 0; i < c.shares.length; i++) c.shares[i].update = true;
  }
  configuredOnce = true;
  current = c;
}

/** Bad-password LOGOUT events per account (uppercased name). ksmbd: >= 10 sets DELAY_SESSION. */
export const failedLogins: Map<string, i32> = new Map<string, i32>();
export const DELAY_AFTER_FAILURES: i32 = 10;

export function failures(account: string): i32 {
  const k = upperSimple(account);
  return failedLogins.has(k) ? failedLogins.get(k) : 0;
}

export function clearFailures(account: string): void {
  const k = upperSimple(account);
  if (failedLogins.has(k)) failedLogins.delete(k);
}

export function addFailure(account: string): void {
  const k = upperSimple(account);
  const n = failedLogins.has(k) ? failedLogins.get(k) : 0;
  if (n < 0x7fffffff) failedLogins.set(k, n + 1);
}

/** Open tree connects per share key (upperSimple(share name)). */
export const shareConns: Map<string, i32> = new Map<string, i32>();

export function conns(key: string): i32 {
  return shareConns.has(key) ? shareConns.get(key) : 0;
}

/** session id -> (tree id -> share key). A session exists while it has at least one tree. */
export const sessions: Map<u64, Map<u32, string>> = new Map<u64, Map<u32, string>>();

export function bindTree(sessionId: u64, treeId: u32, key: string): void {
  let trees: Map<u32, string>;
  if (sessions.has(sessionId)) {
    trees = sessions.get(sessionId);
  } else {
    trees = new Map<u32, string>();
    sessions.set(sessionId, trees);
  }
  if (trees.has(treeId)) {
    // Same (session, tree) bound twice: release the old binding so counts stay exact.
    const old = trees.get(treeId);
    shareConns.set(old, conns(old) - 1);
  }
  trees.set(treeId, key);
  shareConns.set(key, conns(key) + 1);
}

/** TREE_DISCONNECT: unknown ids are ignored (fire-and-forget, may race a reload or restart). */
export function unbindTree(sessionId: u64, treeId: u32): void {
  if (!sessions.has(sessionId)) return;
  const trees = sessions.get(sessionId);
  if (!trees.has(treeId)) return;
  const key = trees.get(treeId);
  trees.delete(treeId);
  const n = conns(key) - 1;
  if (n <= 0) shareConns.delete(key);
  else shareConns.set(key, n);
  if (trees.size == 0) sessions.delete(sessionId);
}
