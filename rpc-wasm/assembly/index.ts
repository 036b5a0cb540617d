// rpc-wasm entry points. The worker glue (rpc-wasm/worker.ts) copies one request into the buffer
// returned by input_buffer(len), calls dispatch(len), and copies output_buffer()[0, result) back out.
// dispatch() answers with one envelope (core/ipc/messages.ts): handle, type = request type + 1 (or
// EV_ERROR_RESPONSE), payload_size, payload. A return value of 0 means "no reply" (fire-and-forget
// events). The module imports nothing: abort() is redirected to a trap (asconfig "use").

import { Reader, Writer } from "./lib/bytes";
import * as ev from "./events";
import { parseConfig } from "./accounts/config";
import { addFailure, clearFailures, current, install } from "./accounts/state";
import { handleLogin } from "./accounts/login";
import { handleShareConfig } from "./accounts/share_config";
import { handleTreeConnect, handleTreeDisconnect, handleTreeRestore } from "./accounts/tree_connect";
import { PwdDb } from "./accounts/pwd_db";
import {
  base64Decode,
  base64Encode,
  upperSimple,
  utf16le,
  utf16leDecode,
  utf8Decode,
  utf8Encode,
} from "./lib/text";
import { hmacMd5, md4, md5, rc4 } from "./lib/crypto";
import { Aes, aesCtsDecrypt, aesCtsEncrypt, aesDecryptBlock, aesEncryptBlock } from "./lib/aes";
import { hmacSha1, pbkdf2HmacSha1, sha1 } from "./lib/sha1";
import { aesStringToKey, deriveKey, krb5Decrypt, krb5Encrypt, nfold } from "./lib/krb5_crypto";
import { ntHash, ntowfv2 } from "./accounts/ntlmv2";
import { handleRpcEvent } from "./dcerpc/pipe";
import { handleSpnegoAuthen } from "./krb5/accept";

/** Largest request accepted (CONFIGURE carries the whole user DB). */
const MAX_INPUT: i32 = 64 * 1024 * 1024;

let input = new Uint8Array(0);
let output = new Uint8Array(0);

/** abort() replacement: no host import, just trap; the bridge replaces the instance. */
function module_abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  unreachable();
}

/** Returns a pointer to at least len writable bytes for the next request (0 when too large). */
export function input_buffer(len: i32): usize {
  if (len < 0 || len > MAX_INPUT) return 0;
  if (input.length < len) input = new Uint8Array(len);
  return input.dataStart;
}

export function output_buffer(): usize {
  return output.dataStart;
}

function envelope(handle: u32, type: u32, payload: Writer | null): i32 {
  const w = new Writer();
  const len = payload == null ? 0 : payload.len;
  w.u32(handle).u32(type).u32(<u32> len);
  if (payload != null) w.bytes(payload.buf.subarray(0, payload.len));
  output = w.finish();
  return output.length;
}

function refuse(handle: u32, code: u32): i32 {
  const w = new Writer();
  w.u32(code);
  return envelope(handle, ev.EV_ERROR_RESPONSE, w);
}

function configure(r: Reader): Writer | null {
  const c = parseConfig(r);
  if (c == null) return null;
  install(c);
  const pwd = c.pwd;
  const w = new Writer();
  w.u32(0).u32(<u32> pwd.count).u32(<u32> c.shares.length).u32(<u32> pwd.badLines);
  w.u16(<u32> pwd.badLineNumbers.length).u16(0);
  for (let i = 0; i < pwd.badLineNumbers.length; i++) w.u32(<u32> pwd.badLineNumbers[i]);
  const kt = c.kerberos.keytab;
  w.u32(kt.valid ? 1 : 0).u32(<u32> kt.entries.length);
  return w;
}

function heartbeat(): Writer {
  const w = new Writer();
  const c = current;
  w.u32(c != null ? 1 : 0);
  w.u32(c != null ? <u32> c.pwd.count : 0);
  w.u32(c != null ? <u32> c.shares.length : 0);
  return w;
}

function logout(r: Reader): bool {
  const flags = r.u32();
  const n = <i32> r.u16();
  r.u16();
  const account = r.utf8(n);
  if (!r.done()) return false;
  // ksmbd.mountd: a logout after a bad password counts towards DELAY_SESSION; a clean one resets.
  if ((flags & ev.USER_FLAG_BAD_PASSWORD) != 0) addFailure(account);
  else if ((flags & ev.USER_FLAG_OK) != 0 && (flags & ev.USER_FLAG_GUEST_ACCOUNT) == 0) {
    clearFailures(account);
  }
  return true;
}

