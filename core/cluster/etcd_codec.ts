/**
 * Decoding and validation of etcd v3 JSON gateway messages (grpc-gateway's proto3 JSON mapping):
 * bytes fields are base64, int64 fields are decimal strings, and fields holding their default value
 * (0, "", false, empty list) are left out. Every reader here checks the shape and throws
 * {@link EtcdError} of kind "malformed" on anything else, so a broken or hostile answer never
 * becomes an untyped exception in the caller (docs/cluster.md "Validation").
 *
 * @module
 */

/** What went wrong in an etcd call (docs/cluster.md "Errors"). */
export type EtcdErrorKind = "unavailable" | "timeout" | "malformed" | "compacted" | "rejected";

/** The only error the etcd client throws or reports. */
export class EtcdError extends Error {
  /** Category of the failure. */
  readonly kind: EtcdErrorKind;
  /** gRPC status code etcd answered with (gateway `code`), when it answered with one. */
  readonly grpcCode: number | null;
  /** Endpoint of the last attempt, when there was one. */
  readonly endpoint: string | null;
  /**
   * True when a change (put, delete, txn, lease grant or revoke) may have been applied although the
   * call failed: the request was sent and no answer came. The caller re-reads before deciding.
   */
  readonly maybeApplied: boolean;

  constructor(
    kind: EtcdErrorKind,
    message: string,
    opts: { grpcCode?: number | null; endpoint?: string | null; maybeApplied?: boolean } = {},
  ) {
    super(`etcd ${kind}: ${message}`);
    this.name = "EtcdError";
    this.kind = kind;
    this.grpcCode = opts.grpcCode ?? null;
    this.endpoint = opts.endpoint ?? null;
    this.maybeApplied = opts.maybeApplied ?? false;
  }
}

/** Throws a "malformed" error naming the field. */
export function malformed(what: string): never {
  throw new EtcdError("malformed", what);
}

/** A JSON object (not null, not an array). */
export type JsonObject = Record<string, unknown>;

/** Returns `v` as an object or throws "malformed". */
export function asObject(v: unknown, what: string): JsonObject {
  if (typeof v !== "object" || v === null || Array.isArray(v)) malformed(`${what} is not an object`);
  return v as JsonObject;
}

/** Optional object field: undefined when absent. */
export function optObject(o: JsonObject, field: string, what: string): JsonObject | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  return asObject(v, `${what}.${field}`);
}

/** Optional array field: empty when absent (proto3 leaves empty lists out). */
export function optArray(o: JsonObject, field: string, what: string): unknown[] {
  const v = o[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) malformed(`${what}.${field} is not an array`);
  return v;
}

/** Optional boolean field: false when absent. */
export function optBool(o: JsonObject, field: string, what: string): boolean {
  const v = o[field];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") malformed(`${what}.${field} is not a boolean`);
  return v;
}

/** Optional string field: "" when absent. */
export function optString(o: JsonObject, field: string, what: string): string {
  const v = o[field];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") malformed(`${what}.${field} is not a string`);
  return v;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const DECIMAL = /^-?[0-9]{1,20}$/;

/**
 * An int64 field as bigint: proto3 JSON writes int64 as a decimal string (numbers are accepted too
 * when they are safe integers); 0 when absent.
 */
export function optInt64(o: JsonObject, field: string, what: string): bigint {
  const v = o[field];
  if (v === undefined || v === null) return 0n;
  let n: bigint;
  if (typeof v === "string") {
    if (!DECIMAL.test(v)) malformed(`${what}.${field} is not an int64`);
    n = BigInt(v);
  } else if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) malformed(`${what}.${field} is not a safe integer`);
    n = BigInt(v);
  } else {
    return malformed(`${what}.${field} is not an int64`);
  }
  if (n < INT64_MIN || n > INT64_MAX) malformed(`${what}.${field} is out of int64 range`);
  return n;
}

const UINT64_MAX = (1n << 64n) - 1n;

/** A uint64 field (member and cluster ids) as bigint; 0 when absent. */
export function optUint64(o: JsonObject, field: string, what: string): bigint {
  const v = o[field];
  if (typeof v === "string" && DECIMAL.test(v) && !v.startsWith("-")) {
    const n = BigInt(v);
    if (n > UINT64_MAX) malformed(`${what}.${field} is out of uint64 range`);
    return n;
  }
  const n = optInt64(o, field, what);
  if (n < 0n) malformed(`${what}.${field} is negative`);
  return n;
}

