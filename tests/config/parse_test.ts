import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../helpers/assert.ts";
import { ConfigError } from "../../core/config/types.ts";
import { findShare, loadConfigFile, parseConfig, validateShareName } from "../../core/config/parse.ts";
import { parseBool, parseMask, parseProtocol, parseSize, parseTriState } from "../../core/config/values.ts";

const SRC = "/etc/ksmbd/ksmbd.conf";

function parse(text: string, opts = {}) {
  return parseConfig(text, SRC, opts);
}

function share(text: string, name: string) {
  const s = findShare(parse(text).config, name);
  assert(s, `share ${name} missing`);
  return s;
}

Deno.test("parseConfig with an empty file gives every global default and only IPC$", () => {
  const { config, warnings } = parse("");
  assertEquals(warnings, []);
  const g = config.global;
  assertEquals(g.bindInterfacesOnly, false);
  assertEquals(g.deadtime, 0);
  assertEquals(g.durableHandles, false);
  assertEquals(g.guestAccount, "nobody");
  assertEquals(g.interfaces, []);
  assertEquals(g.ipcTimeout, 0);
  assertEquals(g.kerberosKeytabFile, "");
  assertEquals(g.kerberosServiceName, "");
  assertEquals(g.kerberosSupport, false);
  assertEquals(g.mapToGuest, "never");
  assertEquals(g.maxActiveSessions, 1024);
  assertEquals(g.maxConnections, 256);
  assertEquals(g.maxIpConnections, 32);
  assertEquals(g.maxOpenFiles, 10000);
  assertEquals(g.netbiosName, "KSMBD SERVER");
  assertEquals(g.restrictAnonymous, 0);
  assertEquals(g.rootDirectory, "");
  assertEquals(g.serverMaxProtocol, "SMB3_11");
  assertEquals(g.serverMinProtocol, "SMB2_10");
  assertEquals(g.serverMultiChannelSupport, false);
  assertEquals(g.serverSigning, "auto");
  assertEquals(g.serverString, "SMB SERVER");
  assertEquals(g.fakeFscaps, 64);
  assertEquals(g.smb2Leases, true); // as current ksmbd-tools
  assertEquals(g.smb2MaxCredits, 8192);
  assertEquals(g.smb2MaxRead, 4 * 1024 * 1024);
  assertEquals(g.smb2MaxTrans, 1024 * 1024);
  assertEquals(g.smb2MaxWrite, 4 * 1024 * 1024);
  assertEquals(g.smb3Encryption, "auto");
  assertEquals(g.smbdMaxIoSize, 8 * 1024 * 1024);
  assertEquals(g.tcpPort, 445);
  assertEquals(g.workgroup, "WORKGROUP");
  assertEquals(g.stateDirectory, "/var/lib/ksmbd-deno");
  assertEquals(g.cryptoBackend, "webcrypto");
  assertEquals(config.shares.map((s) => s.name), ["IPC$"]);
  assertEquals(config.source, SRC);
});

Deno.test("parseConfig gives a share every share default and makes it read-only when unset", () => {
  const s = share("[data]\npath = /srv/data\n", "data");
  assertEquals(s, {
    name: "data",
    comment: "",
    path: "/srv/data",
    guestOk: false,
    guestAccount: "",
    readOnly: true,
    browseable: true,
    storeDosAttributes: true,
    oplocks: true,
    createMask: 0o744,
    directoryMask: 0o755,
    forceCreateMode: 0,
    forceDirectoryMode: 0,
    forceGroup: "",
    forceUser: "",
    hideDotFiles: true,
    validUsers: [],
    invalidUsers: [],
    readList: [],
    writeList: [],
    adminUsers: [],
    hostsAllow: [],
    hostsDeny: [],
    maxConnections: 128,
    vetoFiles: [],
    inheritOwner: false,
    followSymlinks: false,
    vfsObjects: [],
    crossmnt: true,
    continuousAvailability: false,
    smbEncrypt: "auto",
    timeMachine: false,
    timeMachineMaxSize: 0,
    isPipe: false,
  });
});