/** Set by DEBUG op 5: the next RPC event traps (a module dying in the middle of an RPC call). */
let trapNextRpc = false;

/** Test hooks (DEBUG_REQUEST): op 1 traps, op 2 swallows the request (no reply), op 3 echoes,
 *  op 4 never returns (a hung module, for the heartbeat's benefit), op 5 arms a trap in the next RPC
 *  event and echoes. */
function debug(handle: u32, r: Reader): i32 {
  const op = r.u32();
  if (!r.done()) return refuse(handle, ev.ERR_MALFORMED);
  if (op == 1) unreachable();
  if (op == 2) return 0;
  if (op == 5) trapNextRpc = true;
  if (op == 4) {
    let spins: u64 = 0;
    while (spins != 0xffffffffffffffff) spins++; // ~forever; the bridge terminates the Worker
  }
  const w = new Writer();
  w.u32(op);
  return envelope(handle, ev.EV_DEBUG_REQUEST + 1, w);
}

/** Handles the request in input[0, len); returns the reply length in output (0 = no reply). */
export function dispatch(len: i32): i32 {
  if (len < ev.HEADER_SIZE || len > input.length) return 0;
  const hr = new Reader(input, 0, len);
  const handle = hr.u32();
  const type = hr.u32();
  const size = hr.u32();
  if (<u64> size != <u64> (len - ev.HEADER_SIZE)) return refuse(handle, ev.ERR_MALFORMED);
  const r = new Reader(input, ev.HEADER_SIZE, len);
  switch (type) {
    case ev.EV_HEARTBEAT_REQUEST:
      return envelope(handle, type + 1, heartbeat());
    case ev.EV_CONFIGURE_REQUEST: {
      const w = configure(r);
      return w == null ? refuse(handle, ev.ERR_MALFORMED) : envelope(handle, type + 1, w);
    }
    case ev.EV_DEBUG_REQUEST:
      return debug(handle, r);
    case ev.EV_TREE_DISCONNECT_REQUEST:
      handleTreeDisconnect(r);
      return 0;
    case ev.EV_TREE_RESTORE_REQUEST:
      handleTreeRestore(r, current);
      return 0;
    case ev.EV_LOGOUT_REQUEST:
      logout(r);
      return 0;
    case ev.EV_RPC_REQUEST: {
      // DCE/RPC pipes (dcerpc/pipe.ts); CLOSE has no reply.
      if (trapNextRpc) unreachable();
      const cfg = current;
      if (cfg == null) return refuse(handle, ev.ERR_NOT_CONFIGURED);
      const o = handleRpcEvent(r, cfg);
      if (o.malformed) return refuse(handle, ev.ERR_MALFORMED);
      const w = o.reply;
      return w == null ? 0 : envelope(handle, type + 1, w);
    }
    case ev.EV_SPNEGO_AUTHEN_REQUEST: {
      const cfg = current;
      if (cfg == null) return refuse(handle, ev.ERR_NOT_CONFIGURED);
      const w = handleSpnegoAuthen(r, cfg.kerberos, cfg);
      return w == null ? refuse(handle, ev.ERR_MALFORMED) : envelope(handle, type + 1, w);
    }
    default:
      break;
  }
  const c = current;
  if (
    type == ev.EV_LOGIN_REQUEST || type == ev.EV_SHARE_CONFIG_REQUEST || type == ev.EV_TREE_CONNECT_REQUEST
  ) {
    if (c == null) return refuse(handle, ev.ERR_NOT_CONFIGURED);
    let w: Writer | null = null;
    if (type == ev.EV_LOGIN_REQUEST) w = handleLogin(r, c);
    else if (type == ev.EV_SHARE_CONFIG_REQUEST) w = handleShareConfig(r, c);
    else w = handleTreeConnect(r, c);
    return w == null ? refuse(handle, ev.ERR_MALFORMED) : envelope(handle, type + 1, w);
  }
  return refuse(handle, ev.ERR_UNKNOWN_EVENT);
}

// ---------------------------------------------------------------------------------------------
// prim(): direct access to the primitives for the CLI's password hashing (op 10) and for tests.
// Input is input[0, len); output goes to output_buffer(); returns the output length or -1.

