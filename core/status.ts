/**
 * What `ksmbd-cli control --status` reports (docs/operations.md "Observability"), as `smbstatus` and
 * `smbstatus -L` do for Samba and /proc/fs/ksmbd for ksmbd: sessions with their user, client
 * address, dialect, signing and encryption; tree connects; open files with access, share access,
 * oplock and lease; byte-range locks; and the counters of core/metrics.ts. Built once from the
 * server's tables ({@link collectStatus}) and rendered as text ({@link renderStatusText}) or JSON
 * (the {@link StatusReport} object itself, field names stable and documented).
 *
 * @module
 */
import { KSMBD_DENO_VERSION } from "./config/version.ts";
import {
  COMMAND_COUNT,
  COMMAND_NAMES,
  type Gauges,
  LATENCY_BUCKETS,
  type Metrics,
  statusName,
} from "./metrics.ts";
import type { Connection } from "./smb2/connection.ts";
import type { ServerContext } from "./smb2/server_context.ts";
import type { Session } from "./state/session.ts";
import type { Open } from "./state/open.ts";
import { leaseStateName } from "./state/caching.ts";

/** Signing state of a session. */
export interface SigningStatus {
  /** Requests are being signed: the session requires it, or a signed request arrived. */
  on: boolean;
  /** Every request must be signed (server or client required it). */
  required: boolean;
  /** "HMAC-SHA256", "AES-128-CMAC" or "AES-128-GMAC"; null when the session has no signing key. */
  algorithm: string | null;
}

/** Encryption state of a session. */
export interface EncryptionStatus {
  /** Requests are being encrypted: the session requires it, or an encrypted request arrived. */
  on: boolean;
  /** Every request of the session must be encrypted (`smb3 encryption = mandatory`). */
  required: boolean;
  /** "AES-128-CCM", "AES-128-GCM", "AES-256-CCM" or "AES-256-GCM"; null without encryption keys. */
  cipher: string | null;
}

/** One session (smbstatus' "PID Username Group Machine Protocol Version Encryption Signing"). */
export interface SessionStatus {
  /** Session id as `0x` and 16 hex digits. */
  sessionId: string;
  user: string;
  /** `address:port` of the client (`[v6]:port` for IPv6). */
  client: string;
  /** "2.0.2", "2.1", "3.0", "3.0.2" or "3.1.1". */
  dialect: string;
  /** "in-progress", "valid" or "expired". */
  state: string;
  guest: boolean;
  anonymous: boolean;
  signing: SigningStatus;
  encryption: EncryptionStatus;
  /** When the session was created (ISO 8601). */
  createdAt: string;
  treeConnects: number;
  openFiles: number;
}

/** One tree connect. */
export interface TreeConnectStatus {
  sessionId: string;
  treeId: number;
  share: string;
  user: string;
  client: string;
  /** The server asked the client to encrypt on this tree (`smb encrypt`). */
  encrypted: boolean;
}

/** One open file, directory or pipe (`smbstatus -L` "Locked files"). */
export interface OpenFileStatus {
  sessionId: string;
  treeId: number;
  /** The FileId (persistent and volatile parts are the same here), decimal. */
  fileId: string;
  share: string;
  /** Share-relative path with `/` separators; "." for the share root; the pipe name for a pipe. */
  path: string;
  type: "file" | "directory" | "pipe";
  user: string;
  client: string;
  /** Granted access mask (MS-SMB2 2.2.13.1). */
  accessMask: number;
  /** ShareAccess (1 read, 2 write, 4 delete). */
  shareAccess: number;
  /** "none", "level2", "exclusive", "batch" or "lease". */
  oplock: string;
  /** Lease state ("RWH", "RH", "R", ...; "none" without a lease), " (breaking to X)" while breaking. */
  lease: string;
}

/** One byte-range lock. */
export interface ByteRangeLockStatus {
  sessionId: string;
  fileId: string;
  share: string;
  path: string;
  /** Offset and length in bytes, decimal strings (64-bit values). */
  offset: string;
  length: string;
  type: "exclusive" | "shared";
}

/** Counters of one SMB2 command. */
export interface CommandCounters {
  requests: number;
  /** Error responses by NTSTATUS name (severity error; STATUS_MORE_PROCESSING_REQUIRED is not one). */
  errors: Record<string, number>;
  requestBytes: number;
  responseBytes: number;
  latencySeconds: {
    sum: number;
    count: number;
    /** Requests per bucket of {@link StatusReport.latencyBucketsSeconds}, cumulative (Prometheus `le`). */
    counts: number[];
  };
}

