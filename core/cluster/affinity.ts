/**
 * Client affinity (docs/cluster.md §7.4): every connection of one client — one ClientGuid in its
 * NEGOTIATE (MS-SMB2 2.2.3) — is served by one node. Leases belong to a client GUID and lease key
 * (MS-SMB2 3.3.1.4: LeaseTable per ClientGuid), a break may be acknowledged on any connection of the
 * client and a lease upgraded through any of them; a node keeps its leases in its own memory, so the
 * client's connections must meet there. Windows Scale-Out File Server keeps a client on one node for
 * the same reason (MS-SWN moves it as a whole).
 *
 * `<prefix>clients/<guid>` names the node serving a GUID (a record attached to that node's etcd lease,
 * so it goes when the node dies). A connection whose NEGOTIATE arrives on another node is forwarded to
 * the serving one (core/transport/forward.ts) with a PROXY v2 header carrying the client's address and
 * the cluster's token (`<prefix>cluster-token`, made by the first node); the receiving node serves it
 * and never forwards it again. When the serving node cannot be reached, the client is served where it
 * is (availability first: correctness across nodes is the shared file state's job, this only keeps a
 * client's leases in one place). The record is removed when the node's last connection of the client
 * ends.
 *
 * @module
 */
import { constantTimeEqual } from "../crypto/consttime.ts";
import { EtcdError, type KeyValue } from "./etcd.ts";
import type { EtcdClient } from "./etcd.ts";
import { type ClusterNode, hexOf, randomHex } from "./node.ts";

/** A node's SMB address (a `cluster peers` entry, core/config/cluster_keys.ts; kept apart by the layer rule). */
export interface ClusterPeer {
  name: string;
  /** IPv4 dotted or `[IPv6]`. */
  host: string;
  port: number;
}

/** Where a new connection goes. */
export type Route =
  | { kind: "local" }
  | { kind: "forward"; peer: ClusterPeer };

/** The value of `clients/<guid>`. */
interface ClientRecord {
  v: 1;
  node: string;
  incarnation: string;
}

function parseRecord(value: Uint8Array): ClientRecord | null {
  try {
    const r = JSON.parse(new TextDecoder().decode(value));
    if (r?.v !== 1 || typeof r.node !== "string" || typeof r.incarnation !== "string") return null;
    return { v: 1, node: r.node, incarnation: r.incarnation };
  } catch {
    return null;
  }
}

/**
 * The client GUID of a connection's first frame when it is an SMB2 NEGOTIATE request (MS-SMB2 2.2.1:
 * protocol id 0xFE 'S' 'M' 'B', command 0 at offset 12, flags at 16 without SERVER_TO_REDIR; 2.2.3:
 * ClientGuid at offset 12 of the 36-byte body). Null otherwise, and for an all-zero GUID (SMB 2.0.2
 * clients send zeros).
 */
export function negotiateClientGuid(frame: Uint8Array): Uint8Array | null {
  if (frame.byteLength < 64 + 36) return null;
  if (frame[0] !== 0xfe || frame[1] !== 0x53 || frame[2] !== 0x4d || frame[3] !== 0x42) return null;
  if (frame[12] !== 0 || frame[13] !== 0 || (frame[16] & 1) !== 0) return null;
  const guid = frame.slice(76, 92);
  return guid.some((b) => b !== 0) ? guid : null;
}

/** What {@link ClientAffinity.start} needs. */
export interface AffinityOptions {
  client: EtcdClient;
  node: ClusterNode;
  prefix: string;
  /** `cluster peers` (this node's own entry included or not). */
  peers: readonly ClusterPeer[];
  log: (level: "info" | "warn" | "error", msg: string) => void;
}

/** The client-to-node registry of one node. */
export class ClientAffinity {
  readonly #o: AffinityOptions;
  readonly #peers: Map<string, ClusterPeer>;
  /** The other nodes' addresses: a PROXY header is accepted only from these. */
  readonly #peerHosts: Set<string>;
  readonly #token: Uint8Array;
  readonly #value: string;
  /** This node's connections per client GUID (hex) it serves. */
  readonly #count = new Map<string, number>();
  /** One registry change at a time per GUID, in arrival order. */
  readonly #chain = new Map<string, Promise<unknown>>();

  private constructor(o: AffinityOptions, token: Uint8Array) {
    this.#o = o;
    this.#peers = new Map(o.peers.filter((p) => p.name !== o.node.name).map((p) => [p.name, p]));
    this.#peerHosts = new Set(
      [...this.#peers.values()].map((p) => p.host.startsWith("[") ? p.host.slice(1, -1) : p.host),
    );
    this.#token = token;
    this.#value = JSON.stringify({ v: 1, node: o.node.name, incarnation: o.node.incarnation });
  }

