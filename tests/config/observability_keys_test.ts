import { assertEquals, assertStringIncludes, assertThrows } from "../helpers/assert.ts";
import { parseConfig } from "../../core/config/parse.ts";
import { ConfigError } from "../../core/config/types.ts";
import { GLOBAL_KEYS } from "../../core/config/keys.ts";
import { validateValue } from "../../core/config/values.ts";
import {
  formatMetricsAddress,
  metricsAddressOf,
  parseLogFormat,
  parseLogLevel,
  parseMetricsAddress,
} from "../../core/config/observability_keys.ts";
import { decodeRequest } from "../../core/config/control_protocol.ts";

const SRC = "/etc/ksmbd/ksmbd.conf";

Deno.test("parseMetricsAddress: a bare port means loopback; IPv4:PORT, [IPv6]:PORT and localhost:PORT", () => {
  assertEquals(parseMetricsAddress("9445"), { hostname: "127.0.0.1", port: 9445 });
  assertEquals(parseMetricsAddress(" 0.0.0.0:9100 "), { hostname: "0.0.0.0", port: 9100 });
  assertEquals(parseMetricsAddress("[::1]:9445"), { hostname: "::1", port: 9445 });
  assertEquals(parseMetricsAddress("[fd00::5]:80"), { hostname: "fd00::5", port: 80 });
  assertEquals(parseMetricsAddress("localhost:9445"), { hostname: "127.0.0.1", port: 9445 });
  for (
    const bad of [
      "",
      "0",
      "65536",
      "abc",
      "1.2.3:9445",
      "256.1.1.1:80",
      "::1:9445",
      "[::1]",
      "[xyz]:80",
      "1.2.3.4:",
      "h.example:80",
      "[::1]:0",
    ]
  ) {
    assertEquals(parseMetricsAddress(bad), null, bad);
  }
  assertEquals(formatMetricsAddress({ hostname: "::1", port: 9 }), "[::1]:9");
  assertEquals(metricsAddressOf(""), null);
});

Deno.test("parseLogFormat and parseLogLevel accept their words in any case", () => {
  assertEquals(parseLogFormat("JSON"), "json");
  assertEquals(parseLogFormat("text"), "text");
  assertEquals(parseLogFormat("xml"), null);
  assertEquals(parseLogLevel("Debug"), "debug");
  assertEquals(parseLogLevel("warning"), "warn");
  assertEquals(parseLogLevel("trace"), null);
});

Deno.test("parseConfig: metrics address, log format and log level default to off, text and info", () => {
  const g = parseConfig("[global]\n", SRC).config.global;
  assertEquals([g.metricsAddress, g.logFormat, g.logLevel], ["", "text", "info"]);
  for (const k of ["metrics address", "log format", "log level"]) assertEquals(GLOBAL_KEYS.has(k), true, k);
});

Deno.test("parseConfig: metrics address is stored canonical; log format / level parsed", () => {
  const g = parseConfig(
    "[global]\nmetrics address = 9445\nlog format = JSON\nlog level = warn\n",
    SRC,
  ).config.global;
  assertEquals([g.metricsAddress, g.logFormat, g.logLevel], ["127.0.0.1:9445", "json", "warn"]);
  assertEquals(
    parseConfig("[global]\nmetrics address = [::1]:9100\n", SRC).config.global.metricsAddress,
    "[::1]:9100",
  );
});

Deno.test("parseConfig rejects bad metrics address, log format and log level naming file:line", () => {
  let e = assertThrows(() => parseConfig("[global]\n\nmetrics address = everywhere\n", SRC), ConfigError);
  assertStringIncludes(e.message, `${SRC}:3:`);
  assertStringIncludes(e.message, '"metrics address" must be PORT, IPv4:PORT or [IPv6]:PORT');
  e = assertThrows(() => parseConfig("[global]\nlog format = xml\n", SRC), ConfigError);
  assertStringIncludes(e.message, `${SRC}:2:`);
  assertStringIncludes(e.message, '"log format" must be text or json');
  e = assertThrows(() => parseConfig("[global]\nlog level = loud\n", SRC), ConfigError);
  assertStringIncludes(e.message, `${SRC}:2:`);
  assertStringIncludes(e.message, '"log level"');
});

Deno.test("validateValue checks the observability keys' values", () => {
  assertEquals(validateValue("metrics_address", "9445"), null);
  assertEquals(validateValue("metrics_address", ""), null);
  assertStringIncludes(validateValue("metrics_address", "x:y") ?? "", "is not PORT");
  assertEquals(validateValue("log_format", "json"), null);
  assertStringIncludes(validateValue("log_level", "loud") ?? "", "error/warn/info/debug");
});

Deno.test("decodeRequest: status takes no argument or json", () => {
  assertEquals(decodeRequest('{"cmd":"status","arg":"json"}'), { cmd: "status", arg: "json" });
  assertEquals(decodeRequest('{"cmd":"status"}'), { cmd: "status" });
  assertThrows(
    () => decodeRequest('{"cmd":"status","arg":"xml"}'),
    Error,
    '"status" takes no argument or "json"',
  );
});