Deno.test("parseConfig auto-adds IPC$ as a pipe share with comment 'IPC share' and no path", () => {
  const { config } = parse("[data]\npath = /srv\n");
  assertEquals(config.shares.map((s) => s.name), ["data", "IPC$"]);
  const ipc = config.shares[1];
  assertEquals(ipc.isPipe, true);
  assertEquals(ipc.path, "");
  assertEquals(ipc.comment, "IPC share");
  assertEquals(ipc.guestOk, false);
});

Deno.test("parseConfig keeps an explicit [ipc$] section once, as a pipe without path", () => {
  const { config } = parse("[IPC$]\ncomment = pipes\npath = /ignored\n[a]\npath = /a\n");
  assertEquals(config.shares.map((s) => s.name), ["IPC$", "a"]);
  assertEquals(config.shares[0].isPipe, true);
  assertEquals(config.shares[0].path, "");
  assertEquals(config.shares[0].comment, "pipes");
});

Deno.test("parseConfig returns a deeply frozen config", () => {
  const { config } = parse("[a]\npath = /a\nvalid users = x\n");
  assert(Object.isFrozen(config));
  assert(Object.isFrozen(config.global));
  assert(Object.isFrozen(config.shares[0]));
  assert(Object.isFrozen(config.shares[0].validUsers));
});

Deno.test("parseConfig matches keys case-insensitively with internal whitespace collapsed", () => {
  const { config, warnings } = parse("[GLOBAL]\n  SERVER   String\t=  My Server  \n  WorkGroup=HOME\n");
  assertEquals(warnings, []);
  assertEquals(config.global.serverString, "My Server");
  assertEquals(config.global.workgroup, "HOME");
});

Deno.test("parseConfig skips ';' and '#' comment lines and cuts values at ';' or '#'", () => {
  const text = [
    "; a comment",
    "# another",
    "   ; indented comment",
    "[global]  ; trailing comment after a header",
    "\tworkgroup = HOME ; comment",
    "\tserver string = a#b",
    "[data] # comment",
    "\tpath = /srv/data",
    "\tread only = ; yes",
  ].join("\n");
  const { config } = parse(text);
  assertEquals(config.global.workgroup, "HOME");
  assertEquals(config.global.serverString, "a");
  // "read only = ; yes" is an empty value: not stored, so the share stays read-only by default.
  assertEquals(findShare(config, "data")!.readOnly, true);
});

Deno.test("parseConfig splits list values on commas, tabs and spaces and keeps @group entries", () => {
  const s = share("[d]\npath = /d\nvalid users = alice, bob\t carol,,@staff\nwrite list = @admins\n", "d");
  assertEquals(s.validUsers, ["alice", "bob", "carol", "@staff"]);
  assertEquals(s.writeList, ["@admins"]);
  const { config } = parse("[global]\ninterfaces = eth0, lo\n");
  assertEquals(config.global.interfaces, ["eth0", "lo"]);
});

Deno.test("parseConfig splits veto files on '/' and vfs objects as a list", () => {
  const s = share(
    "[d]\npath = /d\nveto files = /*.tmp/.DS_Store/a?c/\nvfs objects = acl_xattr streams_xattr\n",
    "d",
  );
  assertEquals(s.vetoFiles, ["*.tmp", ".DS_Store", "a?c"]);
  assertEquals(s.vfsObjects, ["acl_xattr", "streams_xattr"]);
});