export const PRIM_MD4: i32 = 1;
export const PRIM_MD5: i32 = 2;
export const PRIM_HMAC_MD5: i32 = 3; // u32 key_len, key, data
export const PRIM_RC4: i32 = 4; // u32 key_len, key, data
export const PRIM_B64_ENCODE: i32 = 5;
export const PRIM_B64_DECODE: i32 = 6;
export const PRIM_UTF8_TO_UTF16LE: i32 = 7;
export const PRIM_UTF16LE_TO_UTF8: i32 = 8;
export const PRIM_UPPER: i32 = 9; // UTF-8 in, UTF-8 out
export const PRIM_NT_HASH_B64: i32 = 10; // UTF-8 password in, ASCII base64 out
export const PRIM_NTOWFV2: i32 = 11; // 16-byte NT hash, u16 user_len, user, u16 domain_len, domain
export const PRIM_PWD_DB: i32 = 12; // db bytes in; u32 users, u32 bad, u16 n, n*u32 lines, u16 k, k*str
// Kerberos crypto (lib/aes.ts, lib/sha1.ts, lib/krb5_crypto.ts). Any layout or size error answers -1.
export const PRIM_AES_ENCRYPT_BLOCK: i32 = 13; // u32 key_len (16/24/32), key, 16-byte block -> 16 bytes
export const PRIM_AES_DECRYPT_BLOCK: i32 = 14; // u32 key_len (16/24/32), key, 16-byte block -> 16 bytes
export const PRIM_AES_CTS_ENCRYPT: i32 = 15; // u32 key_len, key, data (>= 16 bytes); RFC 3962 CBC-CTS, IV 0
export const PRIM_AES_CTS_DECRYPT: i32 = 16; // u32 key_len, key, data (>= 16 bytes); RFC 3962 CBC-CTS, IV 0
export const PRIM_SHA1: i32 = 17; // data -> 20 bytes
export const PRIM_HMAC_SHA1: i32 = 18; // u32 key_len, key, data -> 20 bytes
export const PRIM_PBKDF2_HMAC_SHA1: i32 = 19; // u32 iterations (1..PRIM_MAX_ITERATIONS), u32 out_len
//   (1..PRIM_MAX_OUT), u32 password_len, password, salt -> out_len bytes
export const PRIM_NFOLD: i32 = 20; // u32 out_bytes (1..PRIM_MAX_OUT), input (1..PRIM_MAX_OUT bytes)
export const PRIM_KRB5_DERIVE_KEY: i32 = 21; // u32 etype (17/18), u32 key_len, key, constant (>= 1 byte)
export const PRIM_KRB5_STRING_TO_KEY: i32 = 22; // u32 etype (17/18), u32 iterations (1..PRIM_MAX_ITERATIONS),
//   u32 password_len, password, salt -> key
export const PRIM_KRB5_ENCRYPT: i32 = 23; // u32 etype, u32 usage, u32 key_len, key, u32 conf_len,
//   confounder (16 for AES, 8 for RC4), plaintext -> ciphertext
export const PRIM_KRB5_DECRYPT: i32 = 24; // u32 etype, u32 usage, u32 key_len, key, ciphertext -> plaintext

/** Bounds of the PBKDF2/NFOLD prim ops (tests only; keeps garbage input from running for minutes). */
const PRIM_MAX_ITERATIONS: u32 = 100000;
const PRIM_MAX_OUT: i32 = 1024;

function keyed(len: i32): Array<Uint8Array> | null {
  const r = new Reader(input, 0, len);
  const kl = <i32> r.u32();
  const key = r.bytes(kl);
  if (!r.ok) return null;
  const data = input.slice(r.pos, len);
  return [key, data];
}

