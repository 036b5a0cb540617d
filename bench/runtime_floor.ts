/**
 * The runtime's floor per request (docs/performance.md "The runtime's floor"): the least a Deno
 * server can do for one SMB2 request on one TCP connection. It reads Direct TCP frames (MS-SMB2 2.1)
 * with `Deno.Conn.read`, as core/transport/tcp.ts does, and answers each with an SMB2 ECHO response
 * (MS-SMB2 2.2.29) carrying the request's MessageId, written with `Deno.Conn.write`: no parsing
 * beyond that, no state, no credits, no signing. Whatever ksmbd-deno spends per request above what
 * this loop spends is the server's own; what this loop spends is Deno's (its event loop, its socket
 * ops) and the kernel's, and no change inside the server can go below it.
 *
 * Run by the bench (`deno run --allow-net=127.0.0.1 bench/runtime_floor.ts PORT`); prints
 * `listening` once the port accepts. Not part of the server: nothing in core/ imports it.
 *
 * @module
 */

const HEADER = 64;
/** An ECHO response: the SMB2 header (MessageId patched per request) and the 4-byte body. */
const RESPONSE_LEN = HEADER + 4;

function echoResponse(): Uint8Array {
  const r = new Uint8Array(4 + RESPONSE_LEN);
  const v = new DataView(r.buffer);
  v.setUint32(0, RESPONSE_LEN); // Direct TCP header: zero byte, 24-bit length
  r.set([0xfe, 0x53, 0x4d, 0x42], 4); // ProtocolId
  v.setUint16(4 + 4, HEADER, true); // StructureSize
  v.setUint16(4 + 12, 0x000d, true); // Command: ECHO
  v.setUint16(4 + 14, 1, true); // CreditResponse
  v.setUint32(4 + 16, 0x00000001, true); // Flags: SMB2_FLAGS_SERVER_TO_REDIR
  v.setUint16(4 + HEADER, 4, true); // ECHO response StructureSize
  return r;
}

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buf = new Uint8Array(64 * 1024);
  let end = 0;
  try {
    while (true) {
      const n = await conn.read(buf.subarray(end));
      if (n === null) return;
      end += n;
      let start = 0;
      while (end - start >= 4) {
        const len = (buf[start + 1] << 16) | (buf[start + 2] << 8) | buf[start + 3];
        // Only what this loop is measured with: one SMB2 request per frame, small enough for the buffer.
        if (buf[start] !== 0 || len < HEADER || len > buf.byteLength - 4) return;
        if (end - start - 4 < len) break;
        const reply = echoResponse();
        reply.set(buf.subarray(start + 4 + 24, start + 4 + 32), 4 + 24); // MessageId
        start += 4 + len;
        let off = 0;
        while (off < reply.byteLength) off += await conn.write(reply.subarray(off));
      }
      buf.copyWithin(0, start, end);
      end -= start;
    }
  } catch {
    // The bench closed the connection.
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

if (import.meta.main) {
  const port = Number(Deno.args[0]);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error("usage: runtime_floor.ts PORT");
    Deno.exit(2);
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  console.log("listening");
  for await (const conn of listener) serve(conn);
}