Deno.test("parseConfig accepts K/M/G/T/P/E size suffixes in numbers", () => {
  const { config } = parse(
    "[global]\nsmb2 max read = 2M\nsmb2 max write = 512k\nsmb2 max trans = 1MB\nsmbd max io size = 1g\nsmb2 max credits = 1K\n",
  );
  assertEquals(config.global.smb2MaxRead, 2 * 1024 * 1024);
  assertEquals(config.global.smb2MaxWrite, 512 * 1024);
  assertEquals(config.global.smb2MaxTrans, 1024 * 1024);
  assertEquals(config.global.smbdMaxIoSize, 1024 ** 3);
  assertEquals(config.global.smb2MaxCredits, 1024);
});

Deno.test("parseSize handles every suffix and rejects garbage", () => {
  assertEquals(parseSize("7"), 7);
  assertEquals(parseSize("1K"), 1024);
  assertEquals(parseSize("1M"), 1024 ** 2);
  assertEquals(parseSize("1G"), 1024 ** 3);
  assertEquals(parseSize("1T"), 1024 ** 4);
  assertEquals(parseSize("1P"), 1024 ** 5);
  assertEquals(parseSize("0x10"), 16);
  assertEquals(parseSize("1E"), null); // 2^60 is beyond 2^53-1
  assertEquals(parseSize("abc"), null);
  assertEquals(parseSize("-1"), null);
  assertEquals(parseSize("1X"), null);
});

Deno.test("parseBool treats yes/1/true/enable as true and anything else as false", () => {
  for (const v of ["yes", "YES", "1", "true", "True", "enable"]) assertEquals(parseBool(v), true, v);
  for (const v of ["no", "0", "false", "disable", "on", "maybe", ""]) assertEquals(parseBool(v), false, v);
});

Deno.test("parseConfig warns about a non-boolean word and treats it as no", () => {
  const { config, warnings } = parse("[d]\npath = /d\nbrowseable = maybe\n");
  assertEquals(findShare(config, "d")!.browseable, false);
  assertEquals(warnings.length, 1);
  assertMatch(warnings[0], /^\/etc\/ksmbd\/ksmbd\.conf:3: .*not a boolean/);
});

Deno.test("parseTriState maps enabled/auto/mandatory and everything else to disabled", () => {
  assertEquals(parseTriState("enabled"), "enabled");
  assertEquals(parseTriState("AUTO"), "auto");
  assertEquals(parseTriState("mandatory"), "mandatory");
  assertEquals(parseTriState("disabled"), "disabled");
  assertEquals(parseTriState("yes"), "disabled");
  const { config, warnings } = parse("[global]\nserver signing = mandatory\nsmb3 encryption = yes\n");
  assertEquals(config.global.serverSigning, "mandatory");
  assertEquals(config.global.smb3Encryption, "disabled");
  assertEquals(warnings.length, 1);
  assertStringIncludes(warnings[0], ":3:");
});

Deno.test("parseConfig reads octal masks and rejects non-octal ones with file:line", () => {
  const s = share(
    "[d]\npath = /d\ncreate mask = 0600\ndirectory mask = 700\nforce create mode = 0644\nforce directory mode = 0755\n",
    "d",
  );
  assertEquals([s.createMask, s.directoryMask, s.forceCreateMode, s.forceDirectoryMode], [
    0o600,
    0o700,
    0o644,
    0o755,
  ]);
  assertEquals(parseMask("0789"), null);
  assertEquals(parseMask("17777"), null);
  const e = assertThrows(() => parse("[d]\npath = /d\ncreate mask = 0999\n"), ConfigError);
  assertStringIncludes(e.message, `${SRC}:3:`);
  assertStringIncludes(e.message, "create mask");
});

Deno.test("parseConfig rejects a bad number naming file:line and the key", () => {
  const e = assertThrows(() => parse("[global]\n\n tcp port = lots\n"), ConfigError);
  assertStringIncludes(e.message, `${SRC}:3:`);
  assertStringIncludes(e.message, "tcp port");
  assertThrows(() => parse("[global]\ntcp port = 70000\n"), ConfigError, `${SRC}:2:`);
});

