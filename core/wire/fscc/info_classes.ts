import { Status } from "../status.ts";

/** File information classes (MS-FSCC 2.4). */
export const FileInfoClass = {
  DIRECTORY: 1,
  FULL_DIRECTORY: 2,
  BOTH_DIRECTORY: 3,
  BASIC: 4,
  STANDARD: 5,
  INTERNAL: 6,
  EA: 7,
  ACCESS: 8,
  NAME: 9,
  RENAME: 10,
  LINK: 11,
  NAMES: 12,
  DISPOSITION: 13,
  POSITION: 14,
  FULL_EA: 15,
  MODE: 16,
  ALIGNMENT: 17,
  ALL: 18,
  ALLOCATION: 19,
  END_OF_FILE: 20,
  ALTERNATE_NAME: 21,
  STREAM: 22,
  PIPE: 23,
  PIPE_LOCAL: 24,
  PIPE_REMOTE: 25,
  COMPRESSION: 28,
  NETWORK_OPEN: 34,
  ATTRIBUTE_TAG: 35,
  ID_BOTH_DIRECTORY: 37,
  ID_FULL_DIRECTORY: 38,
  VALID_DATA_LENGTH: 39,
  SHORT_NAME: 40,
  HARD_LINK: 46,
  NORMALIZED_NAME: 48,
  ID_GLOBAL_TX_DIRECTORY: 50,
  STANDARD_LINK: 54,
  ID: 59,
  ID_EXTD_DIRECTORY: 60,
  DISPOSITION_EX: 64,
  RENAME_EX: 65,
  /** SMB3 POSIX extensions. */
  POSIX: 100,
} as const;

/** File system information classes (MS-FSCC 2.5). */
export const FsInfoClass = {
  VOLUME: 1,
  LABEL: 2,
  SIZE: 3,
  DEVICE: 4,
  ATTRIBUTE: 5,
  CONTROL: 6,
  FULL_SIZE: 7,
  OBJECT_ID: 8,
  DRIVER_PATH: 9,
  VOLUME_FLAGS: 10,
  SECTOR_SIZE: 11,
  POSIX: 100,
} as const;

/**
 * What an FSCC query encoder produced: the bytes to send and the status to send them with —
 * SUCCESS, or BUFFER_OVERFLOW when a variable part was truncated to fit OutputBufferLength
 * (MS-SMB2 3.3.5.20.1: the truncated data goes out with that warning status). Buffers too small for
 * the fixed part are not an InfoOutput: the encoders throw WireError(INFO_LENGTH_MISMATCH).
 */
export interface InfoOutput {
  data: Uint8Array;
  status: number;
}

export function ok(data: Uint8Array): InfoOutput {
  return { data, status: Status.SUCCESS };
}

/** Rounds `n` up to a multiple of `a` (a power of two). */
export function blockAlign(n: number, a: number): number {
  return (n + a - 1) & ~(a - 1);
}
