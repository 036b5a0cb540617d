/**
 * core/smb2/access_rules.ts: the table of what each operation needs of its open and tree, the reading
 * of a request's class or FSCTL from its body, and the write offset of an append-only open.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  allows,
  APPEND_OFFSET,
  COMMAND_ACCESS,
  FSCTL,
  NOTHING,
  QUERY_FILE_INFO,
  querySecurityNeed,
  requireAccess,
  SET_FILE_INFO,
  SET_FS_INFO,
  setSecurityNeed,
  writeOffset,
} from "../../core/smb2/access_rules.ts";
import { RULES } from "../../core/smb2/preconditions.ts";
import { Command, SMB2_HEADER_SIZE } from "../../core/wire/header.ts";
import { AccessMask as A } from "../../core/wire/create.ts";
import { FsctlCode } from "../../core/wire/ioctl.ts";
import { InfoType, SecurityInformation as SI } from "../../core/wire/query_info.ts";
import { FileInfoClass as C } from "../../core/wire/fscc/info_classes.ts";
import { SmbError } from "../../core/smb2/handler.ts";
import { Status } from "../../core/wire/status.ts";
import type { Open } from "../../core/state/open.ts";
import type { Tree } from "../../core/state/tree.ts";

/** Rights that change a file or its metadata (core/smb2/access.ts WRITE_RIGHTS, spelt out here). */
const CHANGING = A.FILE_WRITE_DATA | A.FILE_APPEND_DATA | A.FILE_WRITE_EA | A.FILE_WRITE_ATTRIBUTES |
  A.DELETE |
  A.WRITE_DAC | A.WRITE_OWNER;

const rw = { writable: true } as Tree;
const ro = { writable: false } as Tree;

function fakeOpen(grantedAccess: number, o: { dir?: boolean; pipe?: boolean } = {}): Open {
  return { grantedAccess, isDirectory: o.dir ?? false, pipe: o.pipe ? {} : null } as unknown as Open;
}

/** A request element: header then `body` (only the fixed fields the table reads matter). */
function pdu(body: (dv: DataView) => void, size = 64): Uint8Array {
  const b = new Uint8Array(SMB2_HEADER_SIZE + size);
  body(new DataView(b.buffer, SMB2_HEADER_SIZE));
  return b;
}

function setInfo(type: number, cls: number, addl = 0): Uint8Array {
  return pdu((dv) => {
    dv.setUint16(0, 33, true);
    dv.setUint8(2, type);
    dv.setUint8(3, cls);
    dv.setUint32(12, addl, true);
  });
}

function queryInfo(type: number, cls: number, addl = 0): Uint8Array {
  return pdu((dv) => {
    dv.setUint16(0, 41, true);
    dv.setUint8(2, type);
    dv.setUint8(3, cls);
    dv.setUint32(16, addl, true);
  });
}

function ioctl(code: number): Uint8Array {
  return pdu((dv) => {
    dv.setUint16(0, 57, true);
    dv.setUint32(4, code, true);
  }, 120);
}

function lock(flags: number): Uint8Array {
  return pdu((dv) => {
    dv.setUint16(0, 48, true);
    dv.setUint16(2, 1, true);
    dv.setUint32(40, flags, true);
  });
}

function need(command: number, p: Uint8Array, open: Open, posix = false) {
  return COMMAND_ACCESS[command]({ pdu: p, open, posix });
}

Deno.test("access_rules tables: a need asking for a changing right is marked modifies, and the reverse", () => {
  const tables = [SET_FILE_INFO, SET_FS_INFO, QUERY_FILE_INFO, FSCTL];
  for (const t of tables) {
    for (const [k, n] of Object.entries(t)) {
      const asks = n.anyOf.reduce((m, g) => m | g, 0);
      if (asks !== 0 && (asks & ~CHANGING & ~A.FILE_READ_DATA) === 0 && (asks & CHANGING) !== 0) {
        assert(n.modifies, `entry ${k} asks only for changing rights but is not marked modifies`);
      }
      if (n.modifies) assert(t !== QUERY_FILE_INFO, `query class ${k} marked modifies`);
    }
  }
  // Every modifying SET_INFO class is in the table (MS-SMB2 3.3.5.21.1).
  for (
    const c of [
      C.BASIC,
      C.RENAME,
      C.LINK,
      C.DISPOSITION,
      C.FULL_EA,
      C.ALLOCATION,
      C.END_OF_FILE,
      C.SHORT_NAME,
    ]
  ) {
    assert(SET_FILE_INFO[c]?.modifies, `SET_INFO class ${c} is not a modifying entry`);
  }
  assertEquals(SET_FILE_INFO[C.POSITION], NOTHING);
  assertEquals(SET_FILE_INFO[C.MODE], NOTHING);
});

Deno.test("access_rules allows: every group needs one right; a modifying need wants a writable tree", () => {
  const n = SET_FILE_INFO[C.BASIC];
  assert(allows(n, A.FILE_WRITE_ATTRIBUTES, rw));
  assert(!allows(n, A.FILE_WRITE_DATA, rw));
  // A read-only tree refuses it even with the right (a durable open reconnected onto such a tree).
  assert(!allows(n, A.FILE_WRITE_ATTRIBUTES, ro));
  // FileLinkInformation asks no right of the open, only a writable tree.
  assert(allows(SET_FILE_INFO[C.LINK], A.FILE_READ_ATTRIBUTES, rw));
  assert(!allows(SET_FILE_INFO[C.LINK], A.FILE_ALL_ACCESS, ro));
  // COPYCHUNK: write or append, and read.
  const cc = FSCTL[FsctlCode.SRV_COPYCHUNK];
  assert(allows(cc, A.FILE_APPEND_DATA | A.FILE_READ_DATA, rw));
  assert(!allows(cc, A.FILE_APPEND_DATA, rw));
  assert(!allows(cc, A.FILE_READ_DATA, rw));
  let status = 0;
  try {
    requireAccess(fakeOpen(A.FILE_READ_DATA), rw, cc);
  } catch (e) {
    status = (e as SmbError).status;
  }
  assertEquals(status, Status.ACCESS_DENIED);
});

