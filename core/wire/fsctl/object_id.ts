/** FILE_OBJECTID_BUFFER (MS-FSCC 2.1.3.1), the output of FSCTL_CREATE_OR_GET_OBJECT_ID. */
import type { Writer } from "../writer.ts";

/** Size of FILE_OBJECTID_BUFFER: four 16-byte GUIDs. */
export const FILE_OBJECTID_BUFFER_SIZE = 64;

/** The identifiers of a file's object id (MS-FSCC 2.1.3.1); each 16 bytes. */
export interface FileObjectId {
  objectId: Uint8Array;
  birthVolumeId: Uint8Array;
  birthObjectId: Uint8Array;
}

/**
 * Writes FILE_OBJECTID_BUFFER type 1 (MS-FSCC 2.1.3.1): ObjectId, BirthVolumeId, BirthObjectId and
 * DomainId, which is unused and zero (MS-FSA 2.1.5.10.1).
 */
export function encodeFileObjectIdBuffer(w: Writer, id: FileObjectId): void {
  for (const g of [id.objectId, id.birthVolumeId, id.birthObjectId]) {
    if (g.byteLength !== 16) throw new RangeError("object id GUIDs are 16 bytes");
    w.bytes(g);
  }
  w.zeros(16);
}
