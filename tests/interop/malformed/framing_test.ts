/**
 * Malformed input, Framing: the Direct TCP header and the first bytes of a message (MS-SMB2 2.1, 3.3.5.2),
 * frame length limits by connection state, partial frames and slow clients.
 *
 * One server with the suite's configuration (./_shared.ts); every case is a step followed by a
 * health check of the server.
 *
 * Run: deno test --allow-all --unstable-worker-options tests/interop/malformed/framing_test.ts
 */

import { assert, assertEquals } from "../../helpers/assert.ts";
import {
  type CaseRunner,
  expectDrop,
  expectStatus,
  fdCount,
  MainServer,
  openFile,
  sleep,
  text,
  uniq,
} from "./_shared.ts";
import {
  Cmd,
  concat,
  frame,
  header,
  negotiateBody,
  put16,
  put32,
  put64,
  RawConn,
  readBody,
  readData,
  St,
} from "../raw_client.ts";

Deno.test("malformed input: framing", async (t) => {
  const srv = await MainServer.start();
  const kase: CaseRunner = (name, fn, opts) => srv.track(t.step(name, srv.caseStep(name, fn, opts)));
  await srv.run(t, async () => {
    await kase("RFC1002 length above the pre-auth limit before NEGOTIATE: disconnect", async (c) => {
      const a = await c.raw();
      await a.sendRaw(new Uint8Array([0, 0x02, 0x00, 0x00])); // 128 KiB announced
      await a.sendRaw(new Uint8Array(512));
      await expectDrop(a, "128 KiB frame before NEGOTIATE");
    });
    await kase(
      "RFC1002 length above the pre-auth limit after NEGOTIATE, before login: disconnect",
      async (c) => {
        const a = await c.negotiated();
        await a.sendRaw(new Uint8Array([0, 0x04, 0x00, 0x00])); // 256 KiB announced
        await a.sendRaw(new Uint8Array(1024));
        await expectDrop(a, "256 KiB frame before SESSION_SETUP");
      },
    );
    await kase("RFC1002 length 0x00FFFFFF with a few bytes then client close", async (c) => {
      const a = await c.raw();
      await a.sendRaw(concat(new Uint8Array([0, 0xff, 0xff, 0xff]), header({ command: Cmd.NEGOTIATE })));
      // Before login such a frame is over the limit: the server must not wait for 16 MiB.
      await expectDrop(a, "16 MiB frame announced before NEGOTIATE");
      const b = await c.session();
      await b.sendRaw(concat(new Uint8Array([0, 0xff, 0xff, 0xff]), header({ command: Cmd.ECHO })));
      await b.dispose();
    });
    await kase(
      "RFC1002 length 0x00FFFFFF after login (above max I/O + overhead): disconnect",
      async (c) => {
        const a = await c.session();
        await a.sendRaw(concat(new Uint8Array([0, 0xff, 0xff, 0xff]), header({ command: Cmd.ECHO })));
        await expectDrop(a, "16 MiB frame after login");
      },
    );
    await kase("non-zero first byte of the Direct TCP header: disconnect", async (c) => {
      const a = await c.raw();
      const f = frame(concat(header({ command: Cmd.NEGOTIATE }), negotiateBody({ dialects: [0x0210] })));
      f[0] = 0x81; // a NetBIOS session request type: not valid on Direct TCP (2.1)
      await a.sendRaw(f);
      await expectDrop(a, "first byte 0x81");
    });
    await kase("frame shorter than an SMB2 header: disconnect (3.3.5.2.6)", async (c) => {
      const a = await c.raw();
      await a.sendFrame(header({ command: Cmd.NEGOTIATE }).subarray(0, 40));
      await expectDrop(a, "40-byte SMB2 message");
    });
    await kase("frame of 1 byte: disconnect", async (c) => {
      const a = await c.raw();
      await a.sendFrame(new Uint8Array([0xfe]));
      await expectDrop(a, "1-byte frame");
    });
    await kase("wrong protocol id: disconnect", async (c) => {
      const a = await c.raw();
      const h = header({ command: Cmd.NEGOTIATE, protocolId: new Uint8Array([0xfe, 0x53, 0x4d, 0x58]) });
      await a.sendFrame(concat(h, negotiateBody({ dialects: [0x0210] })));
      await expectDrop(a, "protocol id FE 'SMX'");
    });
    await kase("transform header (0xFD) too short or for an unknown session: disconnect", async (c) => {
      const a = await c.raw();
      await a.sendFrame(new Uint8Array([0xfd, 0x53, 0x4d, 0x42, 1, 2, 3, 4]));
      await expectDrop(a, "8-byte transform message");
      const b = await c.session();
      const tf = new Uint8Array(52 + 80);
      tf.set([0xfd, 0x53, 0x4d, 0x42]);
      put32(tf, 36, 0xffffffff); // OriginalMessageSize far beyond the message
      put16(tf, 42, 1); // Flags: encrypted
      put64(tf, 44, 0x123456789n); // unknown session
      await b.sendFrame(tf);
      await expectDrop(b, "transform header with bogus size and unknown session");
    });
    await kase("compression transform (0xFC) without negotiated compression: disconnect", async (c) => {
      const a = await c.session();
      const ct = new Uint8Array(16 + 64);
      ct.set([0xfc, 0x53, 0x4d, 0x42]);
      put32(ct, 4, 0x7fffffff); // OriginalCompressedSegmentSize
      await a.sendFrame(ct);
      await expectDrop(a, "compressed message");
    });
    await kase("frame announced longer than sent, then client close: no hang, others served", async (c) => {
      const before = c.env.srv.kind === "ksmbd" ? fdCount(c.env.srv.pid) : -1;
      const a = await c.raw();
      await a.sendRaw(new Uint8Array([0, 0, 0x13, 0x88])); // 5000 bytes announced
      await a.sendRaw(concat(header({ command: Cmd.NEGOTIATE }), new Uint8Array(36)));
      const b = await c.session();
      expectStatus(await b.echo(), St.SUCCESS, "ECHO on another connection while the frame is incomplete");
      await a.dispose();
      await b.dispose();
      if (before >= 0) {
        // The half-read connection must be released once the client is gone.
        let now = fdCount(c.env.srv.pid);
        for (let i = 0; i < 30 && now > before; i++) {
          await sleep(100);
          now = fdCount(c.env.srv.pid);
        }
        assert(now <= before, `server fds ${before} -> ${now} after the clients closed`);
      }
    });
    await kase("slowloris partial frames while another client works normally", async (c) => {
      const slow: RawConn[] = [];
      for (let i = 0; i < 4; i++) {
        const s = await c.raw();
        await s.sendRaw(new Uint8Array([0, 0, 0x03, 0xe8])); // 1000 bytes announced
        await s.sendRaw(new Uint8Array([0xfe, 0x53, 0x4d, 0x42]));
        slow.push(s);
      }
      let dripping = true;
      const drip = (async () => {
        while (dripping) {
          for (const s of slow) await s.sendRaw(new Uint8Array([0]));
          await sleep(100);
        }
      })();
      try {
        const b = await c.session();
        let worst = 0;
        const until = Date.now() + 1500;
        let rounds = 0;
        while (Date.now() < until) {
          const t0 = performance.now();
          const name = uniq("slowloris");
          const fid = await openFile(b, name, "payload");
          const r = await b.call(Cmd.READ, readBody(fid, 0, 7));
          expectStatus(r, St.SUCCESS, "READ during slowloris");
          assertEquals(text(readData(r)), "payload");
          expectStatus(await b.closeFile(fid), St.SUCCESS, "CLOSE during slowloris");
          worst = Math.max(worst, performance.now() - t0);
          rounds++;
        }
        assert(worst < 1000, `a normal client's CREATE/WRITE/READ/CLOSE took ${worst.toFixed(0)} ms`);
        assert(rounds >= 3, `only ${rounds} rounds in 1.5 s while slow clients dripped`);
        for (const s of slow) assert(s.received.length === 0, "a partial frame was answered");
      } finally {
        dripping = false;
        await drip;
      }
    });
  });
});
