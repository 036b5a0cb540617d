/**
 * Network fuzzer, short seed-fixed pass (issue 10 item 4; the long run is `deno task fuzz --net`):
 * mutated versions of valid SMB2 traffic on many connections against the real server process
 * (tests/fuzz/net.ts), then the server must be alive and serve a fresh raw client after every batch,
 * and smbclient at the end.
 */
import { smbclient } from "../helpers/clients.ts";
import { isAlive } from "../helpers/proc_stat.ts";
import { runNetFuzz, startNetFuzzServer } from "../fuzz/net.ts";

Deno.test("netfuzz: mutated sessions on many connections leave the server serving others (seed 7)", async () => {
  const srv = await startNetFuzzServer();
  let ok = false;
  try {
    const r = await runNetFuzz({
      seed: 7,
      batches: 4,
      perBatch: 25,
      server: srv,
      log: (s) => console.log(s),
    });
    if (r.failures.length) throw new Error(r.failures.join("\n"));
    if (r.batches !== 4 || r.healthChecks !== 4) {
      throw new Error(`ran ${r.batches} batches, ${r.healthChecks} checks`);
    }
    if (r.frames < 4 * 3 * 10) throw new Error(`only ${r.frames} mutated frames were sent`);
    if (!isAlive(srv.pid)) throw new Error("server process died");
    const ls = await smbclient({ port: srv.port, share: "fuzz" }, ["ls"], {
      user: "fuzzer",
      pass: "Fuzz-pw-1",
      timeoutMs: 30_000,
    });
    if (ls.code !== 0) {
      throw new Error(`smbclient ls failed after the fuzz batches:\n${ls.stdout}\n${ls.stderr}`);
    }
    ok = true;
  } finally {
    if (!ok) console.error(`--- server output ---\n${srv.logs().slice(-6000)}`);
    await srv.stop();
  }
});