Deno.test("parseConfig caps max connections / max open files and maps 0 to 65536", () => {
  const { config } = parse(
    "[global]\nmax connections = 0\nmax open files = 100000\n[d]\npath = /d\nmax connections = 0\n",
  );
  assertEquals(config.global.maxConnections, 65536);
  assertEquals(config.global.maxOpenFiles, 65536);
  assertEquals(findShare(config, "d")!.maxConnections, 65536);
});

Deno.test("parseConfig parses protocols, SMB2_22 wildcard, and rejects unknown names and min > max", () => {
  let g = parse("[global]\nserver min protocol = smb3_00\nserver max protocol = SMB3_02\n").config.global;
  assertEquals([g.serverMinProtocol, g.serverMaxProtocol], ["SMB3_00", "SMB3_02"]);
  g = parse("[global]\nserver min protocol = SMB2_22\n").config.global;
  assertEquals(g.serverMinProtocol, "SMB3_00");
  assertEquals(parseProtocol("SMB2_22", "max")?.name, "SMB2_10");
  const r = parse("[global]\nserver min protocol = NT1\n");
  assertEquals(r.config.global.serverMinProtocol, "SMB2_02");
  assertEquals(r.warnings.length, 1);
  assertThrows(() => parse("[global]\nserver max protocol = SMB9\n"), ConfigError, `${SRC}:2:`);
  assertThrows(
    () => parse("[global]\nserver min protocol = SMB3_11\nserver max protocol = SMB2_10\n"),
    ConfigError,
    "above server max protocol",
  );
});

Deno.test("parseConfig reads map to guest, restrict anonymous and other globals", () => {
  const { config, warnings } = parse(
    "[global]\nmap to guest = Bad  User\nrestrict anonymous = 2\nguest account = guest\nnetbios name = NAS\n" +
      "bind interfaces only = yes\ndurable handles = 1\nsmb2 leases = true\nserver multi channel support = enable\n" +
      "kerberos support = yes\ndeadtime = 15\nipc timeout = 10\nshare:fake_fscaps = 0\nmax ip connections = 8\n" +
      "max active sessions = 5\n",
  );
  assertEquals(warnings, []);
  const g = config.global;
  assertEquals(g.mapToGuest, "bad user");
  assertEquals(g.restrictAnonymous, 2);
  assertEquals(g.guestAccount, "guest");
  assertEquals(g.netbiosName, "NAS");
  assertEquals([
    g.bindInterfacesOnly,
    g.durableHandles,
    g.smb2Leases,
    g.serverMultiChannelSupport,
    g.kerberosSupport,
  ], [
    true,
    true,
    true,
    true,
    true,
  ]);
  assertEquals([g.deadtime, g.ipcTimeout, g.fakeFscaps, g.maxIpConnections, g.maxActiveSessions], [
    15,
    10,
    0,
    8,
    5,
  ]);
  const r = parse("[global]\nmap to guest = sometimes\nrestrict anonymous = 7\n");
  assertEquals(r.config.global.mapToGuest, "never");
  assertEquals(r.config.global.restrictAnonymous, 0);
  assertEquals(r.warnings.length, 2);
});

Deno.test("parseConfig makes share keys in [global] defaults for every share (IPC$ included)", () => {
  const { config } = parse(
    "[global]\nbrowseable = no\noplocks = no\nvalid users = alice\nmax connections = 7\nguest account = g\n" +
      "[a]\npath = /a\n[b]\npath = /b\nbrowseable = yes\n",
  );
  const a = findShare(config, "a")!;
  const b = findShare(config, "b")!;
  assertEquals([a.browseable, a.oplocks, a.validUsers], [false, false, ["alice"]]);
  assertEquals([b.browseable, b.oplocks], [true, false]);
  assertEquals(findShare(config, "ipc$")!.browseable, false);
  // guest account and max connections in [global] are global parameters.
  assertEquals(config.global.maxConnections, 7);
  assertEquals(config.global.guestAccount, "g");
  assertEquals(a.maxConnections, 128);
  assertEquals(a.guestAccount, "");
});

