import { assert, assertEquals, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import { parseConfig } from "../../core/config/parse.ts";
import { ConfigError } from "../../core/config/types.ts";
import {
  computePermissions,
  CORE_MAIN_PATH,
  CRYPTO_WORKER_PATH,
  describePermissions,
  isWritableShare,
  LIBCRYPTO_CANDIDATES,
  normalizeAbsolute,
  parsePermissionFlags,
  permissionFlags,
  PermissionPlanError,
  resolveThroughExisting,
  serverCommandArgs,
  WASM_MODULE_PATH,
  WORKER_MODULE_PATH,
} from "../../core/permissions.ts";

/** A fake file system for realpath: `/link` -> `/real`, everything else resolves to itself if listed. */
function fakeRealPath(existing: string[], links: Record<string, string> = {}): (p: string) => string | null {
  return (p) => {
    for (const [from, to] of Object.entries(links)) {
      if (p === from || p.startsWith(from + "/")) return to + p.slice(from.length);
    }
    return p === "/" || existing.includes(p) ? p : null;
  };
}

const CONF = `
[global]
  state directory = /var/lib/kd
  tcp port = 4450
[ro]
  path = /srv/ro
[rw]
  path = /srv/rw
  read only = no
[wl]
  path = /srv/wl
  write list = alice
`;

Deno.test("computePermissions grants exactly net, read, write and sys for the configuration", () => {
  const { config } = parseConfig(CONF, "/etc/ksmbd/ksmbd.conf");
  const plan = computePermissions({
    config,
    configPath: "/etc/ksmbd/ksmbd.conf",
    pwdDbPath: "/etc/ksmbd/ksmbdpwd.db",
    port: 4450,
    realPath: fakeRealPath(["/srv", "/srv/ro", "/srv/rw", "/srv/wl", "/etc", "/var", "/var/lib"]),
  });
  // bind interfaces only = no (default): every address, IPv6 ([::], dual-stack) and IPv4.
  assertEquals(plan.net, ["[::]:4450", "0.0.0.0:4450", "unix:/var/lib/kd/control.sock"]);
  assertEquals(plan.read, [
    "/etc/ksmbd/ksmbd.conf",
    "/etc/ksmbd/ksmbdpwd.db",
    "/var/lib/kd",
    "/etc/passwd",
    "/etc/group",
    WORKER_MODULE_PATH,
    WASM_MODULE_PATH,
    CRYPTO_WORKER_PATH,
    "/srv/ro",
    "/srv/rw",
    "/srv/wl",
  ]);
  // Read-only [ro] gets no write; [wl] is read-only but has a write list.
  assertEquals(plan.write, ["/var/lib/kd", "/srv/rw", "/srv/wl"]);
  assertEquals(plan.sys, ["statfs"]);
  assertEquals(plan.ffi, []);
  assertEquals(permissionFlags(plan), [
    "--allow-net=[::]:4450,0.0.0.0:4450,unix:/var/lib/kd/control.sock",
    `--allow-read=${plan.read.join(",")}`,
    "--allow-write=/var/lib/kd,/srv/rw,/srv/wl",
    "--allow-sys=statfs",
  ]);
  for (const g of plan.grants) assert(g.why.length > 0, `${g.kind} ${g.value} has a reason`);
});

Deno.test("computePermissions adds the realpath of symlinked share and state paths", () => {
  const { config } = parseConfig(
    "[global]\nstate directory = /data/state\n[s]\npath = /data/share\nread only = no\n",
    "/c.conf",
  );
  const plan = computePermissions({
    config,
    configPath: "/c.conf",
    pwdDbPath: "/c.db",
    port: 445,
    realPath: fakeRealPath(["/c.conf", "/etc"], { "/data": "/mnt/disk1/data" }),
  });
  assert(plan.read.includes("/data/share") && plan.read.includes("/mnt/disk1/data/share"));
  assert(plan.write.includes("/data/share") && plan.write.includes("/mnt/disk1/data/share"));
  assert(plan.write.includes("/mnt/disk1/data/state"));
  assert(plan.net.includes("unix:/mnt/disk1/data/state/control.sock"));
});

Deno.test("computePermissions: embedded default has no config file; --allow-shares-under grants read and write", () => {
  const { config } = parseConfig(
    "[global]\nstate directory = /w/.state\n[demo]\npath = /w/demo-share\nread only = no\n",
    "<embedded>",
  );
  const plan = computePermissions({
    config,
    pwdDbPath: "/w/.state/ksmbdpwd.db",
    port: 4455,
    extraShareRoots: ["/srv/shares"],
    realPath: fakeRealPath([]),
  });
  assertEquals(plan.read[0], "/w/.state/ksmbdpwd.db");
  assert(plan.read.includes("/srv/shares") && plan.write.includes("/srv/shares"));
  assertStringIncludes(describePermissions(plan), "--allow-shares-under");
});

Deno.test("computePermissions: IPC$ gets nothing; kerberos keytab is read only when kerberos is on", () => {
  const off = parseConfig("[global]\nkerberos keytab file = /etc/krb5.keytab\n", "/c").config;
  const on =
    parseConfig("[global]\nkerberos support = yes\nkerberos keytab file = /etc/krb5.keytab\n", "/c").config;
  const base = { configPath: "/c", pwdDbPath: "/p", port: 1, realPath: fakeRealPath([]) };
  const a = computePermissions({ ...base, config: off });
  const b = computePermissions({ ...base, config: on });
  assert(!a.read.includes("/etc/krb5.keytab"));
  assert(b.read.includes("/etc/krb5.keytab"));
  assertEquals(a.write, ["/var/lib/ksmbd-deno"]);
});

Deno.test("computePermissions: crypto backend = openssl grants ffi to libcrypto only, and fails without it", () => {
  const { config } = parseConfig("[global]\ncrypto backend = openssl\n", "/c");
  const base = { config, configPath: "/c", pwdDbPath: "/p", port: 1, realPath: fakeRealPath([]) };
  const lib = LIBCRYPTO_CANDIDATES[1];
  const plan = computePermissions({ ...base, fileExists: (p) => p === lib });
  assertEquals(plan.ffi, [lib]);
  assert(permissionFlags(plan).includes(`--allow-ffi=${lib}`));
  assertThrows(
    () => computePermissions({ ...base, fileExists: () => false }),
    PermissionPlanError,
    "libcrypto",
  );
});

Deno.test("computePermissions refuses paths a Deno flag cannot express (comma) and relative paths", () => {
  const { config } = parseConfig("[s]\npath = /srv/a,b\n", "/c");
  assertThrows(
    () =>
      computePermissions({ config, configPath: "/c", pwdDbPath: "/p", port: 1, realPath: fakeRealPath([]) }),
    PermissionPlanError,
    "comma",
  );
  const ok = parseConfig("[s]\npath = /srv/a\n", "/c").config;
  assertThrows(
    () =>
      computePermissions({
        config: ok,
        configPath: "c.conf",
        pwdDbPath: "/p",
        port: 1,
        realPath: fakeRealPath([]),
      }),
    PermissionPlanError,
    "absolute",
  );
});

Deno.test("isWritableShare: read only = no or a write list; never IPC$", () => {
  const { config } = parseConfig(CONF + "[ipc$]\n", "/c");
  const by = (n: string): boolean => isWritableShare(config.shares.find((s) => s.name === n)!);
  assertEquals([by("ro"), by("rw"), by("wl"), by("ipc$")], [false, true, true, false]);
});

Deno.test("normalizeAbsolute and resolveThroughExisting work lexically then through the deepest existing ancestor", () => {
  assertEquals(normalizeAbsolute("/a//b/./c/../d/"), "/a/b/d");
  assertEquals(normalizeAbsolute("/../.."), "/");
  assertThrows(() => normalizeAbsolute("a/b"), PermissionPlanError);
  const rp = fakeRealPath(["/x"], { "/l": "/real" });
  assertEquals(resolveThroughExisting("/l/new/dir", rp), "/real/new/dir");
  assertEquals(resolveThroughExisting("/x/new", rp), "/x/new");
  assertEquals(resolveThroughExisting("/nope/a", rp), "/nope/a");
});

Deno.test("serverCommandArgs runs core/main.ts with no prompts and the worker option; parsePermissionFlags reads it back", () => {
  const { config } = parseConfig(CONF, "/c");
  const plan = computePermissions({
    config,
    configPath: "/c",
    pwdDbPath: "/p",
    port: 9,
    realPath: fakeRealPath([]),
  });
  const args = serverCommandArgs(plan, ["-C", "/c", "--allow-read"]);
  assertEquals(args.slice(0, 3), ["run", "--no-prompt", "--unstable-worker-options"]);
  assertEquals(args[args.indexOf(CORE_MAIN_PATH) + 1], "-C");
  const parsed = parsePermissionFlags(["/usr/bin/deno", ...args]);
  assertEquals(parsed.get("--allow-net"), plan.net);
  assertEquals(parsed.get("--allow-read"), plan.read);
  assertEquals(parsed.get("--allow-write"), plan.write);
  assertEquals(parsed.get("--allow-sys"), ["statfs"]);
  // The script's own "--allow-read" argument is not a Deno flag.
  assertEquals([...parsed.keys()].sort(), ["--allow-net", "--allow-read", "--allow-sys", "--allow-write"]);
  assertEquals(parsePermissionFlags(["deno", "run", "-A", "x.ts"]).get("--allow-all"), true);
  assertEquals(parsePermissionFlags(["deno", "run", "--allow-read", "x.ts"]).get("--allow-read"), true);
});

Deno.test("computePermissions: metrics address adds exactly its net address; none when unset", () => {
  const perms = (extra: string): string[] => {
    const { config } = parseConfig(`[global]\nstate directory = /var/lib/kd\n${extra}`, "/c.conf");
    return computePermissions({
      config,
      configPath: "/c.conf",
      pwdDbPath: "/c.db",
      port: 445,
      realPath: fakeRealPath(["/c.conf", "/var", "/var/lib"]),
    }).net;
  };
  const base = perms("");
  assert(!base.some((n) => n.includes("9445")), `no metrics grant by default: ${base}`);
  assertEquals(perms("metrics address = 9445\n"), [...base, "127.0.0.1:9445"]);
  assertEquals(perms("metrics address = 10.1.2.3:9100\n"), [...base, "10.1.2.3:9100"]);
  assertEquals(perms("metrics address = [::1]:9445\n"), [...base, "[::1]:9445"]);
});

Deno.test("computePermissions: bind interfaces only = yes grants net for exactly the resolved interface addresses", () => {
  const machine = [
    { name: "lo", family: "IPv4" as const, address: "127.0.0.1", cidr: "127.0.0.1/8" },
    { name: "eth0", family: "IPv4" as const, address: "192.0.2.2", cidr: "192.0.2.2/24" },
    { name: "lo", family: "IPv6" as const, address: "::1", cidr: "::1/128" },
    { name: "eth0", family: "IPv6" as const, address: "fd00::2", cidr: "fd00::2/64" },
  ];
  const net = (globals: string, listenAddresses?: string[]): string[] => {
    const { config } = parseConfig(`[global]\nstate directory = /var/lib/kd\n${globals}`, "/c.conf");
    return computePermissions({
      config,
      configPath: "/c.conf",
      pwdDbPath: "/c.db",
      port: 4455,
      listenAddresses,
      networkInterfaces: () => machine,
      realPath: fakeRealPath(["/c.conf", "/var", "/var/lib"]),
    }).net.filter((n) => !n.startsWith("unix:"));
  };
  assertEquals(net("bind interfaces only = yes\ninterfaces = eth0\n"), ["192.0.2.2:4455", "[fd00::2]:4455"]);
  assertEquals(net("bind interfaces only = yes\ninterfaces = 127.0.0.2, ::1\n"), [
    "127.0.0.2:4455",
    "[::1]:4455",
  ]);
  // interfaces without bind interfaces only is ignored (ksmbd): all addresses.
  assertEquals(net("interfaces = eth0\n"), ["[::]:4455", "0.0.0.0:4455"]);
  // What the launcher resolved and passes with --listen is used as is.
  assertEquals(net("bind interfaces only = yes\ninterfaces = eth0\n", ["192.0.2.2"]), ["192.0.2.2:4455"]);
  assertThrows(
    () => net("bind interfaces only = yes\ninterfaces = eth9\n"),
    ConfigError,
    `/c.conf:4: "interfaces": no network interface "eth9"`,
  );
});

Deno.test("computePermissions: wsd / mdns grant exactly their UDP ports, groups, HTTP 5357 and subnets; nothing when off", () => {
  const machine = [
    { name: "lo", family: "IPv4" as const, address: "127.0.0.1", cidr: "127.0.0.1/8" },
    { name: "eth0", family: "IPv4" as const, address: "192.0.2.2", cidr: "192.0.2.2/24" },
    { name: "eth0", family: "IPv6" as const, address: "fd00::2", cidr: "fd00::2/64" },
  ];
  const plan = (globals: string) => {
    const { config } = parseConfig(`[global]\nstate directory = /var/lib/kd\n${globals}`, "/c.conf");
    return computePermissions({
      config,
      configPath: "/c.conf",
      pwdDbPath: "/c.db",
      port: 445,
      networkInterfaces: () => machine,
      realPath: fakeRealPath(["/c.conf", "/var", "/var/lib"]),
    });
  };
  const base = plan("");
  const extra = (p: ReturnType<typeof plan>): string[] => p.net.filter((n) => !base.net.includes(n));
  assertEquals(extra(base), []);
  assertEquals(base.sys, ["statfs"]);
  const wsd = plan("wsd = yes\n");
  assertEquals(extra(wsd), ["0.0.0.0:3702", "239.255.255.250:3702", "192.0.2.2:5357", "192.0.2.0/24"]);
  assertEquals(wsd.sys, ["networkInterfaces", "statfs"]);
  const mdns = plan("mdns = yes\n");
  // eth0 has IPv6 too: mDNS over IPv6 answers by multicast only, so no IPv6 prefix is granted.
  assertEquals(extra(mdns), [
    "0.0.0.0:5353",
    "224.0.0.251:5353",
    "[::]:5353",
    "[ff02::fb]:5353",
    "192.0.2.0/24",
  ]);
  assert(!mdns.net.some((n) => n.endsWith(":5357")), "no TCP 5357 without wsd");
  // Discovery adds no flag beyond the permissions (node:dgram needs no --unstable-net of its own).
  assertEquals(
    serverCommandArgs(mdns, []).filter((a) => a.startsWith("--unstable")),
    serverCommandArgs(base, []).filter((a) => a.startsWith("--unstable")),
  );
  assertThrows(() => plan("wsd = yes\ndiscovery interfaces = eth7\n"), ConfigError, `"discovery interfaces"`);
});

Deno.test("computePermissions: cluster backend = etcd adds exactly each endpoint's host:port (IPv6 bracketed); none adds nothing", () => {
  const plan = (extra: string) => {
    const { config } = parseConfig(`[global]\nstate directory = /var/lib/kd\n${extra}`, "/c.conf");
    return computePermissions({
      config,
      configPath: "/c.conf",
      pwdDbPath: "/c.db",
      port: 445,
      realPath: fakeRealPath(["/c.conf", "/var", "/var/lib"]),
    });
  };
  const endpoints = "cluster endpoints = http://10.0.0.1:2379, http://[::1]:2380/ http://etcd.example:80\n";
  const base = plan("");
  // `none` (the default, or written) grants nothing for the endpoints it ignores.
  assertEquals(plan(`cluster backend = none\n${endpoints}`), base);
  assertEquals(plan(endpoints), base);
  const etcd = plan(
    `cluster backend = etcd\ncluster node name = n1\ncluster shared directory = /srv/meta\n${endpoints}`,
  );
  assertEquals(etcd.net, [...base.net, "10.0.0.1:2379", "[::1]:2380", "etcd.example:80"]);
  // The shared metadata directory is read and written, and the config file and user DB themselves
  // are written (the cluster's shared versions, docs/cluster.md §7.3); nothing else changes.
  assertEquals([...etcd.read].sort(), [...base.read, "/srv/meta"].sort());
  assertEquals([...etcd.write].sort(), [...base.write, "/srv/meta", "/c.conf", "/c.db"].sort());
  assert(!base.write.includes("/c.conf") && !base.write.includes("/c.db"), "only in cluster mode");
  assert(!etcd.write.includes("/"), "not their directory");
  assertStringIncludes(etcd.grants.find((g) => g.kind === "write" && g.value === "/c.db")!.why, "etcd");
  assertEquals([etcd.sys, etcd.ffi], [base.sys, base.ffi]);
  const grants = etcd.grants.filter((g) => g.why.startsWith("cluster endpoint"));
  assertEquals(grants.map((g) => `${g.kind} ${g.value}`), [
    "net 10.0.0.1:2379",
    "net [::1]:2380",
    "net etcd.example:80",
  ]);
  assertStringIncludes(grants[0].why, "cluster endpoint (etcd");
  assertStringIncludes(describePermissions(etcd), "net [::1]:2380");
  assertStringIncludes(
    permissionFlags(etcd)[0],
    ",10.0.0.1:2379,[::1]:2380,etcd.example:80",
  );
});

Deno.test("computePermissions: cluster peers add each other node's SMB address, not this node's; none adds nothing", () => {
  const plan = (extra: string) => {
    const { config } = parseConfig(`[global]\nstate directory = /var/lib/kd\n${extra}`, "/c.conf");
    return computePermissions({
      config,
      configPath: "/c.conf",
      pwdDbPath: "/c.db",
      port: 445,
      realPath: fakeRealPath(["/c.conf", "/var", "/var/lib"]),
    });
  };
  const peers = "cluster peers = n1=10.0.0.1:445, n2=10.0.0.2:445, n3=[fd00::3]:4450\n";
  const etcd = "cluster backend = etcd\ncluster node name = n1\ncluster shared directory = /srv/meta\n" +
    "cluster endpoints = http://10.0.0.9:2379\n";
  assertEquals(plan(peers), plan(""), "cluster backend = none: peers are ignored");
  const without = plan(etcd);
  const withPeers = plan(etcd + peers);
  assertEquals(withPeers.net, [...without.net, "10.0.0.2:445", "[fd00::3]:4450"]);
  const grants = withPeers.grants.filter((g) => g.why.startsWith("cluster peer"));
  assertEquals(grants.map((g) => g.why), [
    "cluster peer n2 (forwarded client connections)",
    "cluster peer n3 (forwarded client connections)",
  ]);
});

Deno.test("computePermissions: TLS to etcd reads the CA, client certificate and key files, nothing more", () => {
  const { config } = parseConfig(
    "[global]\nstate directory = /var/lib/kd\ncluster backend = etcd\ncluster node name = n1\n" +
      "cluster shared directory = /srv/meta\ncluster endpoints = https://10.0.0.9:2379\n" +
      "cluster tls ca file = /etc/ksmbd/ca.pem\ncluster tls cert file = /etc/ksmbd/n1.pem\n" +
      "cluster tls key file = /etc/ksmbd/n1.key\n",
    "/c.conf",
  );
  const p = computePermissions({
    config,
    configPath: "/c.conf",
    pwdDbPath: "/c.db",
    port: 445,
    realPath: fakeRealPath([
      "/c.conf",
      "/var",
      "/var/lib",
      "/etc/ksmbd/ca.pem",
      "/etc/ksmbd/n1.pem",
      "/etc/ksmbd/n1.key",
    ]),
  });
  const tls = p.grants.filter((g) => g.why.endsWith("(TLS to etcd)"));
  assertEquals(tls.map((g) => `${g.kind} ${g.value}`), [
    "read /etc/ksmbd/ca.pem",
    "read /etc/ksmbd/n1.pem",
    "read /etc/ksmbd/n1.key",
  ]);
  assert(p.net.includes("10.0.0.9:2379"), "the https endpoint's host:port");
  assert(!p.write.some((w) => w.startsWith("/etc/ksmbd")), "never written");
});
