/**
 * The typed, frozen form of ksmbd.conf (ksmbd-reference §3). Produced by core/config/parse.ts; the
 * server reads GlobalConfig, and ShareConfig is handed to the rpc-wasm accounts module over the bridge
 * (tree-connect authorization and SHARE_CONFIG replies happen there, as in ksmbd.mountd).
 */

/** `server signing` / `smb3 encryption` values (ksmbd config-option numbers). */
export type TriState = "disabled" | "enabled" | "auto" | "mandatory";

/** Dialect names accepted by `server min protocol` / `server max protocol`. */
export type ProtocolName = "SMB2_02" | "SMB2_10" | "SMB3_00" | "SMB3_02" | "SMB3_11";

export interface GlobalConfig {
  bindInterfacesOnly: boolean;
  /** Minutes; 0 = never. */
  deadtime: number;
  durableHandles: boolean;
  guestAccount: string;
  interfaces: string[];
  /** Seconds; 0 = never. */
  ipcTimeout: number;
  kerberosKeytabFile: string;
  kerberosServiceName: string;
  kerberosSupport: boolean;
  mapToGuest: "never" | "bad user" | "bad password" | "bad uid";
  maxActiveSessions: number;
  maxConnections: number;
  maxIpConnections: number;
  maxOpenFiles: number;
  netbiosName: string;
  restrictAnonymous: number;
  rootDirectory: string;
  serverMaxProtocol: ProtocolName;
  serverMinProtocol: ProtocolName;
  serverMultiChannelSupport: boolean;
  serverSigning: TriState;
  serverString: string;
  fakeFscaps: number;
  smb2Leases: boolean;
  smb2MaxCredits: number;
  smb2MaxRead: number;
  smb2MaxTrans: number;
  smb2MaxWrite: number;
  smb3Encryption: TriState;
  smbdMaxIoSize: number;
  tcpPort: number;
  workgroup: string;
  /** ksmbd-deno additions (documented in README): where sidecar metadata and subauth live. */
  stateDirectory: string;
  /** ksmbd-deno: "webcrypto" (default, sandboxed) or "openssl" (FFI to libcrypto.so.3). */
  cryptoBackend: "webcrypto" | "openssl";
  /**
   * ksmbd-deno: where the Prometheus endpoint listens, canonical `IP:PORT` / `[IPv6]:PORT`; "" = off
   * (core/metrics_server.ts).
   */
  metricsAddress: string;
  /** ksmbd-deno: log lines as text or one JSON object per line (core/log.ts). */
  logFormat: "text" | "json";
  /** ksmbd-deno: least severe of error/warn/info printed; debug switches every component on. */
  logLevel: "error" | "warn" | "info" | "debug";
  /** ksmbd-deno: WS-Discovery responder, so Windows lists the server under Network (core/discovery/wsd.ts). */
  wsd: boolean;
  /** ksmbd-deno: mDNS/DNS-SD `_smb._tcp` announcer for macOS Finder (core/discovery/mdns.ts). */
  mdns: boolean;
  /** ksmbd-deno: where discovery announces (names, IPv4 addresses or networks); empty = the listen addresses. */
  discoveryInterfaces: string[];
}

export interface ShareConfig {
  /** Section name as written (case preserved); lookups are case-insensitive. */
  name: string;
  comment: string;
  /** Absolute path (root directory prepended); "" for IPC$. */
  path: string;
  guestOk: boolean;
  guestAccount: string;
  readOnly: boolean;
  browseable: boolean;
  storeDosAttributes: boolean;
  oplocks: boolean;
  createMask: number;
  directoryMask: number;
  forceCreateMode: number;
  forceDirectoryMode: number;
  forceGroup: string;
  forceUser: string;
  hideDotFiles: boolean;
  validUsers: string[];
  invalidUsers: string[];
  readList: string[];
  writeList: string[];
  adminUsers: string[];
  hostsAllow: string[];
  hostsDeny: string[];
  maxConnections: number;
  /** `veto files` split on '/': patterns with * and ?. */
  vetoFiles: string[];
  inheritOwner: boolean;
  followSymlinks: boolean;
  vfsObjects: string[];
  crossmnt: boolean;
  /** ksmbd-deno / Samba `smb encrypt` per share (enforced at tree connect: core/smb2/tree_connect.ts). */
  smbEncrypt: TriState;
  /** True for the IPC$ pipe share. */
  isPipe: boolean;
}

export interface ServerConfig {
  global: GlobalConfig;
  /** Shares in file order; IPC$ always present. */
  shares: ShareConfig[];
  /** Where it came from (for messages). */
  source: string;
}

/** A config or CLI error that names the file and line (or the option) at fault. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