Deno.test("parseConfig applies read only > writable > writeable > write ok within a share", () => {
  const base = "[d]\npath = /d\n";
  assertEquals(share(base, "d").readOnly, true);
  assertEquals(share(base + "read only = no\n", "d").readOnly, false);
  assertEquals(share(base + "writable = yes\n", "d").readOnly, false);
  assertEquals(share(base + "writeable = yes\n", "d").readOnly, false);
  assertEquals(share(base + "write ok = yes\n", "d").readOnly, false);
  assertEquals(share(base + "write ok = no\n", "d").readOnly, true);
  assertEquals(share(base + "writeable = yes\nread only = yes\n", "d").readOnly, true);
  assertEquals(share(base + "write ok = yes\nwritable = no\n", "d").readOnly, true);
  assertEquals(share(base + "write ok = no\nwriteable = yes\n", "d").readOnly, false);
  assertEquals(share(base + "writeable = no\nwritable = yes\n", "d").readOnly, false);
});

Deno.test("parseConfig uses [global]'s write permission only when the share sets none", () => {
  const g = "[global]\nread only = no\n";
  assertEquals(share(g + "[d]\npath = /d\n", "d").readOnly, false);
  assertEquals(share(g + "[d]\npath = /d\nwriteable = no\n", "d").readOnly, true);
});

Deno.test("parseConfig prepends root directory to share paths (and honours the override)", () => {
  const text = "[global]\nroot directory = /srv/root/\n[a]\npath = /data\n[b]\npath = rel/dir\n";
  const { config } = parse(text);
  assertEquals(findShare(config, "a")!.path, "/srv/root/data");
  assertEquals(findShare(config, "b")!.path, "/srv/root/rel/dir");
  assertEquals(config.global.rootDirectory, "/srv/root/");
  const o = parse(text, { rootDirectoryOverride: "/chroot" }).config;
  assertEquals(findShare(o, "a")!.path, "/chroot/data");
  assertEquals(findShare(o, "ipc$")!.path, "");
});

Deno.test("parseConfig rejects a relative share path without root directory", () => {
  assertThrows(() => parse("[a]\npath = data\n"), ConfigError, `${SRC}:2:`);
});

Deno.test("parseConfig merges a repeated section (case-insensitive) into the first", () => {
  const { config } = parse("[Data]\npath = /d\n[global]\nworkgroup = W\n[DATA]\ncomment = second\n");
  assertEquals(config.shares.map((s) => s.name), ["Data", "IPC$"]);
  assertEquals(config.shares[0].comment, "second");
  assertEquals(config.global.workgroup, "W");
});

Deno.test("parseConfig keeps the first non-empty value of a duplicate key and warns", () => {
  const { config, warnings } = parse("[global]\nworkgroup =\nworkgroup = FIRST\nworkgroup = SECOND\n");
  assertEquals(config.global.workgroup, "FIRST");
  assertEquals(warnings.length, 1);
  assertStringIncludes(warnings[0], `${SRC}:4:`);
});

Deno.test("parseConfig warns about unknown keys with file:line and ignores them", () => {
  const { config, warnings } = parse(
    "[global]\nworkgroup = W\nfoo bar = 1\n[d]\npath = /d\nworkgroup = X\nbogus = 2\n",
  );
  assertEquals(config.global.workgroup, "W");
  assertEquals(warnings, [
    `${SRC}:3: unknown parameter "foo bar" in [global] ignored`,
    `${SRC}:6: global parameter "workgroup" in share [d] ignored`,
    `${SRC}:7: unknown parameter "bogus" in [d] ignored`,
  ]);
});

Deno.test("parseConfig rejects a line without '=' naming file:line", () => {
  const e = assertThrows(() => parse("[global]\nworkgroup = W\nthis is junk\n"), ConfigError);
  assertStringIncludes(e.message, `${SRC}:3:`);
});

