/**
 * The DPWS metadata exchange of the WS-Discovery responder (core/discovery/wsd.ts): a deliberately small
 * HTTP/1.1 server on TCP 5357 of each announced address. A client that found the device POSTs a
 * WS-Transfer Get (SOAP 1.2) to `/<uuid>`; the answer is the GetResponse of
 * core/discovery/wsd_messages.ts.
 *
 * Written on `Deno.listen` rather than `Deno.serve` so that every resource is bounded here
 * (docs/operations.md "Discovery"): at most {@link Limits.wsdHttpMaxConnections} connections at once,
 * one request per connection, the request head at most {@link Limits.wsdHttpMaxHeaderBytes}, a body
 * only with Content-Length and at most {@link Limits.wsdMaxMessageBytes}, and the whole exchange
 * within {@link Limits.wsdHttpTimeoutMs}. Errors get a bare status line and never echo the request.
 *
 * @module
 */

import { Limits } from "../limits.ts";
import { log, logWarn } from "../log.ts";
import { writeAll } from "../transport/tcp.ts";
import {
  buildGetResponse,
  endpointAddress,
  parseWsdRequest,
  safeUri,
  type WsdDevice,
} from "./wsd_messages.ts";

/** Options of {@link startMetadataServer}. */
export interface MetadataServerOptions {
  device: WsdDevice;
  addresses: readonly string[];
  port: number;
}

/** The running listeners. */
export interface WsdHttpServer {
  close(): Promise<void>;
}

/** The device description returned in ThisDevice/ThisModel (no version, no host details). */
export const MODEL = { manufacturer: "ksmbd-deno", modelName: "ksmbd-deno SMB server" } as const;

/** A response: status, and a SOAP body for 200. */
export interface HttpAnswer {
  status: number;
  body?: string;
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Payload Too Large",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  503: "Service Unavailable",
};

/** A parsed request head. */
export interface RequestHead {
  method: string;
  path: string;
  headers: Map<string, string>;
}

/** Parses the request line and headers; an HTTP status number when they are unacceptable. */
export function parseRequestHead(head: string): RequestHead | number {
  const lines = head.split("\r\n");
  const m = /^([A-Z]{1,16}) (\S{1,512}) HTTP\/1\.[01]$/.exec(lines[0]);
  if (!m) return 400;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0 || headers.size >= 64) return 400;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^[a-z0-9-]+$/.test(name)) return 400;
    if (headers.has(name) && name === "content-length") return 400;
    headers.set(name, line.slice(colon + 1).trim());
  }
  return { method: m[1], path: m[2], headers };
}

/**
 * The answer to one request (pure): only `POST /<uuid>` with a WS-Transfer Get addressed to this
 * device (wsa:To our `urn:uuid:` or the metadata URL) gets the metadata.
 */