/** The whole `control --status --json` object. */
export interface StatusReport {
  server: {
    version: string;
    pid: number;
    port: number;
    /** ISO 8601. */
    startTime: string;
    uptimeSeconds: number;
  };
  totals: {
    connections: number;
    connectionsTotal: number;
    sessions: number;
    sessionsTotal: number;
    treeConnects: number;
    openFiles: number;
    byteRangeLocks: number;
    bytesRead: number;
    bytesWritten: number;
  };
  sessions: SessionStatus[];
  treeConnects: TreeConnectStatus[];
  openFiles: OpenFileStatus[];
  byteRangeLocks: ByteRangeLockStatus[];
  /** Upper bounds (seconds, inclusive) of the latency histogram buckets; the last, "+Inf", holds the rest. */
  latencyBucketsSeconds: (number | "+Inf")[];
  /** By command name; commands never received are left out. */
  commands: Record<string, CommandCounters>;
}

const DIALECTS: Record<number, string> = {
  0x0202: "2.0.2",
  0x0210: "2.1",
  0x0300: "3.0",
  0x0302: "3.0.2",
  0x0311: "3.1.1",
};
const SIGNING_ALGS = ["HMAC-SHA256", "AES-128-CMAC", "AES-128-GMAC"];
const CIPHERS: Record<number, string> = {
  1: "AES-128-CCM",
  2: "AES-128-GCM",
  3: "AES-256-CCM",
  4: "AES-256-GCM",
};
const OPLOCKS: Record<number, string> = { 0: "none", 1: "level2", 8: "exclusive", 9: "batch", 0xff: "lease" };

/** The oplock and lease an open holds, from the state layer (core/state/file_table.ts). */
function cachingOf(ctx: ServerContext, persistentId: bigint): { oplock: string; lease: string } {
  const rec = ctx.files.open(persistentId);
  if (!rec) return { oplock: "none", lease: "none" };
  const l = rec.leaseId !== null ? ctx.files.lease(rec.leaseId) : undefined;
  const oplock = OPLOCKS[rec.oplock] ?? String(rec.oplock);
  if (!l) return { oplock, lease: "none" };
  const state = l.state === 0 ? "none" : leaseStateName(l.state);
  return { oplock, lease: l.breaking ? `${state} (breaking to ${leaseStateName(l.breakTo)})` : state };
}

/** "3.1.1" for 0x0311 (MS-SMB2 2.2.4 DialectRevision). */
export function dialectName(d: number): string {
  return DIALECTS[d] ?? `0x${d.toString(16).padStart(4, "0")}`;
}

function hexId(id: bigint): string {
  return `0x${id.toString(16).padStart(16, "0")}`;
}

/**
 * `host:port` of a connection's peer (`[v6]:port`). The host is the connection's `peer`, where an
 * IPv4 client of a dual-stack listener is already shown as IPv4 (core/transport/tcp.ts).
 */
