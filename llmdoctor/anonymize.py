"""``--anonymize``: replace host names, user names in paths and GPU UUIDs in any output text.

Pure: the replacements are learnt from the snapshot (its host name, the user names in its paths, its
GPU UUIDs) plus generic path and UUID shapes, then applied to the rendered text, so every format
(plain, markdown, JSON) is covered the same way.  Secrets are redacted independently (llmdoctor.redact).
"""

from __future__ import annotations

import re
from typing import Any, Callable

_USER_PATH = re.compile(r"(?P<pre>/home/|/Users/|[A-Za-z]:(?:\\\\|\\)Users(?:\\\\|\\))(?P<user>[^/\\\s\"':;,]+)")
_UUID = re.compile(r"\b(?P<kind>GPU|MIG)-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b")
_PROMPT = re.compile(r"\b(?P<user>[A-Za-z_][\w.-]*)@(?P<host>[A-Za-z0-9][\w.-]*):(?=[~/])")
MIN_HOST_LENGTH = 2
_KEEP_USERS = {"user", "runner", "root", "ubuntu", "shared", "public"}


def anonymizer(snapshot_json: str, hostnames: tuple[str, ...] = ()) -> Callable[[str], str]:
    """A function that anonymises texts, given the snapshot (as JSON text) they describe."""
    users = sorted({m["user"] for m in _USER_PATH.finditer(snapshot_json)} - _KEEP_USERS, key=len, reverse=True)
    uuids: dict[str, str] = {}
    for m in _UUID.finditer(snapshot_json):
        uuids.setdefault(m.group(0).lower(), f"{m['kind']}-uuid-{len(uuids)}")
    # a host name of two characters ("g1") is replaced too, as a whole token; one character is too little
    # to tell a name from the text around it
    hosts = [h for h in hostnames if h and len(h) >= MIN_HOST_LENGTH and h.lower() not in ("localhost",)]

    def apply(text: str) -> str:
        def path_user(m: re.Match[str]) -> str:
            return m["pre"] + ("user" if m["user"] not in _KEEP_USERS else m["user"])

        text = _USER_PATH.sub(path_user, text)
        text = _PROMPT.sub("user@host:", text)  # shell prompts: alice@gpu-box:~$
        for user in users:  # the same names elsewhere (e.g. a conda env prefix printed without /home)
            text = re.sub(rf"(?<![\w.-]){re.escape(user)}(?![\w-])", "user", text)

        def uuid(m: re.Match[str]) -> str:
            key = m.group(0).lower()
            if key not in uuids:
                uuids[key] = f"{m['kind']}-uuid-{len(uuids)}"
            return uuids[key]

        text = _UUID.sub(uuid, text)
        for host in sorted(hosts, key=len, reverse=True):
            text = re.sub(rf"(?<![\w-]){re.escape(host)}(?![\w-])", "host", text)
        return text

    return apply


def anonymize_for(snap: Any) -> Callable[[str], str]:
    hostnames = (snap.host.hostname,) if snap.host is not None and snap.host.hostname else ()
    short = tuple(h.split(".")[0] for h in hostnames if "." in h)
    return anonymizer(snap.to_json(indent=None), hostnames + short)