export function answerRequest(device: WsdDevice, head: RequestHead, body: string): HttpAnswer {
  if (head.method !== "POST") return { status: 405 };
  const path = head.path.split("?")[0].replace(/\/+$/, "");
  if (path.toLowerCase() !== `/${device.uuid}`) return { status: 404 };
  let req;
  try {
    req = parseWsdRequest(body);
  } catch {
    return { status: 400 };
  }
  if (req.kind !== "get" || !safeUri(req.messageId)) return { status: 400 };
  const to = req.to.toLowerCase();
  if (to !== "" && to !== endpointAddress(device.uuid) && !to.endsWith(`/${device.uuid}`)) {
    return { status: 400 };
  }
  return {
    status: 200,
    body: buildGetResponse(device, req.messageId, { ...MODEL, friendlyName: device.computerName }),
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

function indexOfCrlfCrlf(buf: Uint8Array, len: number): number {
  for (let i = 3; i < len; i++) {
    if (buf[i - 3] === 13 && buf[i - 2] === 10 && buf[i - 1] === 13 && buf[i] === 10) return i + 1;
  }
  return -1;
}

async function writeAnswer(conn: Deno.Conn, a: HttpAnswer): Promise<void> {
  const body = a.body !== undefined ? encoder.encode(a.body) : new Uint8Array(0);
  const head = `HTTP/1.1 ${a.status} ${REASONS[a.status] ?? "Error"}\r\n` +
    (a.body !== undefined ? "Content-Type: application/soap+xml; charset=utf-8\r\n" : "") +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  const out = new Uint8Array(head.length + body.length);
  out.set(encoder.encode(head));
  out.set(body, head.length);
  await writeAll(conn, out);
}

/** Reads one request from `conn` within the limits and answers it. */
async function handle(conn: Deno.Conn, device: WsdDevice): Promise<void> {
  const max = Limits.wsdHttpMaxHeaderBytes + Limits.wsdMaxMessageBytes;
  const buf = new Uint8Array(max);
  let len = 0;
  let headEnd = -1;
  while (headEnd < 0) {
    if (len >= Limits.wsdHttpMaxHeaderBytes) return await writeAnswer(conn, { status: 431 });
    const n = await conn.read(buf.subarray(len, Limits.wsdHttpMaxHeaderBytes));
    if (n === null) return;
    len += n;
    headEnd = indexOfCrlfCrlf(buf, len);
  }
  const head = parseRequestHead(decoder.decode(buf.subarray(0, headEnd - 4)));
  if (typeof head === "number") return await writeAnswer(conn, { status: head });
  if (head.headers.has("transfer-encoding")) return await writeAnswer(conn, { status: 501 });
  const cl = head.headers.get("content-length");
  if (cl === undefined) return await writeAnswer(conn, { status: head.method === "POST" ? 411 : 405 });
  if (!/^\d{1,9}$/.test(cl)) return await writeAnswer(conn, { status: 400 });
  const bodyLen = Number(cl);
  if (bodyLen > Limits.wsdMaxMessageBytes) return await writeAnswer(conn, { status: 413 });
  if ((head.headers.get("expect") ?? "").toLowerCase() === "100-continue") {
    await conn.write(encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
  }
  while (len - headEnd < bodyLen) {
    const n = await conn.read(buf.subarray(len, headEnd + bodyLen));
    if (n === null) return;
    len += n;
  }
  const body = decoder.decode(buf.subarray(headEnd, headEnd + bodyLen));
  const answer = answerRequest(device, head, body);
  if (answer.status !== 200) log("conn", `wsd http: ${head.method} answered ${answer.status}`);
  await writeAnswer(conn, answer);
}

/**
 * Listens on `port` of each address.
 *
 * @throws what `Deno.listen` throws (port in use, permission).
 */
export function startMetadataServer(o: MetadataServerOptions): WsdHttpServer {
  const listeners: Deno.Listener[] = [];
  try {
    for (const a of o.addresses) listeners.push(Deno.listen({ hostname: a, port: o.port, transport: "tcp" }));
  } catch (e) {
    for (const l of listeners) l.close();
    throw e;
  }
  const open = new Set<Deno.Conn>();
  const loops = listeners.map(async (l) => {
    try {
      for await (const conn of l) {
        if (open.size >= Limits.wsdHttpMaxConnections) {
          // Over the limit: answer nothing, close at once.
          try {
            conn.close();
          } catch { /* gone */ }
          continue;
        }
        open.add(conn);
        const timer = setTimeout(() => {
          try {
            conn.close();
          } catch { /* closed */ }
        }, Limits.wsdHttpTimeoutMs);
        handle(conn, o.device).catch((e) => {
          if (!(e instanceof Deno.errors.BadResource) && !(e instanceof Deno.errors.ConnectionReset)) {
            log("conn", `wsd http: ${(e as Error).message}`);
          }
        }).finally(() => {
          clearTimeout(timer);
          open.delete(conn);
          try {
            conn.close();
          } catch { /* already closed */ }
        });
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) {
        logWarn("server", `wsd http: listener ended: ${(e as Error).message}`);
      }
    }
  });
  return {
    async close(): Promise<void> {
      for (const l of listeners) {
        try {
          l.close();
        } catch { /* closed */ }
      }
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await Promise.allSettled(loops);
    },
  };
}
