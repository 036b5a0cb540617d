// What a service operation sees (CallCtx), the interfaces this module serves (their syntax ids) and
// which interfaces each named pipe accepts.

import { Config } from "../accounts/config";
import { NdrReader, NdrWriter } from "../ndr/ndr";

// Pipes (ksmbd RPC flags name them: SRVSVC, WKSSVC, SAMR, LSARPC).
export const SVC_SRVSVC: i32 = 1;
export const SVC_WKSSVC: i32 = 2;
export const SVC_SAMR: i32 = 3;
export const SVC_LSARPC: i32 = 4;

// Interfaces.
export const IF_NONE: i32 = 0;
export const IF_SRVSVC: i32 = 1;
export const IF_WKSSVC: i32 = 2;
export const IF_LSARPC: i32 = 3;
export const IF_DSSETUP: i32 = 4;
export const IF_SAMR: i32 = 5;

export class CallCtx {
  pipeId: u32;
  service: i32;
  /** Guest or anonymous session (ksmbd's RESTRICTED_CONTEXT). */
  restricted: bool;
  /** The session's account (from OPEN). */
  account: string;
  cfg: Config;
  inp: NdrReader;
  out: NdrWriter = new NdrWriter();

  constructor(pipeId: u32, service: i32, restricted: bool, account: string, cfg: Config, inp: NdrReader) {
    this.pipeId = pipeId;
    this.service = service;
    this.restricted = restricted;
    this.account = account;
    this.cfg = cfg;
    this.inp = inp;
  }
}

class Iface {
  id: i32;
  uuid: Uint8Array;
  major: u32;
  minor: u32;
  constructor(id: i32, uuid: string, major: u32, minor: u32) {
    this.id = id;
    this.uuid = uuidBytes(uuid);
    this.major = major;
    this.minor = minor;
  }
}

function hexVal(c: i32): u32 {
  if (c >= 0x30 && c <= 0x39) return <u32> (c - 0x30);
  if (c >= 0x61 && c <= 0x66) return <u32> (c - 0x61 + 10);
  return <u32> (c - 0x41 + 10);
}

/** A UUID string in its wire (NDR) order: time_low, time_mid and time_hi little-endian, then the
 *  eight clock_seq/node bytes as written (C706 appendix A). */
export function uuidBytes(s: string): Uint8Array {
  const hex = new Array<u8>();
  for (let i = 0; i < s.length; i += 2) {
    if (s.charCodeAt(i) == 0x2d) i++;
    hex.push(<u8> ((hexVal(s.charCodeAt(i)) << 4) | hexVal(s.charCodeAt(i + 1))));
  }
  const b = new Uint8Array(16);
  b[0] = hex[3];
  b[1] = hex[2];
  b[2] = hex[1];
  b[3] = hex[0];
  b[4] = hex[5];
  b[5] = hex[4];
  b[6] = hex[7];
  b[7] = hex[6];
  for (let i = 8; i < 16; i++) b[i] = hex[i];
  return b;
}

// MS-SRVS 1.9, MS-WKST 1.9, MS-LSAT 1.9 / MS-LSAD 1.9, MS-DSSP 1.9, MS-SAMR 1.9.
const IFACES: Array<Iface> = [
  new Iface(IF_SRVSVC, "4b324fc8-1670-01d3-1278-5a47bf6ee188", 3, 0),
  new Iface(IF_WKSSVC, "6bffd098-a112-3610-9833-46c3f87e345a", 1, 0),
  new Iface(IF_LSARPC, "12345778-1234-abcd-ef00-0123456789ab", 0, 0),
  new Iface(IF_DSSETUP, "3919286a-b10c-11d0-9ba8-00c04fd92ef5", 0, 0),
  new Iface(IF_SAMR, "12345778-1234-abcd-ef00-0123456789ac", 1, 0),
];

/** NDR 2.0 transfer syntax 8a885d04-1ceb-11c9-9fe8-08002b104860 version 2 (C706 appendix I). */
export const NDR20_UUID: Uint8Array = uuidBytes("8a885d04-1ceb-11c9-9fe8-08002b104860");
export const NDR20_VERSION: u32 = 2;
/** MS-RPCE 3.3.1.5.3: bind time feature negotiation transfer syntaxes start with these 8 bytes. */
export const BTFN_PREFIX: Uint8Array = uuidBytes("6cb71c2c-9812-4540-0000-000000000000").slice(0, 8);

/** The interface named by a syntax id (uuid at b[at..at+16), u32 version after it), or IF_NONE.
 *  C706: the major versions must match and the client's minor must not exceed ours. */
export function findIface(b: Uint8Array, at: i32, version: u32): i32 {
  for (let i = 0; i < IFACES.length; i++) {
    const f = IFACES[i];
    let same = true;
    for (let k = 0; k < 16; k++) {
      if (b[at + k] != f.uuid[k]) {
        same = false;
        break;
      }
    }
    if (same && (version & 0xffff) == f.major && (version >> 16) <= f.minor) return f.id;
  }
  return IF_NONE;
}

/** Interfaces each pipe serves: lsarpc also carries dssetup (DsRoleGetPrimaryDomainInformation). */
export function pipeServes(service: i32, iface: i32): bool {
  if (service == SVC_SRVSVC) return iface == IF_SRVSVC;
  if (service == SVC_WKSSVC) return iface == IF_WKSSVC;
  if (service == SVC_LSARPC) return iface == IF_LSARPC || iface == IF_DSSETUP;
  if (service == SVC_SAMR) return iface == IF_SAMR;
  return false;
}

/** The secondary address in bind_ack: the pipe's endpoint name. */
export function pipeEndpoint(service: i32): string {
  if (service == SVC_SRVSVC) return "\\PIPE\\srvsvc";
  if (service == SVC_WKSSVC) return "\\PIPE\\wkssvc";
  return "\\PIPE\\lsass";
}