/** The Kerberos crypto ops (13-24); null on any layout or size error. */
function primKrb5(op: i32, len: i32): Uint8Array | null {
  const r = new Reader(input, 0, len);
  if (op == PRIM_SHA1) return sha1(input.slice(0, len));
  if (op == PRIM_HMAC_SHA1) {
    const kd = keyed(len);
    return kd == null ? null : hmacSha1(kd[0], kd[1]);
  }
  if (op >= PRIM_AES_ENCRYPT_BLOCK && op <= PRIM_AES_CTS_DECRYPT) {
    const kd = keyed(len);
    if (kd == null) return null;
    if (op == PRIM_AES_ENCRYPT_BLOCK) return aesEncryptBlock(kd[0], kd[1]);
    if (op == PRIM_AES_DECRYPT_BLOCK) return aesDecryptBlock(kd[0], kd[1]);
    const aes = Aes.create(kd[0]);
    if (aes == null) return null;
    const iv = new Uint8Array(16);
    return op == PRIM_AES_CTS_ENCRYPT ? aesCtsEncrypt(aes, iv, kd[1]) : aesCtsDecrypt(aes, iv, kd[1]);
  }
  if (op == PRIM_PBKDF2_HMAC_SHA1 || op == PRIM_KRB5_STRING_TO_KEY) {
    const etype = op == PRIM_KRB5_STRING_TO_KEY ? <i32> r.u32() : 0;
    const iterations = r.u32();
    const outLen = op == PRIM_PBKDF2_HMAC_SHA1 ? r.u32() : 0;
    const password = r.bytes(<i32> r.u32());
    if (!r.ok || iterations == 0 || iterations > PRIM_MAX_ITERATIONS) return null;
    const salt = input.slice(r.pos, len);
    if (op == PRIM_KRB5_STRING_TO_KEY) return aesStringToKey(etype, password, salt, iterations);
    if (outLen == 0 || outLen > <u32> PRIM_MAX_OUT) return null;
    return pbkdf2HmacSha1(password, salt, iterations, <i32> outLen);
  }
  if (op == PRIM_NFOLD) {
    const outBytes = r.u32();
    if (!r.ok || outBytes == 0 || outBytes > <u32> PRIM_MAX_OUT) return null;
    if (len - r.pos > PRIM_MAX_OUT) return null;
    return nfold(input.slice(r.pos, len), <i32> outBytes);
  }
  if (op == PRIM_KRB5_DERIVE_KEY) {
    const etype = <i32> r.u32();
    const key = r.bytes(<i32> r.u32());
    if (!r.ok) return null;
    return deriveKey(etype, key, input.slice(r.pos, len));
  }
  if (op == PRIM_KRB5_ENCRYPT || op == PRIM_KRB5_DECRYPT) {
    const etype = <i32> r.u32();
    const usage = <i32> r.u32();
    const key = r.bytes(<i32> r.u32());
    const conf = op == PRIM_KRB5_ENCRYPT ? r.bytes(<i32> r.u32()) : new Uint8Array(0);
    if (!r.ok) return null;
    const data = input.slice(r.pos, len);
    return op == PRIM_KRB5_ENCRYPT
      ? krb5Encrypt(etype, key, usage, data, conf)
      : krb5Decrypt(etype, key, usage, data);
  }
  return null;
}

export function prim(op: i32, len: i32): i32 {
  if (len < 0 || len > input.length) return -1;
  const data = input.slice(0, len);
  let out: Uint8Array | null = null;
  if (op == PRIM_MD4) out = md4(data);
  else if (op == PRIM_MD5) out = md5(data);
  else if (op == PRIM_HMAC_MD5 || op == PRIM_RC4) {
    const kd = keyed(len);
    if (kd == null) return -1;
    out = op == PRIM_HMAC_MD5 ? hmacMd5(kd[0], kd[1]) : rc4(kd[0], kd[1]);
  } else if (op == PRIM_B64_ENCODE) out = utf8Encode(base64Encode(data));
  else if (op == PRIM_B64_DECODE) out = base64Decode(data, 0, len);
  else if (op == PRIM_UTF8_TO_UTF16LE) {
    const s = utf8Decode(data, 0, len);
    if (s != null) out = utf16le(s);
  } else if (op == PRIM_UTF16LE_TO_UTF8) {
    const s = utf16leDecode(data);
    if (s != null) out = utf8Encode(s);
  } else if (op == PRIM_UPPER) {
    const s = utf8Decode(data, 0, len);
    if (s != null) out = utf8Encode(upperSimple(s));
  } else if (op == PRIM_NT_HASH_B64) {
    const s = utf8Decode(data, 0, len);
    if (s != null) out = utf8Encode(base64Encode(ntHash(s)));
  } else if (op == PRIM_NTOWFV2) {
    const r = new Reader(input, 0, len);
    const h = r.bytes(16);
    const user = r.str();
    const domain = r.str();
    if (r.done()) out = ntowfv2(h, user, domain);
  } else if (op == PRIM_PWD_DB) {
    const db = PwdDb.parse(data);
    const w = new Writer();
    w.u32(<u32> db.count).u32(<u32> db.badLines).u16(<u32> db.badLineNumbers.length);
    for (let i = 0; i < db.badLineNumbers.length; i++) w.u32(<u32> db.badLineNumbers[i]);
    w.u16(<u32> db.names.length);
    for (let i = 0; i < db.names.length; i++) {
      const b = utf8Encode(db.names[i]);
      w.u16(<u32> b.length).bytes(b);
    }
    out = w.finish();
  } else if (op >= PRIM_AES_ENCRYPT_BLOCK && op <= PRIM_KRB5_DECRYPT) {
    out = primKrb5(op, len);
    // The library functions signal failure with an empty array where a result is never empty.
    if (out != null && out.length == 0 && op != PRIM_KRB5_ENCRYPT && op != PRIM_KRB5_DECRYPT) out = null;
  }
  if (out == null) return -1;
  output = out;
  return out.length;
}
