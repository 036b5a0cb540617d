/**
 * The server side of SESSION_SETUP authentication: SPNEGO (RFC 4178, MS-SPNG) around NTLMSSP
 * (MS-NLMP), or bare NTLMSSP. The SMB2 SESSION_SETUP handler feeds each SecurityBuffer to
 * {@link SpnegoAcceptor.step} and answers with its outToken and status.
 *
 * The password is never checked here: the AUTHENTICATE fields go to an injected verifier (the
 * accounts module in the rpc-wasm sandbox), which returns the ExportedSessionKey and the account.
 * This module then checks what only the session key can prove: the NTLM MIC over the three
 * messages and the SPNEGO mechListMIC over the mechanism list (downgrade protection).
 *
 * States are explicit; any message out of order, or any step after "done"/"failed", fails.
 */
import { Status, WireError } from "../wire/status.ts";
import {
  chooseChallengeFlags,
  decodeAuthenticate,
  decodeNegotiate,
  encodeChallenge,
  NtlmFlags,
  ntlmMessageType,
  NtlmSessionSecurity,
  NTLMSSP_AUTHENTICATE,
  NTLMSSP_NEGOTIATE,
  verifyMic,
} from "./ntlmssp.ts";
import {
  decodeSpnego,
  encodeNegTokenInit2,
  encodeNegTokenResp,
  isRawNtlmssp,
  NegState,
  OID_KRB5,
  OID_MS_KRB5,
  OID_NTLMSSP,
} from "./spnego.ts";

/** What the accounts module needs to verify an NTLM(v2) response. */
export interface NtlmVerifyInput {
  account: string;
  domain: string;
  workstation: string;
  serverChallenge: Uint8Array;
  ntResponse: Uint8Array;
  lmResponse: Uint8Array;
  encryptedRandomSessionKey: Uint8Array;
  negotiateFlags: number;
}

/** The accounts module's answer. */
export interface NtlmVerifyResult {
  ok: boolean;
  guest: boolean;
  anonymous: boolean;
  account: string;
  /** ExportedSessionKey, or empty (anonymous, some guest logons). */
  sessionKey: Uint8Array;
  uid: number;
  gid: number;
  userFlags: number;
  /** Kerberos: when the ticket ends (ms since the epoch); the session expires then (MS-SMB2 3.3.5.2.9). */
  expiresAtMs?: number;
}

/** The accounts module's answer to a Kerberos AP-REQ. */
export interface KerberosVerifyResult extends NtlmVerifyResult {
  /** The GSS AP-REP token for mutual authentication (empty when the client did not ask for it). */
  reply: Uint8Array;
  /** Why it was refused, for the log. */
  reason: string;
}

/** Checks a Kerberos GSS InitialContextToken (the SPNEGO mechToken). */
export type KerberosVerifier = (token: Uint8Array) => Promise<KerberosVerifyResult>;

export type NtlmVerifier = (input: NtlmVerifyInput) => Promise<NtlmVerifyResult>;

export interface StepResult {
  status: "more" | "done" | "failed";
  /** The SecurityBuffer of the SESSION_SETUP response (may be empty). */
  outToken: Uint8Array;
  /** Present when done (and when the verifier answered but a later check failed). */
  result?: NtlmVerifyResult;
  /** NTSTATUS for "failed": LOGON_FAILURE, or INVALID_PARAMETER for malformed input. */
  failStatus?: number;
  /** Why it failed, for the log (never sent to the client). */
  reason?: string;
}

export interface SpnegoAcceptorOptions {
  /** NetBIOS computer name (MsvAvNbComputerName). */
  netbiosName: string;
  /** NetBIOS domain / workgroup (TargetName, MsvAvNbDomainName). */
  domain: string;
  dnsDomain?: string;
  dnsName?: string;
  verify: NtlmVerifier;
  /** Present when `kerberos support = yes`: Kerberos is offered and accepted through it. */
  kerberos?: KerberosVerifier;
  /** Current time as a FILETIME (100 ns since 1601), for MsvAvTimestamp. */
  now?: () => bigint;
  /** Source of the 8-byte server challenge (tests pin it); defaults to crypto.getRandomValues. */
  challenge?: () => Uint8Array;
}

