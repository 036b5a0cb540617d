/**
 * Seed inputs for the fuzz targets: every request element of real smbclient traffic
 * (tests/wire/fixtures/smbclient_frames.txt), grouped by command, plus bodies built with the test
 * builders of tests/wire/ and the raw client, for commands that traffic does not carry.
 */
import { splitChain } from "../../core/smb2/chain.ts";
import { Command } from "../../core/wire/header.ts";
import { Writer } from "../../core/wire/writer.ts";
import { header, pdu, utf16 } from "../wire/_helpers.ts";
import { buildChain, buildCreate } from "../wire/_create_builders.ts";
import { buildNegotiate, encReq, preauthReq } from "../wire/_negotiate_builders.ts";

function unhex(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
}

/** The recorded Direct TCP payloads (one SMB message or compound chain each). */
export function recordedFrames(): Uint8Array[] {
  const text = Deno.readTextFileSync(new URL("../wire/fixtures/smbclient_frames.txt", import.meta.url));
  return text.trim().split("\n").map((l) => unhex(l.trim()));
}

let cached: Map<number, Uint8Array[]> | null = null;

/** Request elements by command (header at 0 of each), recorded and built. */
export function elementsByCommand(): Map<number, Uint8Array[]> {
  if (cached) return cached;
  const m = new Map<number, Uint8Array[]>();
  const add = (e: Uint8Array) => {
    if (e.byteLength < 64 || e[0] !== 0xfe) return;
    const cmd = e[12] | (e[13] << 8);
    const list = m.get(cmd) ?? [];
    list.push(e.slice());
    m.set(cmd, list);
  };
  for (const f of recordedFrames()) for (const e of splitChain(f) ?? []) add(e);
  for (const e of builtElements()) add(e);
  cached = m;
  return m;
}

const FID = new Uint8Array(16).fill(0x11);

function builtElements(): Uint8Array[] {
  const out: Uint8Array[] = [];
  out.push(buildNegotiate([0x202, 0x210, 0x300, 0x302, 0x311], [preauthReq(), encReq([1, 2, 3, 4])]));
  out.push(buildNegotiate([0x202]));
  out.push(buildCreate("dir\\file.txt"));
  out.push(
    buildCreate(
      "a.txt",
      buildChain([
        { name: "MxAc", data: new Uint8Array(0) },
        { name: "QFid", data: new Uint8Array(0) },
        { name: "DH2Q", data: new Uint8Array(32) },
        { name: "RqLs", data: new Uint8Array(52) },
        { name: "TWrp", data: new Uint8Array(8) },
        { name: "AlSi", data: new Uint8Array(8) },
        { name: "ExtA", data: Uint8Array.of(0, 0, 0, 0, 0, 1, 1, 0, 0x41, 0, 0x42) },
      ]),
      2,
    ),
  );
  // CANCEL, ECHO, LOGOFF, TREE_DISCONNECT: a 4-byte body.
  for (const c of [Command.CANCEL, Command.ECHO, Command.LOGOFF, Command.TREE_DISCONNECT]) {
    out.push(pdu(c, (w) => w.u16(4).u16(0)));
  }
  // FLUSH: StructureSize 24, reserved, FileId.
  out.push(pdu(Command.FLUSH, (w) => w.u16(24).u16(0).u32(0).bytes(FID)));
  // CLOSE with POSTQUERY_ATTRIB.
  out.push(pdu(Command.CLOSE, (w) => w.u16(24).u16(1).u32(0).bytes(FID)));
  // READ: 49 (+1 byte buffer).
  out.push(
    pdu(
      Command.READ,
      (w) => w.u16(49).u8(0x50).u8(0).u32(65536).u64(0).bytes(FID).u32(1).u32(0).u32(0).u16(0).u16(0).u8(0),
    ),
  );
  // WRITE of 8 bytes at 0x70.
  out.push(
    pdu(
      Command.WRITE,
      (w) =>
        w.u16(49).u16(0x70).u32(8).u64(0).bytes(FID).u32(0).u32(0).u16(0).u16(0).u32(0).bytes(
          new Uint8Array(8).fill(0x61),
        ),
    ),
  );
  // LOCK with two elements.
  out.push(
    pdu(Command.LOCK, (w) => {
      w.u16(48).u16(2).u32(0).bytes(FID);
      w.u64(0).u64(10).u32(2).u32(0);
      w.u64(100).u64(5).u32(0x11).u32(0);
    }),
  );
  // IOCTL FSCTL_VALIDATE_NEGOTIATE_INFO and a pipe transceive.
  const vni = new Writer(64);
  vni.u32(0x7f).bytes(new Uint8Array(16).fill(3)).u16(1).u16(2).u16(0x302).u16(0x311);
  const vniBytes = vni.finish().slice();
  for (const [code, input] of [[0x00140204, vniBytes], [0x0011c017, new Uint8Array(72).fill(5)]] as const) {
    out.push(
      pdu(Command.IOCTL, (w) => {
        w.u16(57).u16(0).u32(code).bytes(code === 0x00140204 ? new Uint8Array(16).fill(0xff) : FID);
        w.u32(0x78).u32(input.byteLength).u32(0).u32(0).u32(0x78).u32(0).u32(1024).u32(1).u32(0);
        w.bytes(input);
      }),
    );
  }
  // QUERY_DIRECTORY "*".
  const star = utf16("*");
  out.push(
    pdu(
      Command.QUERY_DIRECTORY,
      (w) => w.u16(33).u8(0x25).u8(1).u32(0).bytes(FID).u16(0x60).u16(star.byteLength).u32(65536).bytes(star),
    ),
  );
  // CHANGE_NOTIFY.
  out.push(pdu(Command.CHANGE_NOTIFY, (w) => w.u16(32).u16(1).u32(4096).bytes(FID).u32(0x17).u32(0)));
  // QUERY_INFO (FileFullEaInformation with a get list) and SET_INFO (FileBasicInformation).
  const getEa = Uint8Array.of(0, 0, 0, 0, 3, 0x41, 0x42, 0x43, 0);
  out.push(
    pdu(
      Command.QUERY_INFO,
      (w) =>
        w.u16(41).u8(1).u8(15).u32(4096).u16(0x68).u16(0).u32(getEa.byteLength).u32(0).u32(0).bytes(FID)
          .bytes(getEa),
    ),
  );
  out.push(
    pdu(
      Command.SET_INFO,
      (w) => w.u16(33).u8(1).u8(4).u32(40).u16(0x60).u16(0).u32(0).bytes(FID).bytes(new Uint8Array(40)),
    ),
  );
  // OPLOCK_BREAK acknowledgment (24) and lease break acknowledgment (36).
  out.push(pdu(Command.OPLOCK_BREAK, (w) => w.u16(24).u8(1).u8(0).u32(0).bytes(FID)));
  out.push(
    pdu(Command.OPLOCK_BREAK, (w) => w.u16(36).u16(0).u32(0).bytes(new Uint8Array(16).fill(7)).u32(1).u64(0)),
  );
  // TREE_CONNECT \\host\share.
  const path = utf16("\\\\host\\share");
  out.push(pdu(Command.TREE_CONNECT, (w) => w.u16(9).u16(0).u16(0x48).u16(path.byteLength).bytes(path)));
  // SESSION_SETUP with a small buffer.
  out.push(
    pdu(
      Command.SESSION_SETUP,
      (w) => w.u16(25).u8(0).u8(1).u32(1).u32(0).u16(0x58).u16(8).u64(0).bytes(new Uint8Array(8).fill(0x60)),
    ),
  );
  out.push(header(Command.ECHO));
  return out;
}
