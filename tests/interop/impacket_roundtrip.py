#!/usr/bin/python3
"""Round trip through impacket's SMBConnection against an SMB server on a loopback port.

usage: impacket_roundtrip.py HOST PORT SHARE USER PASSWORD [SEED_NAME]

Logs in (NTLMv2), lists the share, creates a directory, writes a file from a buffer, reads it back,
renames and deletes it, and leaves one file ("impacket-kept.bin") for the caller to check on disk.
Prints one JSON object on stdout: {"steps": [{"name", "ok", "error"?, ...}], "kept": {...}}.
Every step runs even if an earlier one failed (each reports its own outcome).
"""

import hashlib
import io
import json
import os
import sys
import traceback

from impacket import ntlm
from impacket.smbconnection import SMBConnection

DIALECT_NAMES = {
    0x0202: "SMB2_02",
    0x0210: "SMB2_10",
    0x0300: "SMB3_00",
    0x0302: "SMB3_02",
    0x0311: "SMB3_11",
}


def main() -> int:
    host, port, share, user, password = sys.argv[1:6]
    seed_name = sys.argv[6] if len(sys.argv) > 6 else "seed.txt"
    steps = []
    state = {}

    def step(name, fn):
        entry = {"name": name}
        try:
            extra = fn()
            entry["ok"] = True
            if extra:
                entry.update(extra)
        except Exception as e:  # report and go on
            entry["ok"] = False
            entry["error"] = "%s: %s" % (type(e).__name__, e)
            entry["trace"] = traceback.format_exc(limit=4)
        steps.append(entry)
        return entry["ok"]

    payload = os.urandom(1024 * 1024 + 77)
    kept = os.urandom(4096 + 3)

    ntlm.USE_NTLMv2 = True

    def connect():
        state["conn"] = SMBConnection(host, host, sess_port=int(port), timeout=30)
        d = state["conn"].getDialect()
        return {"dialect": DIALECT_NAMES.get(d, hex(d) if isinstance(d, int) else str(d))}

    def login():
        state["conn"].login(user, password)
        return {"guest": bool(state["conn"].isGuestSession())}

    def list_root():
        entries = state["conn"].listPath(share, "*")
        listing = [
            {"name": e.get_longname(), "size": e.get_filesize(), "dir": bool(e.is_directory())}
            for e in entries
        ]
        return {"entries": sorted(listing, key=lambda x: x["name"])}

    def mkdir():
        state["conn"].createDirectory(share, "impdir")

    def put():
        state["conn"].putFile(share, "impdir\\upload.bin", io.BytesIO(payload).read)
        return {"sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}

    def get():
        buf = io.BytesIO()
        state["conn"].getFile(share, "impdir\\upload.bin", buf.write)
        data = buf.getvalue()
        return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "identical": data == payload}

    def rename():
        state["conn"].rename(share, "impdir\\upload.bin", "impdir\\renamed.bin")
        names = sorted(e.get_longname() for e in state["conn"].listPath(share, "impdir\\*"))
        return {"listing": names}

    def read_renamed():
        buf = io.BytesIO()
        state["conn"].getFile(share, "impdir\\renamed.bin", buf.write)
        return {"identical": buf.getvalue() == payload}

    def delete():
        state["conn"].deleteFile(share, "impdir\\renamed.bin")
        names = sorted(e.get_longname() for e in state["conn"].listPath(share, "impdir\\*"))
        return {"listing": names}

    def rmdir():
        state["conn"].deleteDirectory(share, "impdir")

    def put_kept():
        state["conn"].putFile(share, "impacket-kept.bin", io.BytesIO(kept).read)
        return {"sha256": hashlib.sha256(kept).hexdigest(), "size": len(kept)}

    def read_seed():
        buf = io.BytesIO()
        state["conn"].getFile(share, seed_name, buf.write)
        return {"text": buf.getvalue().decode("utf-8", "replace")}

    def logoff():
        state["conn"].logoff()

    if step("connect", connect) and step("login", login):
        step("listPath", list_root)
        step("read seed file", read_seed)
        step("createDirectory", mkdir)
        step("putFile", put)
        step("getFile", get)
        step("rename", rename)
        step("getFile after rename", read_renamed)
        step("deleteFile", delete)
        step("deleteDirectory", rmdir)
        step("putFile kept", put_kept)
        step("logoff", logoff)
    conn = state.get("conn")
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass
    print(json.dumps({"steps": steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