Deno.test("access_rules COMMAND_ACCESS: SET_INFO and QUERY_INFO read type, class and parts from the body", () => {
  const f = fakeOpen(0);
  assertEquals(
    need(Command.SET_INFO, setInfo(InfoType.FILE, C.END_OF_FILE), f),
    SET_FILE_INFO[C.END_OF_FILE],
  );
  assertEquals(need(Command.SET_INFO, setInfo(InfoType.FILE, 200), f), null);
  const sec = need(Command.SET_INFO, setInfo(InfoType.SECURITY, 0, SI.DACL | SI.OWNER), f)!;
  assertEquals([...sec.anyOf].sort(), [A.WRITE_OWNER, A.WRITE_DAC].sort());
  assert(sec.modifies);
  assertEquals(setSecurityNeed(0), NOTHING);
  assertEquals(need(Command.QUERY_INFO, queryInfo(InfoType.FILE, C.BASIC), f), QUERY_FILE_INFO[C.BASIC]);
  assertEquals(need(Command.QUERY_INFO, queryInfo(InfoType.FILE, C.STANDARD), f), null);
  // Class 100 is the POSIX one only on a connection that negotiated the extensions.
  assertEquals(need(Command.QUERY_INFO, queryInfo(InfoType.FILE, C.POSIX), f), null);
  assertEquals(
    need(Command.QUERY_INFO, queryInfo(InfoType.FILE, C.POSIX), f, true),
    QUERY_FILE_INFO[C.POSIX],
  );
  assertEquals(querySecurityNeed(SI.SACL).anyOf, [A.ACCESS_SYSTEM_SECURITY]);
  // A pipe's access is the pipe layer's.
  assertEquals(need(Command.SET_INFO, setInfo(InfoType.FILE, C.BASIC), fakeOpen(0, { pipe: true })), null);
  // A malformed request (too short; a buffer outside the PDU): the handler's decoder answers it.
  assertEquals(need(Command.SET_INFO, new Uint8Array(SMB2_HEADER_SIZE + 2), f), null);
  const outside = setInfo(InfoType.FILE, C.END_OF_FILE);
  new DataView(outside.buffer).setUint32(SMB2_HEADER_SIZE + 4, 100, true);
  new DataView(outside.buffer).setUint16(SMB2_HEADER_SIZE + 8, 0x1000, true);
  assertEquals(need(Command.SET_INFO, outside, f), null);
});

Deno.test("access_rules COMMAND_ACCESS: LOCK needs data access to lock, nothing to unlock", () => {
  const f = fakeOpen(A.FILE_READ_ATTRIBUTES);
  const n = need(Command.LOCK, lock(0x2), f)!;
  assert(!allows(n, A.FILE_READ_ATTRIBUTES, rw));
  assert(allows(n, A.FILE_READ_DATA, rw) && allows(n, A.FILE_WRITE_DATA, ro));
  assertEquals(need(Command.LOCK, lock(0x4), f), null);
  assertEquals(need(Command.LOCK, lock(0x2), fakeOpen(0, { dir: true })), null);
});

Deno.test("access_rules COMMAND_ACCESS: IOCTL by CtlCode; a directory is left to the handler for data FSCTLs", () => {
  const f = fakeOpen(0);
  assertEquals(need(Command.IOCTL, ioctl(FsctlCode.SET_ZERO_DATA), f), FSCTL[FsctlCode.SET_ZERO_DATA]);
  assertEquals(need(Command.IOCTL, ioctl(FsctlCode.SET_ZERO_DATA), fakeOpen(0, { dir: true })), null);
  assertEquals(
    need(Command.IOCTL, ioctl(FsctlCode.SET_REPARSE_POINT), fakeOpen(0, { dir: true })),
    FSCTL[FsctlCode.SET_REPARSE_POINT],
  );
  assertEquals(need(Command.IOCTL, ioctl(FsctlCode.GET_REPARSE_POINT), f), null);
});

Deno.test("access_rules RULES: every command on an open that reads or changes data carries its access rule", () => {
  for (
    const c of [
      Command.READ,
      Command.WRITE,
      Command.FLUSH,
      Command.LOCK,
      Command.IOCTL,
      Command.SET_INFO,
      Command.QUERY_INFO,
      Command.QUERY_DIRECTORY,
      Command.CHANGE_NOTIFY,
    ]
  ) {
    assertEquals(RULES[c].access, COMMAND_ACCESS[c], `command ${c}`);
  }
});

Deno.test("access_rules writeOffset: append-only opens add at the end only; all-ones is the end", () => {
  const append = A.FILE_APPEND_DATA;
  assertEquals(writeOffset(append, 5n, 5n), 5n);
  assertEquals(writeOffset(append, APPEND_OFFSET, 5n), 5n);
  for (const at of [0n, 4n, 6n]) {
    let status = 0;
    try {
      writeOffset(append, at, 5n);
    } catch (e) {
      status = (e as SmbError).status;
    }
    assertEquals(status, Status.ACCESS_DENIED, `append-only write at ${at} of 5`);
  }
  assertEquals(writeOffset(A.FILE_WRITE_DATA, 0n, 5n), 0n);
  assertEquals(writeOffset(A.FILE_WRITE_DATA | append, APPEND_OFFSET, 9n), 9n);
});
