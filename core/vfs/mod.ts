/**
 * core/vfs: the share-rooted file system the SMB2 handlers use (the only path to the disk). It
 * imports nothing from core/wire or core/smb2 (docs/structure.md).
 *
 * @example
 * ```ts
 * const share = ShareFs.open({ root: "/srv/share", readOnly: false, storeDosAttributes: true,
 *   hideDotFiles: true, vetoFiles: [], followSymlinks: false, createMask: 0o744, directoryMask: 0o755,
 *   forceCreateMode: 0, forceDirectoryMode: 0, stateDir: "/var/lib/ksmbd-deno", label: "share" });
 * const { handle } = share.create("Docs\\Notes.txt", { disposition: CreateDisposition.OPEN_IF });
 * ```
 */
export * from "./types.ts";
export { errnoKind, toVfsError, VfsError, type VfsErrorKind } from "./errors.ts";
export { componentError, DOT_COMPONENT_KIND, parseSmbPath, type SmbPath } from "./path.ts";
export { compileVeto, compileWildcard, foldName, hasWildcards, matchWildcard } from "./wildcard.ts";
export { emptyMeta, type MetaRecord, MetaStore } from "./metadata.ts";
export { applyEaUpdates, eaKey, eaListSize, type EaUpdate, type StoredEa } from "./ea_store.ts";
export {
  appleStreamKind,
  MAX_STREAM_NAME_UNITS,
  MAX_STREAMS_PER_FILE,
  splitStreamPath,
  streamNameError,
  type StreamPath,
} from "./streams.ts";
export {
  type BasicInfo,
  CreateAction,
  CreateDisposition,
  CreateOptions,
  type CreateRequest,
  type CreateResult,
  type ListDirOptions,
  type SecurityInfo,
  ShareFs,
  type ShareFsOptions,
  type StreamInfo,
  VfsHandle,
} from "./share_fs.ts";
