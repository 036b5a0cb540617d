// Policy (context) handles: the 20-byte LSAPR_HANDLE / SAMPR_HANDLE values (MS-LSAD 2.2.2.1,
// MS-SAMR 2.2.7.2) the lsarpc and samr calls hand out. A handle belongs to the pipe that opened it
// and is only accepted on that pipe, for the object kind it names; closing the pipe frees its
// handles. Wire form: u32 attributes (0), then u32 pipe id, u32 serial, u32 kind, u32 'ksmb' —
// unguessable values are not needed because a handle never works outside its own pipe.

export const H_LSA_POLICY: i32 = 1;
export const H_SAMR_SERVER: i32 = 2;
export const H_SAMR_DOMAIN: i32 = 3;
export const H_SAMR_USER: i32 = 4;

/** Handles one pipe may hold (Windows caps LSA handles per client too; 2048 there). */
export const MAX_HANDLES_PER_PIPE: i32 = 256;
/** Handles across all pipes. */
export const MAX_HANDLES: i32 = 65536;

const TAG: u32 = 0x626d736b; // "ksmb"

export class PolicyHandle {
  bytes: Uint8Array = new Uint8Array(20);
  pipeId: u32 = 0;
  serial: u32 = 0;
  kind: i32 = 0;
  /** Domain handles: 0 = the account domain, 1 = BUILTIN. User handles: the domain too. */
  domain: i32 = 0;
  /** User handles: the account's RID. */
  rid: u32 = 0;
  access: u32 = 0;
}

const table = new Map<u32, PolicyHandle>();
const perPipe = new Map<u32, i32>();
let nextSerial: u32 = 1;

function put32(b: Uint8Array, at: i32, v: u32): void {
  b[at] = <u8> v;
  b[at + 1] = <u8> (v >> 8);
  b[at + 2] = <u8> (v >> 16);
  b[at + 3] = <u8> (v >> 24);
}

function get32(b: Uint8Array, at: i32): u32 {
  return <u32> b[at] | (<u32> b[at + 1] << 8) | (<u32> b[at + 2] << 16) | (<u32> b[at + 3] << 24);
}

/** A new handle of `kind` for the pipe; null when the pipe or the table is full. */
export function newHandle(pipeId: u32, kind: i32): PolicyHandle | null {
  const n = perPipe.has(pipeId) ? perPipe.get(pipeId) : 0;
  if (n >= MAX_HANDLES_PER_PIPE || table.size >= MAX_HANDLES) return null;
  let serial = nextSerial;
  while (serial == 0 || table.has(serial)) serial++;
  nextSerial = serial + 1;
  const h = new PolicyHandle();
  h.pipeId = pipeId;
  h.serial = serial;
  h.kind = kind;
  put32(h.bytes, 0, 0);
  put32(h.bytes, 4, pipeId);
  put32(h.bytes, 8, serial);
  put32(h.bytes, 12, <u32> kind);
  put32(h.bytes, 16, TAG);
  table.set(serial, h);
  perPipe.set(pipeId, n + 1);
  return h;
}

/** The handle named by these 20 bytes if it belongs to the pipe and (kind != 0) is of that kind. */
export function findHandle(bytes: Uint8Array, pipeId: u32, kind: i32): PolicyHandle | null {
  if (bytes.length != 20) return null;
  const serial = get32(bytes, 8);
  if (!table.has(serial)) return null;
  const h = table.get(serial);
  for (let i = 0; i < 20; i++) if (h.bytes[i] != bytes[i]) return null;
  if (h.pipeId != pipeId) return null;
  if (kind != 0 && h.kind != kind) return null;
  return h;
}

export function closeHandle(h: PolicyHandle): void {
  if (!table.has(h.serial)) return;
  table.delete(h.serial);
  const n = perPipe.has(h.pipeId) ? perPipe.get(h.pipeId) : 0;
  if (n <= 1) perPipe.delete(h.pipeId);
  else perPipe.set(h.pipeId, n - 1);
}

/** Frees every handle of a closed pipe. */
export function closePipeHandles(pipeId: u32): void {
  if (!perPipe.has(pipeId)) return;
  const serials = table.keys();
  for (let i = 0; i < serials.length; i++) {
    const h = table.get(serials[i]);
    if (h.pipeId == pipeId) table.delete(serials[i]);
  }
  perPipe.delete(pipeId);
}

/** Handles currently open (tests, heartbeat diagnostics). */
export function handleCount(): i32 {
  return table.size;
}