/** An int64 field that must fit a JS number (TTLs, counts): throws "malformed" past 2^53. */
export function optSafeInt(o: JsonObject, field: string, what: string): number {
  const n = optInt64(o, field, what);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    malformed(`${what}.${field} is not a safe integer`);
  }
  return Number(n);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Bytes to standard base64 (what grpc-gateway expects for `bytes`). */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    s += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(s);
}

/** Standard base64 to bytes; throws "malformed" on anything that is not canonical base64. */
export function fromBase64(s: string, what: string): Uint8Array {
  if (!BASE64.test(s)) malformed(`${what} is not base64`);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Optional bytes field: empty when absent. */
export function optBytes(o: JsonObject, field: string, what: string): Uint8Array {
  const v = o[field];
  if (v === undefined || v === null) return new Uint8Array(0);
  if (typeof v !== "string") malformed(`${what}.${field} is not a base64 string`);
  return fromBase64(v, `${what}.${field}`);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of a string key or value; bytes pass through. */
export function bytesOf(v: string | Uint8Array): Uint8Array {
  return typeof v === "string" ? encoder.encode(v) : v;
}

/** UTF-8 text of bytes (invalid sequences become U+FFFD). */
export function textOf(b: Uint8Array): string {
  return decoder.decode(b);
}

/**
 * The `range_end` that selects every key starting with `prefix` (etcd's rule: the prefix with its
 * last byte below 0xff incremented, trailing 0xff bytes dropped; "\0" — every key — when nothing
 * is left).
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = prefix.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

/** One key as etcd stores it (mvccpb.KeyValue). */
export interface KeyValue {
  /** The key as UTF-8 text (see {@link KeyValue.keyBytes} for the exact bytes). */
  key: string;
  keyBytes: Uint8Array;
  value: Uint8Array;
  /** Revision of the put that created the key (0 for a deletion event). */
  createRevision: bigint;
  /** Revision of the last change. */
  modRevision: bigint;
  /** Number of puts since creation (0 for a deletion event). */
  version: bigint;
  /** Lease the key is attached to (0n: none). */
  lease: bigint;
}

/** Decodes one mvccpb.KeyValue. */
export function parseKeyValue(v: unknown, what: string): KeyValue {
  const o = asObject(v, what);
  const keyBytes = optBytes(o, "key", what);
  return {
    key: textOf(keyBytes),
    keyBytes,
    value: optBytes(o, "value", what),
    createRevision: optInt64(o, "create_revision", what),
    modRevision: optInt64(o, "mod_revision", what),
    version: optInt64(o, "version", what),
    lease: optInt64(o, "lease", what),
  };
}

/** The response header every answer carries. */
export interface ResponseHeader {
  clusterId: bigint;
  memberId: bigint;
  /** Store revision when the request was served. */
  revision: bigint;
  raftTerm: bigint;
}

/** Decodes a ResponseHeader (all fields may be absent). */
export function parseHeader(o: JsonObject, what: string): ResponseHeader {
  const h = optObject(o, "header", what) ?? {};
  return {
    clusterId: optUint64(h, "cluster_id", `${what}.header`),
    memberId: optUint64(h, "member_id", `${what}.header`),
    revision: optInt64(h, "revision", `${what}.header`),
    raftTerm: optUint64(h, "raft_term", `${what}.header`),
  };
}

/** A gateway error body `{"error", "message", "code"}` (or a stream's `{"error": {...}}`). */
export interface GatewayError {
  code: number;
  message: string;
}

/** Returns the error carried by a gateway answer, or null when it is not an error answer. */
export function gatewayError(o: JsonObject): GatewayError | null {
  const e = o.error;
  if (e === undefined) return null;
  if (typeof e === "string") {
    const code = o.code;
    const message = typeof o.message === "string" ? o.message : e;
    return { code: typeof code === "number" && Number.isInteger(code) ? code : 2, message };
  }
  if (typeof e === "object" && e !== null && !Array.isArray(e)) {
    // Streaming endpoints: {"error": {"grpc_code", "http_code", "message", ...}}.
    const eo = e as JsonObject;
    const code = typeof eo.grpc_code === "number" ? eo.grpc_code : typeof eo.code === "number" ? eo.code : 2;
    return { code, message: typeof eo.message === "string" ? eo.message : "error" };
  }
  return malformed("error field is neither a string nor an object");
}
