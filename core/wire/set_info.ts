import type { Writer } from "./writer.ts";
import { bufferAt, type FileId, openBody, readFileId } from "./body.ts";
import { SMB2_HEADER_SIZE } from "./header.ts";

/** SMB2 SET_INFO request (MS-SMB2 2.2.39). */
export interface SetInfoRequest {
  infoType: number;
  fileInfoClass: number;
  /** The info buffer: view into the PDU; the fscc decoders check its size per class. */
  buffer: Uint8Array;
  additionalInformation: number;
  fileId: FileId;
}

const FIXED = 32;

/** Decodes SET_INFO: BufferOffset/BufferLength after the 32 fixed bytes and inside the PDU. */
export function decodeSetInfoRequest(pdu: Uint8Array): SetInfoRequest {
  const r = openBody(pdu, 33, "SET_INFO");
  const infoType = r.u8();
  const fileInfoClass = r.u8();
  const len = r.u32();
  const off = r.u16();
  r.skip(2);
  const additionalInformation = r.u32();
  const fileId = readFileId(r);
  const buffer = bufferAt(pdu, off, len, SMB2_HEADER_SIZE + FIXED, "SET_INFO buffer");
  return { infoType, fileInfoClass, buffer, additionalInformation, fileId };
}

/** SET_INFO response (MS-SMB2 2.2.40): StructureSize 2 only. */
export function encodeSetInfoResponse(w: Writer, _hdrStart: number): void {
  w.u16(2);
}
