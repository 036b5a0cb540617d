/**
 * Every size and count limit of the server, in one place. Values marked "config" are defaults that
 * ksmbd.conf may override (docs/ksmbd_compat.md §3).
 */
export const Limits = {
  /** Direct TCP frame before a session is authenticated (ksmbd: 16 KiB before negotiate/auth). */
  preAuthMaxFrame: 16 * 1024 + 64,
  /** Absolute ceiling of a Direct TCP frame (24-bit length field). */
  maxFrame: 0xffffff,
  /** Bytes of PDU allowed beyond max read/write/trans for headers and compounds. */
  frameOverhead: 64 * 1024,
  /** config: smb2 max read / write / trans (ksmbd defaults 4 MiB / 4 MiB / 1 MiB); large MTU up to 8 MiB. */
  maxRead: 8 * 1024 * 1024,
  maxWrite: 8 * 1024 * 1024,
  maxTrans: 1024 * 1024,
  /** config: smb2 max credits. */
  maxCredits: 8192,
  /** Credits granted per response beyond the charge when the client asks for more. */
  creditsPerResponseMax: 512,
  /** Largest credit charge a single request may carry (8 MiB / 64 KiB). */
  maxCreditCharge: 128,
  /** Elements in one compound chain. */
  maxCompoundElements: 64,
  /** config: max connections (0 -> 65536), max ip connections. */
  maxConnections: 256,
  maxIpConnections: 32,
  /** config: max open files (server-wide, as ksmbd's fd_limit). */
  maxOpenFiles: 10000,
  maxActiveSessions: 1024,
  /**
   * Channels (connections) bound to one session (MS-SMB2 3.3.5.5: a bind past it fails
   * INSUFFICIENT_RESOURCES; Windows Server 2012 R2 and 2016 allow 32, smbtorture smb2.multichannel).
   */
  maxChannelsPerSession: 32,
  /** Session binds in progress on one connection at once (each holds an authentication exchange). */
  maxPendingBinds: 16,
  /**
   * Failed-login throttling (core/auth/login_throttle.ts): config `login failure delay` (ksmbd: 5 s),
   * the wait after a failed password check before the next check of that client; an attempt that
   * would wait more than this many delays is refused without a check; failures of one account, from
   * any client, within the window before each further failure delays the account too (ksmbd.mountd:
   * 10); attempts of one client queued at once (the default `max ip connections` times the 16 setups
   * a connection may have in progress, so legitimate bursts never reach it); clients and accounts
   * tracked (past it new ones are refused), and the size at which idle entries are dropped.
   */
  loginFailureDelayMs: 5_000,
  loginThrottleMaxDelays: 4,
  loginUserFailuresBeforeLock: 10,
  loginUserFailureWindowMs: 10 * 60_000,
  loginThrottleMaxWaiting: 512,
  loginThrottleMaxTracked: 65_536,
  loginThrottlePruneAt: 4_096,
  /**
   * How long a holder has to acknowledge an oplock or lease break before the server lowers it itself
   * (MS-SMB2 3.3.2.1/3.3.2.5 Oplock/Lease Break Acknowledgment Timer; Windows and ksmbd: 35 s).
   */
  breakAckTimeoutMs: 35_000,
  /**
   * The first write through an open changes the reported write time this long after it, not at
   * once (MS-FSA 2.1.4.17 note 43: Windows updates it lazily; Samba 4.17 waits 2 s), core/state/write_time.ts.
   */
  writeTimeUpdateDelayMs: 2_000,
  /**
   * A CREATE that waits for breaks tries again after each round of acknowledgments; past this many
   * rounds (other clients keep re-taking caching) it fails with SHARING_VIOLATION instead of waiting on.
   */
  maxOpenBreakRounds: 16,
  /**
   * Durable handles (core/smb2/durable.ts): kept this long after the connection is lost when the
   * client names no timeout (v1, or v2 with Timeout 0; MS-SMB2 3.3.5.9.10 suggests 60 s); the
   * longest kept by default (`durable handle timeout`, as ksmbd's 300 s cap); the key's ceiling.
   */
  durableTimeoutDefaultMs: 60_000,
  durableTimeoutMaxMs: 300_000,
  durableTimeoutCeilingMs: 24 * 60 * 60_000,
  /**
   * Resource limits of one connection (docs/security.md "Resource limits"). Response bytes queued
   * for a client and not yet taken by its socket: past this the connection reads no further request
   * until the queue is back under it, and a queue that stays over it for `sendStallTimeoutMs` (the
   * client does not read) drops the connection. One READ response may exceed it on its own.
   */
  maxSendQueueBytes: 1024 * 1024,
  sendStallTimeoutMs: 30_000,
  /**
   * Requests of one connection being processed at once, and the bytes of their frames; past either,
   * no further request is read until one finishes (credits bound them too, but a client that
   * ignores its window or holds 8 MiB WRITEs should not make the server hold more).
   */
  maxRequestsInFlight: 512,
  maxInFlightBytes: 64 * 1024 * 1024,
  /**
   * Requests of one connection that went asynchronous at once (CHANGE_NOTIFY, blocking LOCKs, CREATEs
   * waiting for a break): one more is answered STATUS_INSUFFICIENT_RESOURCES instead of waiting.
   */
  maxAsyncPerConnection: 1024,
  /**
   * config `negotiate timeout` / `session setup timeout` (seconds): a connection that has not sent
   * a NEGOTIATE this long after it was accepted, or has no authenticated session this long after it
   * was accepted, is dropped, so idle connections cannot hold every connection slot.
   */
  negotiateTimeoutMs: 20_000,
  authTimeoutMs: 60_000,
  /** A failed accept (EMFILE, ENFILE, ...) is retried after this, doubling up to the maximum. */
  acceptRetryMinMs: 10,
  acceptRetryMaxMs: 1_000,
  /**
   * config `max open files per session`: opens one session holds at once (`max open files` is the
   * server-wide count, as in ksmbd); past either the CREATE fails STATUS_TOO_MANY_OPENED_FILES.
   */
  maxOpenFilesPerSession: 4096,
  /**
   * Descriptors kept out of the open budget (core/fd_budget.ts): listeners, the control socket, the
   * accounts Worker, inotify, logs and sqlite's temporary files, and the `dirListStreams` (32)
   * directories that enumerations keep open; plus one per `max connections` (the socket) and this
   * many per share: its metadata database, WAL and shared-memory files, the row cache's own
   * read-only descriptor of the shared-memory file (core/vfs/metadata.ts), and the descriptors it
   * keeps after a close (`spareFdsPerShare`).
   */
  fdReserve: 96,
  fdPerShare: 4,
  /**
   * Descriptors of closed regular files a share keeps for `spareFdMs`, so that an open of the same
   * file with the same flags soon after takes one instead of opening the path again
   * (core/vfs/share_fs.ts #spares; docs/performance.md "Descriptors kept after a close").
   */
  spareFdsPerShare: 8,
  spareFdMs: 500,
  /** The budget never goes below this, however low `ulimit -n` is (the server logs a warning). */
  fdBudgetFloor: 16,
  /** Trees connected in one session at once (TREE_CONNECT past it: STATUS_INSUFFICIENT_RESOURCES). */
  maxTreesPerSession: 1024,
  /**
   * Sessions on one connection at once, and of one client (an IPv4 address or IPv6 /64) over all its
   * connections, established or being set up; the client's share is also at most half of `max active
   * sessions`. Past either a new SESSION_SETUP fails STATUS_REQUEST_NOT_ACCEPTED.
   */
  maxSessionsPerConnection: 256,
  maxSessionsPerClient: 256,
  /**
   * QUERY_DIRECTORY: the search pattern's length in bytes (UTF-16). A pattern is matched against one
   * name (at most 255 UTF-16 units), so twice that leaves room for wildcards; a longer FileName fails
   * STATUS_OBJECT_NAME_INVALID.
   */
  maxSearchPatternBytes: 1024,
  /** Session setup must finish within this many ms, or the half-built session is dropped. */
  sessionSetupTimeoutMs: 60_000,
  /** After a CANCEL, later replies wait at most this long for the cancelled request's final response. */
  cancelOrderWaitMs: 2_000,
  /** SPNEGO / NTLMSSP token size. */
  maxSecurityBuffer: 64 * 1024,
  /** Path length in UTF-16 code units (Windows MAX_PATH-ish for a component chain). */
  maxPathChars: 32767,
  maxNameComponentBytes: 255,
  /** Bridge to rpc-wasm: per-call timeout and payload cap (ksmbd: 2 s, 4 KiB; RPC replies larger). */
  ipcTimeoutMs: 2000,
  ipcMaxPayload: 64 * 1024,
  /** Calls waiting for the rpc-wasm module at once; one more fails at once (pipes: INSUFFICIENT_RESOURCES). */
  ipcMaxPending: 1024,
  /**
   * Named pipes one session holds open at once (each holds RPC state in the module and up to one
   * `ipcMaxPayload` message here, so RPC bytes per session are bounded by their product); one more
   * CREATE fails STATUS_INSUFFICIENT_RESOURCES.
   */
  maxPipesPerSession: 64,
  /**
   * Byte-range locks (core/state/byte_locks.ts): locks held on one file at once by all its opens (a
   * LOCK beyond it gets STATUS_INSUFFICIENT_RESOURCES), and LOCK requests waiting on one file at once
   * (one more is refused the same way). Each costs a few hundred bytes; a check is O(log n).
   */
  maxLocksPerFile: 100_000,
  maxLockWaitersPerFile: 1024,
  /** SMB2_LOCK_ELEMENTs in one LOCK request (64 KiB of elements), so a LockCount cannot make us allocate. */
  maxLockElements: 2730,
  /** Directory entries returned per QUERY_DIRECTORY at most (buffer limits it first). */
  maxDirEntriesPerReply: 4096,
  /**
   * QUERY_DIRECTORY reads the metadata of a listing's names this many at a time (core/smb2/
   * query_directory.ts): the work of one request and the entries held per enumeration are bounded.
   */
  dirStatBatch: 1024,
  /**
   * Enumerations (QUERY_DIRECTORY) that keep their directory open between requests, reading a batch
   * of names per request, over the whole process (core/vfs/share_fs.ts DirNameCursor; reserved in
   * `fdReserve`). Past it a new enumeration reads its whole listing in its first request and keeps
   * the names packed, holding no descriptor.
   */
  dirListStreams: 32,
  /**
   * QUERY_DIRECTORY reads this many names, then their metadata (lstat and the metadata store) in one
   * go: 1-2 ms of event loop here; the names' reads and `dirWorkSliceMs` let other requests in.
   */
  dirStatChunk: 64,
  /**
   * Work on a whole directory done for a listing without blocking (the short names of its entries,
   * core/vfs/share_fs.ts prepareDirShortNames) runs at most this long before other requests run.
   */
  dirWorkSliceMs: 4,
  /**
   * A directory whose size (st_size: about 20 bytes per entry on tmpfs, its blocks on ext4) is at
   * least this has its case index read asynchronously before a CREATE's walk needs it
   * (core/vfs/share_fs.ts prepareLookup); a smaller one is read in one synchronous call (a few ms).
   */
  dirIndexSyncBytes: 64 * 1024,
  /**
   * Names kept in all cached case-insensitive directory indexes together (core/vfs/share_fs.ts;
   * about 150 bytes each): past it the least recently used indexes go, the newest always stays.
   */
  dirCacheMaxNames: 1_000_000,
  /** Negotiate contexts at most in one NEGOTIATE. */
  maxNegotiateContexts: 16,
  /** Dialects at most in one NEGOTIATE. */
  maxDialects: 64,
  /**
   * Prometheus endpoint (core/metrics_server.ts): largest request head read (request line and
   * headers; a larger one gets 431), time a client has to send it, and connections served at once
   * (more are closed at once).
   */
  metricsMaxRequestBytes: 8 * 1024,
  metricsRequestTimeoutMs: 5_000,
  metricsMaxConnections: 16,
  /**
   * Live configuration (core/reload.ts): how often ksmbd.conf and ksmbdpwd.db are polled for changes
   * made by other tools; a change is applied once two polls in a row saw the same file.
   */
  configPollMs: 500,
  /**
   * Hand-over to a new server process (core/handover.ts, docs/operations.md "Adding shares at run
   * time"): how long the old process keeps serving the connections it has before closing them
   * (config: `handover drain timeout`, this default and at most the maximum), how long a new process
   * may take to start, and how long each later step may take.
   */
  handoverDrainMs: 10 * 60_000,
  handoverDrainMaxMs: 24 * 60 * 60_000,
  handoverStartMs: 60_000,
  handoverStepMs: 10_000,
  /**
   * Launcher: the first run's `deno task build:wasm` (cli/first_run.ts) is stopped after this long; it
   * fetches AssemblyScript from npm once, then compiles in seconds.
   */
  firstRunBuildTimeoutMs: 10 * 60_000,
  /**
   * Discovery (core/discovery/, docs/operations.md "Discovery"). WS-Discovery: largest SOAP message
   * accepted (a UDP datagram, or an HTTP body on 5357), and the bounds of the minimal XML reader.
   */
  wsdMaxMessageBytes: 32 * 1024,
  wsdMaxXmlElements: 256,
  wsdMaxXmlDepth: 32,
  wsdMaxXmlAttributes: 32,
  wsdMaxXmlText: 4096,
  /** WS-Discovery: random delay before a ProbeMatches / ResolveMatches (WS-Discovery APP_MAX_DELAY). */
  wsdAppMaxDelayMs: 500,
  /** WS-Discovery: message IDs remembered to drop a prober's repeated multicasts. */
  wsdRecentMessageIds: 128,
  /** WS-Discovery: answers sent per second at most (a flood of probes cannot make a flood of replies). */
  wsdMaxRepliesPerSecond: 64,
  /** WS-Discovery metadata HTTP server: request head size, simultaneous connections, whole-exchange time. */
  wsdHttpMaxHeaderBytes: 8 * 1024,
  wsdHttpMaxConnections: 16,
  wsdHttpTimeoutMs: 5_000,
  /** mDNS: largest packet (RFC 6762 §17: 9000 bytes), questions+records per packet, answers per second. */
  mdnsMaxPacket: 9000,
  mdnsMaxRecords: 128,
  mdnsMaxRepliesPerSecond: 64,
  /** mDNS: how many times the names are changed after conflicts before giving up (RFC 6762 §9). */
  mdnsMaxRenames: 8,
  /**
   * Server-side copy (FSCTL_SRV_COPYCHUNK[_WRITE], MS-SMB2 3.3.3 / 3.3.5.15.6, docs/fsctl.md): the
   * chunks one request may carry, the bytes of one chunk and of one request (Windows' values); a
   * request past them fails INVALID_PARAMETER and the response names these limits.
   */
  copyChunkMaxChunks: 256,
  copyChunkMaxChunkSize: 1024 * 1024,
  copyChunkMaxTotal: 16 * 1024 * 1024,
  /**
   * FSCTL_QUERY_ALLOCATED_RANGES on a sparse file (docs/fsctl.md): bytes read per step while looking
   * for non-zero data, the granule a range is reported in, and the bytes one request scans at most
   * (the rest of the range is then reported as allocated, which is always a correct answer).
   */
  allocatedRangesScanBuffer: 1024 * 1024,
  allocatedRangesGranule: 4096,
  allocatedRangesMaxScan: 256 * 1024 * 1024,
  /** FSCTL_SET_ZERO_DATA: bytes read and written per step while zeroing (docs/fsctl.md). */
  zeroDataBuffer: 1024 * 1024,
  /**
   * Server-side copies, zeroings and allocated-range scans running at once in the process (each holds
   * up to 2 MiB of buffers; core/smb2/fsctl_limiter.ts); more wait for a slot.
   */
  fsctlMaxConcurrentDataOps: 32,
  /**
   * Extended attributes (MS-FSA 2.1.5.15.5, docs/metadata_store.md): a file's EAs together, measured
   * as their FILE_FULL_EA_INFORMATION list (MS-FSCC 2.4.15), may not exceed NTFS's 64 KiB - 5 bytes
   * (STATUS_EA_TOO_LARGE); entries in one EA list a client sends (SET_INFO, ExtA, a query's
   * FILE_GET_EA_INFORMATION list) at most.
   */
  eaMaxTotalBytes: 64 * 1024 - 5,
  eaMaxListEntries: 4096,
  /**
   * CHANGE_NOTIFY (core/smb2/notify.ts, core/vfs/watch.ts): changes kept per watching open while no
   * request is pending (past it the next request gets STATUS_NOTIFY_ENUM_DIR, MS-SMB2 3.3.5.19), and
   * raw inotify events gathered per watched directory between two deliveries (past it: the same).
   */
  notifyMaxQueuedEvents: 256,
  /**
   * Directories watched on the disk at once (one inotify instance each; Linux allows 128 per user by
   * default, fs.inotify.max_user_instances) and per session; past them a watch sees only changes
   * made through the server.
   */
  notifyMaxWatchedDirs: 96,
  notifyMaxWatchesPerSession: 32,
  /** Raw inotify events are gathered this long before they are translated (a rename is 3 events). */
  notifyDiskBatchMs: 15,
  /**
   * Inotify events on a path the server changed itself less than this long ago are its own echo and
   * are not reported twice; at most this many such paths are remembered (the oldest are forgotten).
   */
  notifyOwnEchoMs: 2_000,
  notifyMaxOwnMarks: 4096,
  /**
   * Directories per share whose entries changed (create, rename, link, delete) and were not fsynced
   * yet, remembered so a later FLUSH makes the names durable (docs/security.md "Durability"); past it
   * the oldest is fsynced at once and forgotten.
   */
  unsyncedDirsMax: 4096,
  /**
   * Crypto Workers (core/crypto/worker_pool.ts): at most this many (fewer on a machine with fewer
   * cores: one per core), and jobs queued per Worker; past that a message is encrypted or decrypted
   * on the event loop instead of waiting for a Worker (the queue never grows without bound).
   */
  cryptoWorkersMax: 32,
  cryptoJobsPerWorker: 8,
  /**
   * Large buffers kept for reuse, request frames and READ payloads alike (core/transport/buffer_pool.ts):
   * at most `largeBufferPoolBytes` while large messages keep coming (8 clients writing at once keep
   * 48-64 MiB in flight here, docs/performance.md "One pool for frames and payloads"), and
   * `largeBufferIdleBytes` once no large buffer was taken for `largeBufferIdleMs`.
   */
  largeBufferPoolBytes: 128 * 1024 * 1024,
  largeBufferIdleBytes: 64 * 1024 * 1024,
  largeBufferIdleMs: 5000,
  /**
   * Files whose metadata record and security descriptor one share's store keeps between requests
   * (core/vfs/metadata.ts: used only while the database is unchanged; the oldest is dropped first).
   */
  metaRowCacheEntries: 4096,
  /**
   * WRITEs of at least this many bytes go through a second descriptor of the file that the runtime
   * writes from its thread pool (core/vfs/share_fs.ts ShareFs.write); smaller ones are written on the
   * event loop, where a write(2) of a few KiB to the page cache costs less than the hand-off.
   */
  asyncWriteMin: 64 * 1024,
  /**
   * glibc malloc of the server process (core/malloc_tunables.ts, set by the launcher): allocations
   * below this come from the heap, not a fresh mmap each. Above the largest message (8 MiB + headers)
   * and its copies, so that WebCrypto's copy of a signed message or a ciphertext reuses freed memory
   * instead of faulting in and zeroing new pages (docs/performance.md "Large buffers and the allocator").
   */
  mallocMmapThreshold: 32 * 1024 * 1024,
  /** glibc malloc: free memory at the top of a heap kept for reuse rather than returned to the kernel. */
  mallocTrimThreshold: 64 * 1024 * 1024,
  /** Largest etcd gateway answer or watch stream message read (core/cluster/etcd.ts, docs/cluster.md). */
  etcdMaxResponseBytes: 8 * 1024 * 1024,
  /**
   * Cluster membership (core/cluster/node.ts, docs/cluster.md §7): live node records tracked (more
   * are logged and ignored), largest node record or node-to-node message (bigger: unreadable, or
   * refused by send), and undelivered messages held in memory at once (a page of the read of a
   * node's `breaks/` prefix; the keys of recently delivered messages remembered to deliver once).
   */
  clusterMaxNodes: 1024,
  clusterMaxMessageBytes: 64 * 1024,
  clusterMaxPendingMessages: 256,
  /** Opens one node may list in its record of one file (core/state/cluster_files.ts); more: unreadable. */
  clusterMaxOpensPerRecord: 4096,
  /** Byte-range locks one node may list in its record of one file; more: unreadable. */
  clusterMaxLocksPerRecord: 4096,
  /** A file-record watch silent this long is reopened (etcd sends progress notifications). */
  clusterWatchIdleMs: 30_000,
  /** A CREATE waiting for another node's holders looks again at least this often. */
  clusterWaitPollMs: 250,
  /** Lost compare-and-put races of one admission before it waits and tries again. */
  clusterTxnRetries: 8,
  /** Writes stop this long before the node's etcd lease may have run out (docs/cluster.md §8). */
  clusterFenceMarginMs: 500,
  /** How long a reconnecting node waits for the others to hand over a durable open. */
  clusterHandoverWaitMs: 3000,
  /** File records read at once when a dead node's records are removed (docs/cluster.md §7). */
  clusterReapBatch: 10_000,
  /** Longest wait for one etcd call in cluster mode (less when `cluster lease ttl` is short). */
  clusterEtcdTimeoutMs: 5000,
  /**
   * Client affinity (core/cluster/affinity.ts, docs/cluster.md §7.4): the longest wait for the serving
   * node to accept a forwarded connection (then the client is served here), and the largest PROXY v2
   * header accepted from a peer (addresses and the 32-byte token take 71 bytes at most).
   */
  clusterForwardConnectMs: 2000,
  /**
   * A fenced node (docs/cluster.md §8) asks the launcher for a new server process, which joins the
   * cluster afresh: first after this long, then at doubling intervals up to the second value while
   * etcd cannot be reached (core/main.ts).
   */
  clusterRejoinFirstMs: 1000,
  clusterRejoinMaxMs: 60_000,
  proxyHeaderMaxBytes: 256,
  /**
   * Shared user database and share sections (core/cluster/shared_config.ts, docs/cluster.md §7.3):
   * largest encoded value (etcd refuses requests over 1.5 MiB), and the pause before a sync that
   * failed (etcd unreachable, a file not written) is tried again.
   */
  clusterSharedConfigMaxBytes: 1024 * 1024,
  clusterSharedConfigRetryMs: 2000,
  /**
   * A directory's cached case index is trusted, when other processes write there too, only if read
   * this long after the directory's last change (Linux stamps mtime from a coarse clock tick).
   */
  dirIndexSettleMs: 20,
} as const;