/**
 * The SecurityBuffer of the NEGOTIATE response: NegTokenInit2 (MS-SPNG 3.2.5.2) offering NTLMSSP, and
 * Kerberos first (both OIDs, in Windows' order) when it is enabled.
 */
export function initialNegotiateToken(kerberos = false): Uint8Array {
  return encodeNegTokenInit2(kerberos ? [OID_MS_KRB5, OID_KRB5, OID_NTLMSSP] : [OID_NTLMSSP]);
}

const FILETIME_UNIX_EPOCH = 116444736000000000n;
function filetimeNow(): bigint {
  return BigInt(Date.now()) * 10000n + FILETIME_UNIX_EPOCH;
}

type State =
  | "initial" // nothing received yet
  | "wait-negotiate" // SPNEGO chose NTLMSSP over the client's first choice; NTLM NEGOTIATE comes next
  | "wait-authenticate" // CHALLENGE sent
  | "done"
  | "failed";

const EMPTY = new Uint8Array(0);

/** One authentication exchange (one SESSION_SETUP sequence on one session). */
export class SpnegoAcceptor {
  private readonly opts: Required<Omit<SpnegoAcceptorOptions, "challenge" | "kerberos">> & {
    challenge?: () => Uint8Array;
    kerberos?: KerberosVerifier;
  };
  private state: State = "initial";
  /** null until the first token decides; then every later token must use the same framing. */
  private spnego: boolean | null = null;
  private mechTypesDer: Uint8Array = EMPTY;
  /** The client did not pick NTLMSSP first, so a mechListMIC exchange is mandatory (RFC 4178 5). */
  private micRequired = false;
  private negotiateMsg: Uint8Array = EMPTY;
  private challengeMsg: Uint8Array = EMPTY;
  private serverChallenge: Uint8Array = EMPTY;
  private challengeFlags = 0;
  private sentSupportedMech = false;

  constructor(opts: SpnegoAcceptorOptions) {
    this.opts = {
      ...opts,
      dnsDomain: opts.dnsDomain ?? opts.domain.toLowerCase(),
      dnsName: opts.dnsName ?? opts.netbiosName.toLowerCase(),
      now: opts.now ?? filetimeNow,
    };
  }

  /** True once the exchange succeeded. */
  get done(): boolean {
    return this.state === "done";
  }

  /** Feed one SESSION_SETUP security buffer. */
  async step(token: Uint8Array): Promise<StepResult> {
    if (this.state === "done" || this.state === "failed") {
      return this.fail(Status.INVALID_PARAMETER, "exchange already finished");
    }
    try {
      return await this.dispatch(token);
    } catch (e) {
      if (e instanceof WireError) return this.fail(e.status, e.message);
      throw e;
    }
  }

  private async dispatch(token: Uint8Array): Promise<StepResult> {
    if (this.state === "initial" && token.byteLength === 0) {
      // A client may start with an empty buffer to get the server's mechanism list.
      return { status: "more", outToken: initialNegotiateToken(this.opts.kerberos !== undefined) };
    }
    const raw = isRawNtlmssp(token);
    if (this.spnego === null) this.spnego = !raw;
    else if (this.spnego === raw) return this.fail(Status.INVALID_PARAMETER, "framing changed mid-exchange");

    if (raw) return await this.ntlm(token, undefined);

    const t = decodeSpnego(token);
    if (t.kind === "init") {
      if (this.state !== "initial") return this.fail(Status.INVALID_PARAMETER, "NegTokenInit out of order");
      const { mechTypes, mechTypesDer, mechToken } = t.init;
      const first = mechTypes[0];
      if (this.opts.kerberos && mechToken && (first === OID_KRB5 || first === OID_MS_KRB5)) {
        // The client's first choice with its optimistic token: no downgrade is possible, so no
        // mechListMIC is needed (RFC 4178 5).
        return await this.kerberos(this.opts.kerberos, mechToken, first);
      }
      if (!mechTypes.includes(OID_NTLMSSP)) return this.fail(Status.LOGON_FAILURE, "no common mechanism");
      this.mechTypesDer = mechTypesDer;
      if (mechTypes[0] !== OID_NTLMSSP || !mechToken) {
        // The optimistic token (if any) belongs to another mechanism: ignore it, name ours and ask
        // for a NEGOTIATE; the mechanism lists must then be MIC-protected (RFC 4178 5 b).
        this.micRequired = mechTypes[0] !== OID_NTLMSSP;
        this.state = "wait-negotiate";
        this.sentSupportedMech = true;
        const outToken = encodeNegTokenResp({
          negState: this.micRequired ? NegState.REQUEST_MIC : NegState.ACCEPT_INCOMPLETE,
          supportedMech: OID_NTLMSSP,
        });
        return { status: "more", outToken };
      }
      return await this.ntlm(mechToken, undefined);
    }
    // NegTokenResp: only valid after the first leg.
    if (this.state === "initial") {
      return this.fail(Status.INVALID_PARAMETER, "NegTokenResp before NegTokenInit");
    }
    const { resp } = t;
    if (resp.negState === NegState.REJECT) return this.fail(Status.LOGON_FAILURE, "client rejected");
    if (resp.supportedMech !== undefined && resp.supportedMech !== OID_NTLMSSP) {
      return this.fail(Status.INVALID_PARAMETER, "client switched mechanism");
    }
    if (!resp.responseToken) return this.fail(Status.INVALID_PARAMETER, "NegTokenResp without responseToken");
    return await this.ntlm(resp.responseToken, resp.mechListMIC);
  }