Deno.test("parseConfig rejects an unterminated section header naming file:line", () => {
  assertThrows(
    () => parse("[global]\n[data\npath = /d\n"),
    ConfigError,
    `${SRC}:2: unterminated section header`,
  );
  assertThrows(() => parse("[data] junk\n"), ConfigError, `${SRC}:1:`);
  assertThrows(() => parse("[]\n"), ConfigError, `${SRC}:1: empty section name`);
});

Deno.test("parseConfig rejects key = value before any section and an empty key", () => {
  assertThrows(() => parse("workgroup = W\n"), ConfigError, `${SRC}:1:`);
  assertThrows(() => parse("[global]\n = W\n"), ConfigError, `${SRC}:2:`);
});

Deno.test("parseConfig rejects a share without a path, naming the share", () => {
  const e = assertThrows(() => parse("[global]\n\n[photos]\ncomment = x\n"), ConfigError);
  assertStringIncludes(e.message, "[photos]");
  assertStringIncludes(e.message, `${SRC}:3:`);
});

Deno.test("parseConfig rejects share names over 63 bytes and accepts 63", () => {
  assertThrows(() => parse(`[${"x".repeat(64)}]\npath = /x\n`), ConfigError, `${SRC}:1:`);
  assertEquals(parse(`[${"x".repeat(63)}]\npath = /x\n`).config.shares.length, 2);
  assertEquals(validateShareName("é".repeat(32)) !== null, true); // 64 bytes
  assertEquals(validateShareName("é".repeat(31)), null);
});

Deno.test("parseConfig handles CRLF line endings and a BOM", () => {
  const { config } = parse("\ufeff[global]\r\nworkgroup = W\r\n[d]\r\npath = /d\r\n");
  assertEquals(config.global.workgroup, "W");
  assertEquals(findShare(config, "d")!.path, "/d");
});

Deno.test("parseConfig reads ksmbd-deno keys: state directory, crypto backend, smb encrypt", () => {
  const { config } = parse(
    "[global]\nstate directory = /run/kd\ncrypto backend = OpenSSL\n[d]\npath = /d\nsmb encrypt = required\n",
  );
  assertEquals(config.global.stateDirectory, "/run/kd");
  assertEquals(config.global.cryptoBackend, "openssl");
  assertEquals(findShare(config, "d")!.smbEncrypt, "mandatory");
  assertThrows(() => parse("[global]\ncrypto backend = rot13\n"), ConfigError, `${SRC}:2:`);
  assertThrows(() => parse("[d]\npath = /d\nsmb encrypt = perhaps\n"), ConfigError, `${SRC}:3:`);
});

Deno.test("parseConfig resolves a relative state directory against the config folder and honours the override", () => {
  assertEquals(parse("[global]\nstate directory = state\n").config.global.stateDirectory, "/etc/ksmbd/state");
  assertEquals(
    parse("[global]\nstate directory = /x\n", { stateDirectoryOverride: "/y/" }).config.global.stateDirectory,
    "/y",
  );
});

Deno.test("parseConfig accepts the browsable alias of browseable", () => {
  const { config, warnings } = parse("[d]\npath = /d\nbrowsable = no\n");
  assertEquals(warnings, []);
  assertEquals(findShare(config, "d")!.browseable, false);
});

Deno.test("loadConfigFile reads a file and names a missing one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const p = `${dir}/ksmbd.conf`;
    await Deno.writeTextFile(p, "[d]\npath = /d\nfoo = 1\n");
    const { config, warnings } = await loadConfigFile(p);
    assertEquals(config.source, p);
    assertEquals(warnings, [`${p}:3: unknown parameter "foo" in [d] ignored`]);
    await assertRejects(() => loadConfigFile(`${dir}/missing.conf`), ConfigError, `${dir}/missing.conf`);
    await assertRejects(() => loadConfigFile(dir), ConfigError, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
