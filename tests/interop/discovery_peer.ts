/**
 * The client side of tests/interop/discovery_test.ts, run inside the test's second network namespace
 * (`ip netns exec NS deno run --allow-net discovery_peer.ts ...`): it sends what a Windows or macOS
 * host would send and prints what came back as JSON on stdout. It knows nothing of the server's code.
 *
 * - `steps JSON` (or `steps @FILE`): runs the steps in order and prints one result per step:
 *   `{op: "udp", host, port, data (base64), waitMs, bindPort?, join?}` -> `{replies: [{from, port, data}]}`;
 *   `{op: "tcp", host, port, data (base64), waitMs}` -> `{response (base64) | null}`;
 * - `listen ADDRESS`: joins 239.255.255.250:3702 and 224.0.0.251:5353 on ADDRESS, records every datagram
 *   until its standard input ends, then prints `{wsd: [...], mdns: [...]}` (to see Hello, Bye,
 *   announcements and goodbyes).
 *
 * @module
 */

import dgram from "node:dgram";
import { Buffer } from "node:buffer";

interface UdpStep {
  op: "udp";
  host: string;
  port: number;
  data: string;
  waitMs: number;
  /** Local address to send from. */
  from: string;
  bindPort?: number;
  /** Join this group (to receive multicast answers). */
  join?: string;
  /** IPv6: the interface to join and send on (`from` is then unused for binding). */
  iface6?: string;
}

interface TcpStep {
  op: "tcp";
  host: string;
  port: number;
  data: string;
  waitMs: number;
}

type Step = UdpStep | TcpStep;

interface Received {
  from: string;
  port: number;
  data: string;
}

function udpStep(s: UdpStep): Promise<{ replies: Received[] }> {
  if (s.iface6 !== undefined) return udp6Step(s);
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: "udp4", reuseAddr: true });
    const replies: Received[] = [];
    sock.on("error", reject);
    sock.on("message", (m: Uint8Array, r: { address: string; port: number }) => {
      if (r.address === s.from) return; // our own multicast looped back
      replies.push({ from: r.address, port: r.port, data: Buffer.from(m).toString("base64") });
    });
    sock.bind(s.bindPort ?? 0, s.join ? "0.0.0.0" : s.from, () => {
      if (s.join) {
        sock.addMembership(s.join, s.from);
        sock.setMulticastInterface(s.from);
      }
      sock.send(Buffer.from(s.data, "base64"), s.port, s.host, (e: Error | null) => {
        if (e) reject(e);
      });
      setTimeout(() => {
        sock.close();
        resolve({ replies });
      }, s.waitMs);
    });
  });
}

function udp6Step(s: UdpStep): Promise<{ replies: Received[] }> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: "udp6", reuseAddr: true, ipv6Only: true });
    const replies: Received[] = [];
    sock.on("error", reject);
    sock.on("message", (m: Uint8Array, r: { address: string; port: number }) => {
      replies.push({ from: r.address, port: r.port, data: Buffer.from(m).toString("base64") });
    });
    sock.bind(s.bindPort ?? 0, "::", () => {
      if (s.join) sock.addMembership(s.join, `::%${s.iface6}`);
      sock.setMulticastInterface(`::%${s.iface6}`);
      sock.send(Buffer.from(s.data, "base64"), s.port, s.host, (e: Error | null) => {
        if (e) reject(e);
      });
      setTimeout(() => {
        sock.close();
        resolve({ replies });
      }, s.waitMs);
    });
  });
}

async function tcpStep(s: TcpStep): Promise<{ response: string | null }> {
  const conn = await Deno.connect({ hostname: s.host, port: s.port });
  const chunks: Uint8Array[] = [];
  const timer = setTimeout(() => conn.close(), s.waitMs);
  try {
    const data = Buffer.from(s.data, "base64");
    let off = 0;
    while (off < data.length) off += await conn.write(data.subarray(off));
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
  } catch {
    // closed by the timer or reset by the server
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  if (chunks.length === 0) return { response: null };
  return { response: Buffer.concat(chunks).toString("base64") };
}

async function listen(address: string): Promise<void> {
  const out: { wsd: Received[]; mdns: Received[] } = { wsd: [], mdns: [] };
  const open = (port: number, group: string, into: Received[]): Promise<dgram.Socket> =>
    new Promise((resolve) => {
      const sock = dgram.createSocket({ type: "udp4", reuseAddr: true });
      sock.on("message", (m: Uint8Array, r: { address: string; port: number }) => {
        if (r.address !== address) {
          into.push({ from: r.address, port: r.port, data: Buffer.from(m).toString("base64") });
        }
      });
      sock.bind(port, "0.0.0.0", () => {
        sock.addMembership(group, address);
        resolve(sock);
      });
    });
  const a = await open(3702, "239.255.255.250", out.wsd);
  const b = await open(5353, "224.0.0.251", out.mdns);
  console.error("listening");
  const buf = new Uint8Array(64);
  while ((await Deno.stdin.read(buf)) !== null) { /* wait for end of input */ }
  a.close();
  b.close();
  console.log(JSON.stringify(out));
}

if (import.meta.main) {
  const [mode, arg] = Deno.args;
  if (mode === "listen") {
    await listen(arg);
  } else if (mode === "steps") {
    // `@FILE`: the steps are in a file (large datagrams would exceed the argument size limit).
    const steps = JSON.parse(arg.startsWith("@") ? await Deno.readTextFile(arg.slice(1)) : arg) as Step[];
    const results: unknown[] = [];
    for (const s of steps) results.push(s.op === "udp" ? await udpStep(s) : await tcpStep(s));
    console.log(JSON.stringify(results));
  } else {
    console.error("usage: discovery_peer.ts steps JSON | listen ADDRESS");
    Deno.exit(2);
  }
}