  /** Handles one NTLMSSP message (from SPNEGO or raw). */
  private async ntlm(msg: Uint8Array, clientMechListMic: Uint8Array | undefined): Promise<StepResult> {
    const type = ntlmMessageType(msg);
    if (type === NTLMSSP_NEGOTIATE) {
      if (this.state !== "initial" && this.state !== "wait-negotiate") {
        return this.fail(Status.INVALID_PARAMETER, "NEGOTIATE_MESSAGE out of order");
      }
      return this.challenge(msg);
    }
    if (type === NTLMSSP_AUTHENTICATE) {
      if (this.state !== "wait-authenticate") {
        return this.fail(Status.INVALID_PARAMETER, "AUTHENTICATE out of order");
      }
      return await this.authenticate(msg, clientMechListMic);
    }
    return this.fail(Status.INVALID_PARAMETER, `unexpected NTLMSSP message type ${type}`);
  }

  private challenge(msg: Uint8Array): StepResult {
    const neg = decodeNegotiate(msg);
    this.negotiateMsg = msg.slice();
    this.challengeFlags = chooseChallengeFlags(neg.flags);
    this.serverChallenge = this.opts.challenge
      ? this.opts.challenge()
      : crypto.getRandomValues(new Uint8Array(8));
    if (this.serverChallenge.byteLength !== 8) throw new RangeError("server challenge must be 8 bytes");
    this.challengeMsg = encodeChallenge({
      flags: this.challengeFlags,
      serverChallenge: this.serverChallenge,
      domain: this.opts.domain,
      netbiosName: this.opts.netbiosName,
      dnsDomain: this.opts.dnsDomain,
      dnsName: this.opts.dnsName,
      timestamp: this.opts.now(),
    });
    this.state = "wait-authenticate";
    const outToken = this.spnego
      ? encodeNegTokenResp({
        negState: NegState.ACCEPT_INCOMPLETE,
        // supportedMech goes in the first reply only (RFC 4178 4.2.2).
        supportedMech: this.sentSupportedMech ? undefined : OID_NTLMSSP,
        responseToken: this.challengeMsg,
      })
      : this.challengeMsg;
    this.sentSupportedMech = true;
    return { status: "more", outToken };
  }

