// Real client traffic: every request frame smbclient 4.17 sent to a Samba smbd during ls / allinfo /
// get / put / rename / mkdir / rmdir / setmode / del, with -m SMB3, SMB2 and SMB2_02, plus one SMB1
// multi-protocol NEGOTIATE (fixtures/smbclient_frames.txt, hex, one Direct TCP payload per line).
// Every element must decode without error with the codec for its command.
import { Command, decodeHeader } from "../../core/wire/header.ts";
import { decodeNegotiateRequest, decodeSmb1Negotiate } from "../../core/wire/negotiate.ts";
import { decodeSessionSetupRequest } from "../../core/wire/session_setup.ts";
import { decodeLogoffRequest } from "../../core/wire/logoff.ts";
import { decodeTreeConnectRequest } from "../../core/wire/tree_connect.ts";
import { decodeTreeDisconnectRequest } from "../../core/wire/tree_disconnect.ts";
import { decodeCreateRequest } from "../../core/wire/create.ts";
import { decodeCloseRequest } from "../../core/wire/close.ts";
import { decodeFlushRequest } from "../../core/wire/flush.ts";
import { decodeReadRequest } from "../../core/wire/read.ts";
import { decodeWriteRequest } from "../../core/wire/write.ts";
import { decodeLockRequest } from "../../core/wire/lock.ts";
import { decodeIoctlRequest, FsctlCode } from "../../core/wire/ioctl.ts";
import { decodeValidateNegotiateRequest } from "../../core/wire/fsctl/validate_negotiate.ts";
import { decodeCancelRequest } from "../../core/wire/cancel.ts";
import { decodeEchoRequest } from "../../core/wire/echo.ts";
import { decodeQueryDirectoryRequest } from "../../core/wire/query_directory.ts";
import { decodeChangeNotifyRequest } from "../../core/wire/change_notify.ts";
import { decodeQueryInfoRequest } from "../../core/wire/query_info.ts";
import { decodeSetInfoRequest } from "../../core/wire/set_info.ts";
import { decodeOplockBreakAck } from "../../core/wire/oplock_break.ts";
import {
  decodeFileBasicInformation,
  decodeFileDispositionInformation,
  decodeFileRenameInformation,
} from "../../core/wire/fscc/file_info.ts";
import { FileInfoClass } from "../../core/wire/fscc/info_classes.ts";
import { assert, assertEquals } from "./_helpers.ts";

const decoders: Record<number, (pdu: Uint8Array) => unknown> = {
  [Command.NEGOTIATE]: decodeNegotiateRequest,
  [Command.SESSION_SETUP]: decodeSessionSetupRequest,
  [Command.LOGOFF]: decodeLogoffRequest,
  [Command.TREE_CONNECT]: (p) => decodeTreeConnectRequest(p),
  [Command.TREE_DISCONNECT]: decodeTreeDisconnectRequest,
  [Command.CREATE]: decodeCreateRequest,
  [Command.CLOSE]: decodeCloseRequest,
  [Command.FLUSH]: decodeFlushRequest,
  [Command.READ]: decodeReadRequest,
  [Command.WRITE]: decodeWriteRequest,
  [Command.LOCK]: decodeLockRequest,
  [Command.IOCTL]: decodeIoctlRequest,
  [Command.CANCEL]: decodeCancelRequest,
  [Command.ECHO]: decodeEchoRequest,
  [Command.QUERY_DIRECTORY]: decodeQueryDirectoryRequest,
  [Command.CHANGE_NOTIFY]: decodeChangeNotifyRequest,
  [Command.QUERY_INFO]: decodeQueryInfoRequest,
  [Command.SET_INFO]: decodeSetInfoRequest,
  [Command.OPLOCK_BREAK]: decodeOplockBreakAck,
};

function frames(): Uint8Array[] {
  const text = Deno.readTextFileSync(new URL("./fixtures/smbclient_frames.txt", import.meta.url));
  return text.trim().split("\n").map((h) => Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16)));
}

/** Splits a frame into compound elements by NextCommand. */
function elements(frame: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  for (;;) {
    const h = decodeHeader(frame, off);
    const end = h.nextCommand ? off + h.nextCommand : frame.byteLength;
    out.push(frame.subarray(off, end));
    if (!h.nextCommand) break;
    off = end;
  }
  return out;
}

Deno.test("smbclient frames: every request element decodes with its codec", () => {
  const seen = new Map<number, number>();
  const names: string[] = [];
  let smb1 = 0;
  for (const f of frames()) {
    if (f[0] === 0xff) {
      const r = decodeSmb1Negotiate(f);
      assert(r.smb2Wildcard && r.smb2002);
      smb1++;
      continue;
    }
    for (const el of elements(f)) {
      const h = decodeHeader(el);
      const dec = decoders[h.command];
      assert(dec, `command ${h.command}`);
      const r = dec(el) as Record<string, unknown>;
      seen.set(h.command, (seen.get(h.command) ?? 0) + 1);
      if (h.command === Command.CREATE) names.push(r.name as string);
      if (h.command === Command.IOCTL && r.ctlCode === FsctlCode.VALIDATE_NEGOTIATE_INFO) {
        decodeValidateNegotiateRequest(r.input as Uint8Array);
      }
      if (h.command === Command.SET_INFO && r.infoType === 1) {
        const buf = r.buffer as Uint8Array;
        if (r.fileInfoClass === FileInfoClass.BASIC) decodeFileBasicInformation(buf);
        if (r.fileInfoClass === FileInfoClass.RENAME) decodeFileRenameInformation(buf);
        if (r.fileInfoClass === FileInfoClass.DISPOSITION) decodeFileDispositionInformation(buf);
      }
    }
  }
  assertEquals(smb1, 1);
  for (
    const c of [Command.NEGOTIATE, Command.SESSION_SETUP, Command.TREE_CONNECT, Command.CREATE, Command.CLOSE]
  ) {
    assert((seen.get(c) ?? 0) > 0, `no command ${c} in fixtures`);
  }
  assert(names.includes("a.txt"), "CREATE a.txt seen");
});

Deno.test("smbclient frames: the 3.1.1 NEGOTIATE carries preauth, encryption, signing, netname", () => {
  const neg = frames().find((f) =>
    f[0] === 0xfe && f[12] === 0 && decodeNegotiateRequest(f).dialects.includes(0x311)
  )!;
  const r = decodeNegotiateRequest(neg);
  assertEquals(r.dialects, [0x202, 0x210, 0x300, 0x302, 0x311]);
  const c = r.contexts!;
  assertEquals(c.preauth!.hashAlgorithms, [1]);
  assertEquals(c.preauth!.salt.byteLength, 32);
  assert(c.encryption!.ciphers.length > 0);
  assert(c.signing!.algorithms.length > 0);
  assertEquals(c.netname, "127.0.0.1");
});
