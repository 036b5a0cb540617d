/**
 * Kerberos settings for the accounts module: ksmbd's `kerberos support`, `kerberos service name` and
 * `kerberos keytab file`. The keytab holds long-term service keys, so the core only reads the file
 * and hands its bytes to the rpc-wasm module (CONFIGURE), which alone parses it and decrypts tickets.
 */
import type { GlobalConfig } from "../config/types.ts";

/** ksmbd (through krb5) uses the library default keytab when the key is empty. */
export const DEFAULT_KEYTAB = "/etc/krb5.keytab";

/** The keytab file the configuration names (a `FILE:` prefix, as krb5 spells it, is accepted). */
export function keytabPath(g: GlobalConfig): string {
  const v = g.kerberosKeytabFile.trim();
  if (v === "") return DEFAULT_KEYTAB;
  return v.startsWith("FILE:") ? v.slice(5) : v;
}

export interface KerberosInput {
  enabled: boolean;
  serviceName: string;
  keytab: Uint8Array;
}

/**
 * Reads the keytab when Kerberos is on. Throws an Error naming the option and the file when it cannot
 * be read (the server must not start advertising Kerberos it cannot accept).
 */
export function loadKerberos(g: GlobalConfig): KerberosInput {
  if (!g.kerberosSupport) return { enabled: false, serviceName: "", keytab: new Uint8Array(0) };
  const path = keytabPath(g);
  let keytab: Uint8Array;
  try {
    keytab = Deno.readFileSync(path);
  } catch (e) {
    throw new Error(`kerberos keytab file ${path} (kerberos support = yes): ${(e as Error).message}`);
  }
  return { enabled: true, serviceName: g.kerberosServiceName.trim(), keytab };
}