  private async authenticate(
    msg: Uint8Array,
    clientMechListMic: Uint8Array | undefined,
  ): Promise<StepResult> {
    const auth = decodeAuthenticate(msg);
    // The client may drop options the server offered, never add them.
    const flags = (auth.flags & this.challengeFlags) >>> 0;
    if (auth.anonymous) {
      // Anonymous: nothing to verify cryptographically; the verifier decides whether it is allowed.
    } else if (auth.ntResponse.byteLength === 0) {
      return this.fail(Status.LOGON_FAILURE, "empty NT response for a named user");
    }
    let result: NtlmVerifyResult;
    try {
      result = await this.opts.verify({
        account: auth.user,
        domain: auth.domain,
        workstation: auth.workstation,
        serverChallenge: this.serverChallenge,
        ntResponse: auth.ntResponse,
        lmResponse: auth.lmResponse,
        encryptedRandomSessionKey: auth.encryptedRandomSessionKey,
        negotiateFlags: flags | (auth.flags & NtlmFlags.ANONYMOUS),
      });
    } catch {
      return this.fail(Status.LOGON_FAILURE, "verifier failed");
    }
    if (this.state !== "wait-authenticate") {
      // Re-check after the await: the exchange must not have moved on meanwhile.
      return this.fail(Status.INVALID_PARAMETER, "state changed during verification");
    }
    if (!result.ok) return this.fail(Status.LOGON_FAILURE, "bad credentials", result);
    if (auth.anonymous && !result.anonymous) {
      return this.fail(Status.LOGON_FAILURE, "anonymous mismatch", result);
    }

    const esk = result.sessionKey;
    const haveKey = esk.byteLength === 16;
    if (auth.mic && (haveKey || !result.guest)) {
      // A guest mapping without a key cannot check the client's MIC; everyone else must pass it.
      if (!haveKey) return this.fail(Status.LOGON_FAILURE, "MIC without a session key", result);
      if (!verifyMic(esk, this.negotiateMsg, this.challengeMsg, auth)) {
        return this.fail(Status.LOGON_FAILURE, "NTLM MIC mismatch", result);
      }
    }

    if (!this.spnego) {
      this.state = "done";
      return { status: "done", outToken: EMPTY, result };
    }

    // SPNEGO mechListMIC (RFC 4178 5, MS-SPNG 3.3.5.1). Anonymous and key-less guest sessions have
    // no key to sign with, so there is nothing to exchange.
    let serverMic: Uint8Array | undefined;
    const canMic = haveKey && !result.anonymous && (flags & NtlmFlags.EXTENDED_SESSIONSECURITY) !== 0;
    if (canMic) {
      const sec = new NtlmSessionSecurity(esk, flags, "server");
      if (clientMechListMic) {
        if (!sec.verify(this.mechTypesDer, clientMechListMic)) {
          return this.fail(Status.LOGON_FAILURE, "mechListMIC mismatch", result);
        }
      } else if (this.micRequired) {
        return this.fail(Status.LOGON_FAILURE, "mechListMIC required but missing", result);
      }
      if (clientMechListMic || this.micRequired) serverMic = sec.sign(this.mechTypesDer);
    } else if (this.micRequired && !result.anonymous && !result.guest) {
      return this.fail(Status.LOGON_FAILURE, "cannot protect the mechanism list", result);
    }

    this.state = "done";
    const outToken = encodeNegTokenResp({ negState: NegState.ACCEPT_COMPLETED, mechListMIC: serverMic });
    return { status: "done", outToken, result };
  }

  /** One-leg Kerberos (RFC 4121): the module checks the AP-REQ and builds the AP-REP. */
  private async kerberos(verify: KerberosVerifier, token: Uint8Array, mech: string): Promise<StepResult> {
    this.state = "wait-authenticate"; // busy: a concurrent token for this exchange is out of order
    let result: KerberosVerifyResult;
    try {
      result = await verify(token);
    } catch {
      return this.fail(Status.LOGON_FAILURE, "Kerberos verifier failed");
    }
    if (!result.ok) return this.fail(Status.LOGON_FAILURE, `Kerberos: ${result.reason}`, result);
    this.state = "done";
    const outToken = encodeNegTokenResp({
      negState: NegState.ACCEPT_COMPLETED,
      supportedMech: mech,
      responseToken: result.reply.byteLength > 0 ? result.reply : undefined,
    });
    return { status: "done", outToken, result };
  }

  private fail(status: number, reason: string, result?: NtlmVerifyResult): StepResult {
    this.state = "failed";
    const outToken = this.spnego ? encodeNegTokenResp({ negState: NegState.REJECT }) : EMPTY;
    return { status: "failed", outToken, failStatus: status, reason, result };
  }
}
