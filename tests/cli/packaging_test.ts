/**
 * cli/packaging/: the systemd unit (ksmbd-deno.service) and the container recipe (Containerfile) name
 * files, tasks and options of this repository; these tests hold them to it. The unit is also given to
 * `systemd-analyze verify` when that is installed. The container image itself is not built here (no
 * container engine on the test machine; cli/packaging/README.md says so).
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { REPO_ROOT, serveTaskFlags } from "../helpers/server.ts";
import { runCommand } from "../helpers/run_command.ts";
import { parseServerArgs, type ServerArgs } from "../../core/main.ts";
import { defaultGlobal } from "../../core/config/parse.ts";

const UNIT_PATH = `${REPO_ROOT}/cli/packaging/ksmbd-deno.service`;
const CONTAINERFILE_PATH = `${REPO_ROOT}/cli/packaging/Containerfile`;
/** Where both install the checkout. */
const INSTALL_DIR = "/opt/ksmbd-deno";

function tasks(): Record<string, string> {
  return JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`)).tasks;
}

/** `[Section]` → key → values (a key may repeat), comments and blank lines skipped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  // A trailing backslash continues a line (systemd.syntax(7)).
  for (const raw of text.replace(/\\\n\s*/g, " ").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = line.match(/^\[(.+)\]$/);
    if (head) {
      section = new Map();
      out.set(head[1], section);
      continue;
    }
    const eq = line.indexOf("=");
    assert(section !== undefined && eq > 0, `unit line outside a section or without "=": ${line}`);
    const key = line.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

/** `deno task serve ARGS...` → the parsed ARGS, checking that `deno` and the serve task are what run. */
function serveArgs(words: string[], what: string): ServerArgs {
  assert(words[0] === "deno" || words[0].endsWith("/deno"), `${what} runs deno: ${words.join(" ")}`);
  assertEquals(words.slice(1, 3), ["task", "serve"], `${what} runs the serve task`);
  assert("serve" in tasks(), "deno.json has a serve task");
  const parsed = parseServerArgs(words.slice(3));
  assert(parsed !== "help", `${what}: --help`);
  return parsed;
}

/** The options both packagings must pass: the system ksmbd.conf, nothing launcher-internal. */
function checkServeOptions(args: ServerArgs, what: string): void {
  assertEquals(args.config, "/etc/ksmbd/ksmbd.conf", `${what}: -C`);
  assertEquals(args.pwddb, "/etc/ksmbd/ksmbdpwd.db", `${what}: -P`);
  assert(!args.showPermissions && args.embedded === undefined && !args.parentPipe, `${what}: serves`);
}

/** A path under INSTALL_DIR mapped into this checkout; it must exist. */
function inCheckout(path: string, what: string): string {
  assert(path.startsWith(`${INSTALL_DIR}/`), `${what}: ${path} is under ${INSTALL_DIR}`);
  const local = `${REPO_ROOT}/${path.slice(INSTALL_DIR.length + 1)}`;
  Deno.statSync(local);
  return local;
}

Deno.test("ksmbd-deno.service: ExecStart runs cli/serve.ts with the serve task's flags and -C /etc/ksmbd/ksmbd.conf, state directory and hardening set", () => {
  const unit = parseUnit(Deno.readTextFileSync(UNIT_PATH));
  const service = unit.get("Service")!;
  const one = (key: string): string => {
    const v = service.get(key);
    assert(v !== undefined && v.length === 1, `[Service] ${key}= once: ${v}`);
    return v[0];
  };
  // `deno run <the serve task's flags> /opt/ksmbd-deno/cli/serve.ts ARGS`: what `deno task serve` runs.
  const words = one("ExecStart").split(/\s+/);
  const script = words.findIndex((w) => w.endsWith("/cli/serve.ts"));
  assertEquals(words.slice(0, 2), ["deno", "run"], "ExecStart runs deno");
  assertEquals(words.slice(2, script), serveTaskFlags(), "ExecStart's flags are the serve task's");
  assertEquals(inCheckout(words[script], "ExecStart"), `${REPO_ROOT}/cli/serve.ts`);
  const parsed = parseServerArgs(words.slice(script + 1));
  assert(parsed !== "help", "ExecStart: --help");
  checkServeOptions(parsed, "ExecStart");
  assertEquals(one("WorkingDirectory"), INSTALL_DIR);
  for (const doc of unit.get("Unit")!.get("Documentation")![0].split(/\s+/)) {
    inCheckout(doc.replace(/^file:\/\//, ""), "Documentation");
  }
  // The server's state directory is the `state directory` default, created by systemd for User=.
  assertEquals(`/var/lib/${one("StateDirectory")}`, defaultGlobal().stateDirectory);
  assertEquals(one("StateDirectoryMode"), "0700");
  assert(
    service.get("Environment")?.includes("DENO_DIR=/var/cache/ksmbd-deno"),
    "Deno's cache in CacheDirectory=",
  );
  assertEquals(one("CacheDirectory"), "ksmbd-deno");
  assert(one("User") !== "root" && one("User") !== "0", "not root");
  assertEquals(one("ExecReload"), "/bin/kill -HUP $MAINPID");
  assertEquals(one("KillMode"), "mixed");
  for (
    const [k, v] of [
      ["NoNewPrivileges", "yes"],
      ["ProtectSystem", "strict"],
      ["ProtectHome", "yes"],
      ["PrivateTmp", "yes"],
      ["PrivateDevices", "yes"],
      ["CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"],
      ["AmbientCapabilities", "CAP_NET_BIND_SERVICE"],
      ["RestrictNamespaces", "yes"],
      ["SystemCallFilter", "@system-service"],
    ]
  ) assertEquals(one(k), v, k);
  // The control socket is AF_UNIX; the listener AF_INET/AF_INET6.
  for (const af of ["AF_UNIX", "AF_INET", "AF_INET6"]) {
    assert(one("RestrictAddressFamilies").split(" ").includes(af), af);
  }
  assert(!service.has("MemoryDenyWriteExecute"), "V8's JIT needs W+X memory");
  assertEquals(unit.get("Install")!.get("WantedBy"), ["multi-user.target"]);
});

Deno.test("docs/operations.md's systemd section points at cli/packaging/ksmbd-deno.service", () => {
  const ops = Deno.readTextFileSync(`${REPO_ROOT}/docs/operations.md`);
  const section = ops.slice(ops.indexOf("\n## systemd"));
  assert(section.length > 20, "docs/operations.md has a systemd section");
  assertStringIncludes(section.slice(0, 2000), "cli/packaging/ksmbd-deno.service");
});

const systemdAnalyze = await runCommand("systemd-analyze", ["--version"], { timeoutMs: 20_000 }).catch(() =>
  null
);
const NO_SYSTEMD_ANALYZE = systemdAnalyze === null || systemdAnalyze.code !== 0
  ? "systemd-analyze is not installed (Debian package `systemd`): the unit is not verified by systemd"
  : "";
if (NO_SYSTEMD_ANALYZE) console.log(`packaging_test: skipping systemd-analyze verify: ${NO_SYSTEMD_ANALYZE}`);

Deno.test({
  name: "ksmbd-deno.service passes `systemd-analyze verify` without a warning",
  ignore: NO_SYSTEMD_ANALYZE !== "",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ksmbd-unit-" });
    try {
      // verify resolves ExecStart's `deno` in systemd's fixed search path (/usr/local/bin, /usr/bin, ...).
      let unit = Deno.readTextFileSync(UNIT_PATH);
      const onSearchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .some((d) => {
          try {
            return Deno.statSync(`${d}/deno`).isFile;
          } catch {
            return false;
          }
        });
      if (!onSearchPath) {
        console.log(`no deno in systemd's search path: verifying with ExecStart=${Deno.execPath()}`);
        unit = unit.replace(/^ExecStart=deno /m, `ExecStart=${Deno.execPath()} `);
      }
      await Deno.writeTextFile(`${dir}/ksmbd-deno.service`, unit);
      const r = await runCommand("systemd-analyze", ["verify", "--man=no", `${dir}/ksmbd-deno.service`], {
        timeoutMs: 60_000,
      });
      assertEquals(r.code, 0, `systemd-analyze verify:\n${r.stdout}${r.stderr}`);
      // Unknown keys and bad values are only warnings (exit 0): any output is a failure here.
      assertEquals((r.stdout + r.stderr).trim(), "", "systemd-analyze verify printed warnings");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Containerfile instructions, continuation lines joined, comments dropped. */
function parseContainerfile(text: string): Array<{ op: string; arg: string }> {
  const out: Array<{ op: string; arg: string }> = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    if (pending === "" && (raw.trim() === "" || raw.trim().startsWith("#"))) continue;
    if (raw.endsWith("\\")) {
      pending += raw.slice(0, -1) + " ";
      continue;
    }
    const line = (pending + raw).trim().replace(/\s+/g, " ");
    pending = "";
    const sp = line.indexOf(" ");
    out.push({ op: line.slice(0, sp).toUpperCase(), arg: line.slice(sp + 1) });
  }
  return out;
}

Deno.test("Containerfile: Debian with Node/npm, deno from `npx -y deno@<README's version>`, COPY sources exist, tasks exist, entry point is `deno task serve -C /etc/ksmbd/ksmbd.conf`", async () => {
  const ins = parseContainerfile(Deno.readTextFileSync(CONTAINERFILE_PATH));
  const all = (op: string): string[] => ins.filter((i) => i.op === op).map((i) => i.arg);
  assertEquals(all("FROM").length, 1);
  assert(/debian:/.test(all("FROM")[0]), `a Debian base: ${all("FROM")[0]}`);
  const runs = all("RUN").join("\n");
  assert(/apt-get install[^\n]* nodejs[^\n]* npm/.test(runs), "Node.js and npm from apt");
  const readme = Deno.readTextFileSync(`${REPO_ROOT}/README.md`);
  const version = readme.match(/npx -y deno@(\d+\.\d+\.\d+) task serve/)?.[1];
  assert(version !== undefined, "the README's quick start names the Deno version");
  assertStringIncludes(runs, `npx -y deno@${version} `);
  assert(!/jsr:|deno install/.test(runs), "no JSR");
  for (const m of runs.matchAll(/deno task ([\w:-]+)/g)) assert(m[1] in tasks(), `task ${m[1]} exists`);
  assertStringIncludes(runs, "deno task build:wasm", "the rpc-wasm module is built in the image");
  for (const m of runs.matchAll(/deno cache ([^&\n]+)/g)) {
    for (const f of m[1].trim().split(" ")) Deno.statSync(`${REPO_ROOT}/${f}`);
  }
  assertEquals(all("WORKDIR"), [INSTALL_DIR]);
  // Every COPY source exists, and together they hold every local module the server, the launcher, the
  // CLI and the rpc-wasm Worker load (deno info), plus what the WASM build reads.
  const copied: string[] = [];
  for (const arg of all("COPY")) {
    const words = arg.split(" ").filter((w) => !w.startsWith("--"));
    for (const src of words.slice(0, -1)) {
      Deno.statSync(`${REPO_ROOT}/${src}`);
      copied.push(src.replace(/\/$/, ""));
    }
  }
  const covered = (rel: string): boolean => copied.some((c) => rel === c || rel.startsWith(`${c}/`));
  for (const root of ["core/main.ts", "cli/serve.ts", "cli/main.ts", "rpc-wasm/worker.ts"]) {
    const r = await runCommand(Deno.execPath(), ["info", "--json", root], {
      timeoutMs: 120_000,
      cwd: REPO_ROOT,
    });
    assertEquals(r.code, 0, `deno info ${root}: ${r.stderr}`);
    for (const m of JSON.parse(r.stdout).modules as Array<{ specifier: string }>) {
      if (!m.specifier.startsWith("file://")) continue;
      const rel = new URL(m.specifier).pathname.slice(REPO_ROOT.length + 1);
      assert(covered(rel), `${rel} (loaded from ${root}) is not copied into the image`);
    }
  }
  for (const f of ["deno.json", "rpc-wasm/asconfig.json", "rpc-wasm/assembly/index.ts"]) {
    assert(covered(f), f);
  }
  const user = all("USER");
  assert(user.length > 0 && user.at(-1) !== "root" && user.at(-1) !== "0", "runs unprivileged");
  assert(all("VOLUME").some((v) => v.includes('"/var/lib/ksmbd-deno"')), "state directory on a volume");
  assertEquals(defaultGlobal().stateDirectory, "/var/lib/ksmbd-deno");
  const entry: string[] = JSON.parse(all("ENTRYPOINT")[0]);
  const deno = entry.findIndex((w) => w === "deno");
  assert(deno >= 0, `the entry point runs deno: ${entry}`);
  checkServeOptions(serveArgs(entry.slice(deno), "ENTRYPOINT"), "ENTRYPOINT");
  assertEquals(all("CMD"), [], "no CMD: arguments given to `podman run` are added to serve's options");
});
