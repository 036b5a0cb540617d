/**
 * Builds core/state Open records for the state-table tests: only the fields the tables read (id,
 * granted access, share access, file key) matter; the vfs handle is null (as for a pipe open).
 *
 * @module
 */
import { Open } from "../../core/state/open.ts";

let nextId = 1n;

/** An open of `fileKey` with `grantedAccess` and `shareAccess` (MS-SMB2 2.2.13 bit values). */
export function openOf(fileKey: string, grantedAccess: number, shareAccess: number): Open {
  const id = nextId++;
  return new Open(id, id, 1n, 1, null, `f${id}`, false, grantedAccess, shareAccess, 0, fileKey);
}

/** Access mask bits (MS-SMB2 2.2.13.1.1). */
export const Access = {
  READ_DATA: 0x1,
  WRITE_DATA: 0x2,
  APPEND_DATA: 0x4,
  READ_EA: 0x8,
  WRITE_EA: 0x10,
  EXECUTE: 0x20,
  READ_ATTRIBUTES: 0x80,
  WRITE_ATTRIBUTES: 0x100,
  DELETE: 0x10000,
  READ_CONTROL: 0x20000,
  WRITE_DAC: 0x40000,
  SYNCHRONIZE: 0x100000,
} as const;

/** ShareAccess bits (MS-SMB2 2.2.13). */
export const Share = { NONE: 0, READ: 1, WRITE: 2, DELETE: 4, ALL: 7 } as const;