  /** Reads (or, first in the cluster, makes) the cluster's forwarding token. */
  static async start(o: AffinityOptions): Promise<ClientAffinity> {
    const key = `${o.prefix}cluster-token`;
    for (let round = 0; round < 4; round++) {
      const kv = await o.client.get(key);
      if (kv) {
        const text = new TextDecoder().decode(kv.value);
        if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${key} holds a value this version cannot read`);
        return new ClientAffinity(o, kv.value.slice());
      }
      const made = randomHex(32);
      try {
        await o.client.txn({
          compare: [{ key, target: "create", createRevision: 0n }],
          success: [{ put: { key, value: made } }],
        });
      } catch (e) {
        if (!(e instanceof EtcdError && e.maybeApplied)) throw e;
      }
    }
    throw new Error(`${key}: could not be read or made`);
  }

  /** The token a forwarding node puts in its PROXY header. */
  get token(): Uint8Array {
    return this.#token;
  }

  /**
   * Whether a PROXY header from `remote` (the TCP peer's address) carrying `token` comes from another
   * node of this cluster (constant-time token compare).
   */
  acceptsForwarded(remote: string, token: Uint8Array | null): boolean {
    if (!this.#peerHosts.has(remote) || token === null || token.byteLength !== this.#token.byteLength) {
      return false;
    }
    return constantTimeEqual(token, this.#token);
  }

  #serial<T>(id: string, op: () => Promise<T>): Promise<T> {
    const prev = this.#chain.get(id) ?? Promise.resolve();
    const next = prev.then(op, op);
    const tail = next.catch(() => {});
    this.#chain.set(id, tail);
    void tail.then(() => {
      if (this.#chain.get(id) === tail) this.#chain.delete(id);
    });
    return next;
  }

  /**
   * Where a client's new connection (not forwarded) is served. "local" counts the connection: the
   * caller calls {@link release} when it ends. Never throws: etcd trouble means "local".
   */
  route(guid: Uint8Array): Promise<Route> {
    const id = hexOf(guid);
    return this.#serial(id, async (): Promise<Route> => {
      const n = this.#count.get(id) ?? 0;
      if (n > 0) {
        this.#count.set(id, n + 1);
        return { kind: "local" };
      }
      try {
        const owner = await this.#claim(id, false);
        if (owner !== null) {
          const peer = this.#peers.get(owner);
          if (peer) return { kind: "forward", peer };
        }
      } catch (e) {
        this.#o.log(
          "warn",
          `cluster: client ${id}: registry not reachable, serving it here: ${(e as Error).message}`,
        );
      }
      this.#count.set(id, 1);
      return { kind: "local" };
    });
  }

  /**
   * Counts a connection served here although the registry names another node: forwarded to this node
   * (the forwarder read the registry), or the named node could not be reached. Takes the record when
   * it is free or its node is gone.
   */
  adopt(guid: Uint8Array): Promise<void> {
    const id = hexOf(guid);
    return this.#serial(id, async () => {
      const n = this.#count.get(id) ?? 0;
      this.#count.set(id, n + 1);
      if (n > 0) return;
      try {
        await this.#claim(id, true);
      } catch { /* served here all the same */ }
    });
  }

  /**
   * Makes this node the GUID's node unless a live other node is: returns that node's name, or null
   * when the record is (now) this node's. `quiet`: a forwarded connection, no log of the owner.
   */
  async #claim(id: string, quiet: boolean): Promise<string | null> {
    const key = `${this.#o.prefix}clients/${id}`;
    const node = this.#o.node;
    for (let round = 0; round < 4; round++) {
      const kv: KeyValue | null = await this.#o.client.get(key);
      if (kv) {
        const rec = parseRecord(kv.value);
        if (rec === null) {
          if (!quiet) {
            this.#o.log("warn", `cluster: ${key} holds a value this version cannot read; serving here`);
          }
          return null;
        }
        if (rec.node === node.name && rec.incarnation === node.incarnation) return null;
        if (node.isLive(rec.node, rec.incarnation)) return rec.node;
      }
      const r = await this.#o.client.txn({
        compare: [
          kv
            ? { key, target: "mod", modRevision: kv.modRevision }
            : { key, target: "create", createRevision: 0n },
        ],
        success: [{ put: { key, value: this.#value, lease: node.leaseId } }],
      });
      if (r.succeeded) return null;
    }
    return null;
  }

  /** A connection counted by {@link route} or {@link adopt} ended. */
  release(guid: Uint8Array): void {
    const id = hexOf(guid);
    void this.#serial(id, async () => {
      const n = (this.#count.get(id) ?? 1) - 1;
      if (n > 0) {
        this.#count.set(id, n);
        return;
      }
      this.#count.delete(id);
      const key = `${this.#o.prefix}clients/${id}`;
      try {
        // Only this node's record goes (another node may have taken it over meanwhile).
        await this.#o.client.txn({
          compare: [{ key, target: "value", value: this.#value }],
          success: [{ delete: { key } }],
        });
      } catch { /* attached to this node's lease: it goes with the node at the latest */ }
    }).catch(() => {});
  }

  /** Client GUIDs this node serves (for tests and `control --list`). */
  servedClients(): number {
    return this.#count.size;
  }
}
