/** The command table: one handler per SMB2 command (MS-SMB2 2.2.1 command codes). */
import { Command } from "../wire/header.ts";
import type { Handler } from "./handler.ts";
import { handleNegotiate } from "./negotiate.ts";
import { handleLogoff, handleSessionSetup } from "./session_setup.ts";
import { handleTreeConnect, handleTreeDisconnect } from "./tree_connect.ts";
import { handleCreate } from "./create.ts";
import { handleClose } from "./close.ts";
import { handleRead, handleWrite } from "./read_write.ts";
import { handleFlush } from "./flush.ts";
import { handleQueryDirectory } from "./query_directory.ts";
import { handleQueryInfo } from "./query_info.ts";
import { handleSetInfo } from "./set_info.ts";
import { handleIoctl } from "./ioctl.ts";
import { handleLock } from "./lock.ts";
import { handleCancel, handleEcho, handleOplockBreak } from "./misc.ts";
import { handleChangeNotify } from "./notify.ts";

export const HANDLERS: Record<number, Handler> = {
  [Command.NEGOTIATE]: handleNegotiate,
  [Command.SESSION_SETUP]: handleSessionSetup,
  [Command.LOGOFF]: handleLogoff,
  [Command.TREE_CONNECT]: handleTreeConnect,
  [Command.TREE_DISCONNECT]: handleTreeDisconnect,
  [Command.CREATE]: handleCreate,
  [Command.CLOSE]: handleClose,
  [Command.FLUSH]: handleFlush,
  [Command.READ]: handleRead,
  [Command.WRITE]: handleWrite,
  [Command.LOCK]: handleLock,
  [Command.IOCTL]: handleIoctl,
  [Command.CANCEL]: handleCancel,
  [Command.ECHO]: handleEcho,
  [Command.QUERY_DIRECTORY]: handleQueryDirectory,
  [Command.CHANGE_NOTIFY]: handleChangeNotify,
  [Command.QUERY_INFO]: handleQueryInfo,
  [Command.SET_INFO]: handleSetInfo,
  [Command.OPLOCK_BREAK]: handleOplockBreak,
};
