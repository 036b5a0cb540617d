/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * Worker glue for the rpc-wasm module. Runs in a Worker created with `deno: { permissions: "none" }`
 * and only moves bytes: an ArrayBuffer request is copied into the module's input buffer, dispatch()
 * runs, and the reply bytes are posted back (transferred). It never parses messages; the handle is
 * read only to name the request that was running when the module trapped.
 *
 * Control messages (plain objects): {kind:"init", module} -> {kind:"ready"} | {kind:"init-failed"};
 * {kind:"probe"} -> {kind:"probe-result", results} (tries file, env, net and process access so tests
 * can prove they are denied). A trap -> {kind:"trap", handle, message}; the instance is then unusable
 * and the bridge replaces the whole Worker.
 */

interface Exports {
  memory: WebAssembly.Memory;
  input_buffer(len: number): number;
  output_buffer(): number;
  dispatch(len: number): number;
}

let exp: Exports | null = null;

function handleRequest(buf: ArrayBuffer): void {
  const handle = buf.byteLength >= 4 ? new DataView(buf).getUint32(0, true) : 0;
  const x = exp;
  if (x === null) {
    self.postMessage({ kind: "trap", handle, message: "module not running" });
    return;
  }
  try {
    const len = buf.byteLength;
    const ptr = x.input_buffer(len);
    if (ptr === 0) {
      self.postMessage({ kind: "reject", handle, message: `request of ${len} bytes too large` });
      return;
    }
    new Uint8Array(x.memory.buffer, ptr, len).set(new Uint8Array(buf));
    const n = x.dispatch(len);
    if (n > 0) {
      const out = (x.memory.buffer as ArrayBuffer).slice(x.output_buffer(), x.output_buffer() + n);
      self.postMessage(out, [out]);
    }
  } catch (err) {
    exp = null;
    self.postMessage({ kind: "trap", handle, message: String(err) });
  }
}

async function probe(): Promise<Record<string, string>> {
  const results: Record<string, string> = {};
  const attempt = async (name: string, fn: () => Promise<unknown> | unknown): Promise<void> => {
    try {
      await fn();
      results[name] = "allowed";
    } catch (err) {
      results[name] = (err as Error).name;
    }
  };
  await attempt("read", () => Deno.readTextFile("/etc/hostname"));
  await attempt("env", () => Deno.env.get("HOME"));
  await attempt("net", async () => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: 445 });
    c.close();
  });
  await attempt("listen", () => Deno.listen({ hostname: "127.0.0.1", port: 0 }).close());
  await attempt("run", () => new Deno.Command("/bin/true").outputSync());
  await attempt("write", () => Deno.writeTextFile("/tmp/rpc-wasm-probe", "x"));
  return results;
}

self.onmessage = async (e: MessageEvent): Promise<void> => {
  const d = e.data;
  if (d instanceof ArrayBuffer) {
    handleRequest(d);
    return;
  }
  if (d === null || typeof d !== "object") return;
  if (d.kind === "init") {
    try {
      const inst = await WebAssembly.instantiate(d.module as WebAssembly.Module, {});
      exp = inst.exports as unknown as Exports;
      self.postMessage({ kind: "ready" });
    } catch (err) {
      self.postMessage({ kind: "init-failed", message: String(err) });
    }
  } else if (d.kind === "probe") {
    self.postMessage({ kind: "probe-result", results: await probe() });
  }
};
