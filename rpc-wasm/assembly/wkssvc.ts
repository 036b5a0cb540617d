// wkssvc (MS-WKST): NetrWkstaGetInfo (opnum 0), levels 100, 101, 102 (MS-WKST 3.2.4.1,
// WKSTA_INFO_100/101/102 in 2.2.5.1-2.2.5.3).

import { CallCtx } from "./dcerpc/call";
import { NCA_OP_RNG_ERROR } from "./dcerpc/pdu";
import { FAULT_NDR } from "./ndr/ndr";
import { sessions } from "./accounts/state";
import { upperSimple } from "./lib/text";
import { PLATFORM_ID_NT, VERSION_MAJOR, VERSION_MINOR, WERR_INVALID_LEVEL, WERR_OK } from "./srvsvc";

function wkstaGetInfo(c: CallCtx): u32 {
  const r = c.inp;
  if (r.ptr() != 0) r.wstr(); // ServerName
  const level = r.u32();
  if (!r.ok) return FAULT_NDR;
  const w = c.out;
  const g = c.cfg.global;
  w.u32(level);
  if (level != 100 && level != 101 && level != 102) {
    w.ptr(false);
    w.u32(WERR_INVALID_LEVEL);
    return 0;
  }
  w.ptr(true);
  w.u32(PLATFORM_ID_NT);
  w.ptr(true); // wki10x_computername
  w.ptr(true); // wki10x_langroup
  w.u32(VERSION_MAJOR).u32(VERSION_MINOR);
  if (level >= 101) w.ptr(true); // wki10x_lanroot
  if (level == 102) w.u32(<u32> sessions.size); // wki102_logged_on_users: sessions with a tree
  w.wstr(upperSimple(g.netbiosName));
  w.wstr(upperSimple(g.workgroup));
  if (level >= 101) w.wstr("");
  w.u32(WERR_OK);
  return 0;
}

export function wkssvcCall(opnum: u32, c: CallCtx): u32 {
  if (opnum == 0) return wkstaGetInfo(c);
  return NCA_OP_RNG_ERROR;
}