export function clientAddress(c: Connection): string {
  const host = c.peer;
  const port = c.peerPort;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function shareAccessText(s: number): string {
  return `${s & 1 ? "R" : "-"}${s & 2 ? "W" : "-"}${s & 4 ? "D" : "-"}`;
}

function counters(m: Metrics): Record<string, CommandCounters> {
  const out: Record<string, CommandCounters> = {};
  for (let c = 0; c < COMMAND_COUNT; c++) {
    if (m.requests[c] === 0) continue;
    const errors: Record<string, number> = {};
    for (const [s, n] of [...m.errors[c].entries()].sort((a, b) => a[0] - b[0])) errors[statusName(s)] = n;
    out[COMMAND_NAMES[c]] = {
      requests: m.requests[c],
      errors,
      requestBytes: m.requestBytes[c],
      responseBytes: m.responseBytes[c],
      latencySeconds: {
        sum: m.latencySum[c],
        count: m.requests[c],
        counts: m.cumulativeBuckets(c),
      },
    };
  }
  return out;
}

/** Builds the status report of a running server listening on `port`. */
export function collectStatus(ctx: ServerContext, port: number, now = Date.now()): StatusReport {
  const conns = [...ctx.connections] as Connection[];
  const sessions: SessionStatus[] = [];
  const trees: TreeConnectStatus[] = [];
  const opens: OpenFileStatus[] = [];
  const where = new Map<
    bigint,
    { open: Open; share: string; session: Session | undefined; client: string }
  >();
  const seenSessions = new Set<bigint>();
  for (const c of conns) {
    const client = clientAddress(c);
    const dialect = c.negotiated ? dialectName(c.negotiated.dialect) : "";
    const openCount = new Map<bigint, number>();
    for (const o of c.opens.values()) openCount.set(o.sessionId, (openCount.get(o.sessionId) ?? 0) + 1);
    for (const s of c.sessions.values()) {
      // A multichannel session is on several connections: listed once, with its first channel.
      if (seenSessions.has(s.id)) continue;
      seenSessions.add(s.id);
      sessions.push({
        sessionId: hexId(s.id),
        user: s.account,
        client,
        dialect,
        state: s.state,
        guest: s.guest,
        anonymous: s.anonymous,
        signing: {
          on: s.signingKey !== null && (s.signingRequired || s.signedSeen),
          required: s.signingKey !== null && s.signingRequired,
          algorithm: s.signingKey !== null ? SIGNING_ALGS[s.signingAlg] ?? String(s.signingAlg) : null,
        },
        encryption: {
          on: s.encryptor !== null && (s.encryptData || s.encryptedSeen),
          required: s.encryptData,
          cipher: s.encryptor !== null && c.negotiated ? CIPHERS[c.negotiated.cipher] ?? null : null,
        },
        createdAt: new Date(s.createdAt).toISOString(),
        treeConnects: s.trees.size,
        openFiles: openCount.get(s.id) ?? 0,
      });
      for (const t of s.trees.values()) {
        trees.push({
          sessionId: hexId(s.id),
          treeId: t.id,
          share: t.shareName,
          user: s.account,
          client,
          encrypted: t.encryptData,
        });
      }
    }
    for (const o of c.opens.values()) {
      if (o.closed || where.has(o.persistentId)) continue;
      const session = c.sessions.get(o.sessionId);
      const share = session?.trees.get(o.treeId)?.shareName ?? "";
      where.set(o.persistentId, { open: o, share, session, client });
      opens.push({
        sessionId: hexId(o.sessionId),
        treeId: o.treeId,
        fileId: o.id.toString(),
        share,
        path: o.pipe !== null ? o.pipe : (o.relPath === "" ? "." : o.relPath),
        type: o.pipe !== null ? "pipe" : o.isDirectory ? "directory" : "file",
        user: session?.account ?? "",
        client,
        accessMask: o.grantedAccess >>> 0,
        shareAccess: o.shareAccess,
        ...cachingOf(ctx, o.persistentId),
      });
    }
  }
  const locks: ByteRangeLockStatus[] = [];
  for (const l of ctx.byteLocks.all()) {
    // Locks name their open by persistent id (core/state/byte_locks.ts); listed by its FileId as above.
    const w = where.get(l.openId);
    locks.push({
      sessionId: w ? hexId(w.open.sessionId) : "",
      fileId: (w?.open.id ?? l.openId).toString(),
      share: w?.share ?? "",
      path: !w ? "" : w.open.relPath === "" ? "." : w.open.relPath,
      offset: l.offset.toString(),
      length: l.length.toString(),
      type: l.exclusive ? "exclusive" : "shared",
    });
  }
  const m = ctx.stats;
  return {
    server: {
      version: KSMBD_DENO_VERSION,
      pid: Deno.pid,
      port,
      startTime: new Date(ctx.startTime).toISOString(),
      uptimeSeconds: Math.max(0, Math.floor((now - ctx.startTime) / 1000)),
    },
    totals: {
      connections: conns.length,
      connectionsTotal: m.connections,
      sessions: sessions.length,
      sessionsTotal: m.sessionsTotal,
      treeConnects: trees.length,
      openFiles: opens.length,
      byteRangeLocks: locks.length,
      bytesRead: m.bytesRead,
      bytesWritten: m.bytesWritten,
    },
    sessions,
    treeConnects: trees,
    openFiles: opens,
    byteRangeLocks: locks,
    latencyBucketsSeconds: [...LATENCY_BUCKETS, "+Inf"],
    commands: counters(m),
  };
}

/** The gauges the Prometheus endpoint reports (cheaper than a full report: counts only). */
export function collectGauges(ctx: ServerContext): Gauges {
  let sessions = 0;
  let trees = 0;
  let opens = 0;
  let connections = 0;
  const seenSessions = new Set<bigint>();
  const seenOpens = new Set<bigint>();
  for (const c of ctx.connections as Set<Connection>) {
    connections++;
    for (const s of c.sessions.values()) {
      if (seenSessions.has(s.id)) continue; // a multichannel session counts once
      seenSessions.add(s.id);
      sessions++;
      trees += s.trees.size;
    }
    for (const o of c.opens.values()) {
      if (!o.closed && !seenOpens.has(o.persistentId)) opens++;
      seenOpens.add(o.persistentId);
    }
  }
  let locks = 0;
  for (const _ of ctx.byteLocks.all()) locks++;
  return {
    version: KSMBD_DENO_VERSION,
    startTimeMs: ctx.startTime,
    connections,
    sessions,
    treeConnects: trees,
    openFiles: opens,
    byteRangeLocks: locks,
  };
}

function formatDuration(seconds: number): string {
  let s = seconds;
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${d > 0 ? `${d}d ` : ""}${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${
    String(s).padStart(2, "0")
  }`;
}

/** Lays out rows under a header with columns padded to their widest cell (the last one unpadded). */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

/** Control characters of client-chosen names are shown as `\xNN` (one entry per line). */
function safe(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** The `control --status` text: summary, counters, then smbstatus-like tables. */
export function renderStatusText(r: StatusReport): string {
  const t = r.totals;
  const lines = [
    `ksmbd-deno ${r.server.version}, pid ${r.server.pid}, port ${r.server.port}, up ${
      formatDuration(r.server.uptimeSeconds)
    }`,
    `connections: ${t.connections} (total accepted ${t.connectionsTotal})`,
    `sessions: ${t.sessions}`,
    `sessions authenticated since start: ${t.sessionsTotal}`,
    `tree connects: ${t.treeConnects}`,
    `open files: ${t.openFiles}`,
    `byte-range locks: ${t.byteRangeLocks}`,
    `bytes read: ${t.bytesRead}`,
    `bytes written: ${t.bytesWritten}`,
    "commands:",
  ];
  const errLines: string[] = [];
  for (const [name, c] of Object.entries(r.commands)) {
    lines.push(`  ${name}: ${c.requests}`);
    for (const [s, n] of Object.entries(c.errors)) errLines.push(`  ${name} ${s}: ${n}`);
  }
  if (errLines.length) lines.push("errors:", ...errLines);
  lines.push("", "Sessions:");
  lines.push(
    ...table(
      ["SessionId", "User", "Client", "Dialect", "Signing", "Encryption"],
      r.sessions.map((s) => [
        s.sessionId,
        safe(s.anonymous ? "(anonymous)" : s.user + (s.guest ? " (guest)" : "")),
        s.client,
        s.dialect,
        s.signing.on ? `on (${s.signing.algorithm})${s.signing.required ? " required" : ""}` : "off",
        s.encryption.on ? `on (${s.encryption.cipher})${s.encryption.required ? " required" : ""}` : "off",
      ]),
    ),
  );
  lines.push("", "Tree connects:");
  lines.push(
    ...table(
      ["SessionId", "TreeId", "Share", "User", "Client", "Encrypted"],
      r.treeConnects.map((
        x,
      ) => [
        x.sessionId,
        String(x.treeId),
        safe(x.share),
        safe(x.user),
        x.client,
        x.encrypted ? "yes" : "no",
      ]),
    ),
  );
  lines.push("", "Open files:");
  lines.push(
    ...table(
      ["SessionId", "FileId", "Share", "Access", "ShareAccess", "Oplock", "Lease", "Path"],
      r.openFiles.map((o) => [
        o.sessionId,
        o.fileId,
        safe(o.share),
        `0x${o.accessMask.toString(16).padStart(8, "0")}`,
        shareAccessText(o.shareAccess),
        o.oplock,
        o.lease,
        safe(o.path) + (o.type === "directory" ? "/" : ""),
      ]),
    ),
  );
  lines.push("", "Byte-range locks:");
  lines.push(
    ...table(
      ["SessionId", "FileId", "Share", "Type", "Offset", "Length", "Path"],
      r.byteRangeLocks.map((l) => [
        l.sessionId,
        l.fileId,
        safe(l.share),
        l.type,
        l.offset,
        l.length,
        safe(l.path),
      ]),
    ),
  );
  return lines.join("\n");
}
