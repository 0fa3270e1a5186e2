"""Secrets never leave the process: redaction by value shape, by context and by entropy.

Three rules, applied to every string a snapshot or a report can carry (env values under any name,
package requirements and direct URLs, install paths, pasted dumps, error texts) and once more to
every rendered output (defence in depth):

1. *Shape*: token formats with a fixed prefix or structure (JWT, PEM blocks, GitHub ``ghp_``/
   ``github_pat_``, GitLab ``glpat-``, Slack ``xox*-``, OpenAI/Anthropic ``sk-``, AWS ``AKIA``,
   Hugging Face ``hf_``, Google ``AIza``, Stripe, npm, PyPI ...).
2. *Context*: the value after a secret-looking name (``aws_secret_access_key = ...``,
   ``"private_key_id": "..."``, ``AccountKey=...;``), an ``Authorization:`` header, a URL's
   user-info (``redis://:pw@``, ``postgres://user:pw@``, ``git+https://TOKEN@``) and secret query
   parameters (``?sig=``, ``X-Amz-Signature=``).
3. *Entropy*: a long mixed-case alphanumeric run with high Shannon entropy, whatever its name.

detect-secrets was measured as an alternative (``python -X importtime -c "import
detect_secrets.core.scan"``: ~90 ms cumulative import, over the 20 ms start-up budget), so the rules
live here as compiled regexes (import < 1 ms).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
from collections import Counter
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
_SECRET_NAME = re.compile(
    r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|SESSION|SIGNATURE|PRIVATE|"
    r"(?:^|_)PWD$|(?:^|_)PASS$|CONN(?:ECTION)?_?STR|DSN$|WEBHOOK", re.I)

_SHAPES = [
    # PEM blocks (a truncated one is redacted to the end of the text).
    r"-----BEGIN[A-Z0-9 ]*-----(?:.*?-----END[A-Z0-9 ]*-----|.*)",
    # JWT / JWS / JWE: base64url JSON header starting '{"'.
    r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    r"\bgl(?:pat|dt|rt|ptt|cbt|soat|ft|imt|agent|oas|wt)-[A-Za-z0-9_-]{16,}",
    r"\bxox[abposrce]-[A-Za-z0-9-]{8,}",
    r"\bxapp-[0-9]-[A-Za-z0-9-]{8,}",
    r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+",
    r"discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]+",
    r"\bsk-(?:proj-|ant-(?:api|admin)\d*-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}",
    r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[0-9A-Z]{16}\b",
    r"\bhf_[A-Za-z0-9]{20,}",
    r"\bapi_org_[A-Za-z0-9]{20,}",
    r"\bAIza[0-9A-Za-z_-]{30,}",
    r"\bya29\.[0-9A-Za-z_-]{20,}",
    r"\b[rsp]k_(?:live|test)_[0-9A-Za-z]{16,}",
    r"\bwhsec_[0-9A-Za-z]{16,}",
    r"\bnpm_[A-Za-z0-9]{30,}",
    r"\bpypi-[A-Za-z0-9_-]{40,}",
    r"\bdop_v1_[a-f0-9]{40,}",
    r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
    r"\bsq0(?:atp|csp)-[0-9A-Za-z_-]{20,}",
    r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
    r"\b(?:r8_|nvapi-|gsk_|pplx-|csk-|xai-)[A-Za-z0-9_-]{20,}",
    r"\bAC[a-f0-9]{32}\b|\bSK[a-f0-9]{32}\b",
    r"\bdapi[a-f0-9]{32}\b",
    r"\bLTAI[A-Za-z0-9]{12,}",
    r"\bEAA[A-Za-z0-9]{30,}",
    r"\bkey-[a-f0-9]{32}\b",
]
_SHAPE = re.compile("|".join(f"(?:{s})" for s in _SHAPES), re.S)

# name = value / name: value / "name": "value" / Name=value; (Azure connection strings)
_CONTEXT = re.compile(
    r"(?P<name>\b[A-Za-z0-9_.-]{0,40}?(?:token|key|secret|passw(?:or)?d|pwd|passphrase|credential|auth|cookie|"
    r"session|signature|sig|private|accountkey|sharedaccess)[A-Za-z0-9_.-]{0,40})"
    r"(?P<sep>[\"']?\s*(?:=|:)\s*[\"']?)(?P<value>[^\s\"',;&<>{}()\[\]]{6,})", re.I)
_NOT_SECRET_VALUES = {"true", "false", "null", "none", "unset", "redacted", "<redacted>", "required",
                      "optional", "missing", "present", "enabled", "disabled", "default"}
_AUTH_HEADER = re.compile(r"(?P<head>\b(?:proxy-)?authorization\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest|"
                          r"negotiate|apikey|sso-key)\s+)?)(?P<value>[^\s\"',]{4,})", re.I)
_BEARER = re.compile(r"(?P<head>\b(?:bearer|basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]{12,})", re.I)
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@\"'<>]+)@")
_QUERY = re.compile(r"(?P<head>[?&;](?:[A-Za-z0-9_.-]{0,40}?(?:token|key|sig|signature|secret|password|pwd|auth|"
                    r"credential|session)[A-Za-z0-9_.-]{0,40})=)(?P<value>[^&\s\"'#<>]+)", re.I)
_NETRC = re.compile(r"(?P<head>\b(?:password|passwd)\s+)(?P<value>\S{6,})")
_CANDIDATE = re.compile(r"[A-Za-z0-9+_-]{16,}={0,2}")
_UUIDISH = re.compile(r"^(?:[A-Za-z]+-)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{32,}$")
_HARMLESS_USERS = {"git", "user", "root", "admin", "anonymous", "ubuntu", "oauth2", "x-access-token", "token",
                   "__token__", "ec2-user", "postgres", "redis", "default", "mongo", "guest"}


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def looks_random(token: str) -> bool:
    """A token with a 16+ character run (between ``-``/``_`` separators) that mixes upper, lower and
    digits with high entropy; words joined by dashes (model names, wheel tags) are not random."""
    if len(token) < 16 or _UUIDISH.match(token):
        return False
    return any(_random_segment(seg) for seg in re.split(r"[-_]", token))


def _random_segment(seg: str) -> bool:
    if len(seg) < 16:
        return False
    digits = sum(ch.isdigit() for ch in seg)
    if digits < 2 or not any(ch.isupper() for ch in seg) or not any(ch.islower() for ch in seg):
        return False
    return entropy(seg) >= (3.5 if len(seg) < 24 else 3.9)


def _sub_userinfo(m: re.Match[str]) -> str:
    info = m["userinfo"]
    user, colon, _pw = info.partition(":")
    if colon:
        return f"{m['scheme']}{_redact_user(user)}:{REDACTED}@"
    return f"{m['scheme']}{_redact_user(user)}@"


def _redact_user(user: str) -> str:
    if not user or user.lower() in _HARMLESS_USERS or (len(user) < 16 and not looks_random(user)):
        return user
    return REDACTED


def _sub_context(m: re.Match[str]) -> str:
    value = m["value"]
    if value.lower() in _NOT_SECRET_VALUES or value.startswith(REDACTED) or value.isdigit():
        return m[0]
    return f"{m['name']}{m['sep']}{REDACTED}"


def _sub_entropy(m: re.Match[str]) -> str:
    return REDACTED if looks_random(m[0]) else m[0]


# A superset of what any rule above can match: a text with none of these cannot hold a secret by any
# rule, and is returned after one search instead of eight substitutions (most of a snapshot's strings:
# requirement lines, paths, versions).  Every literal a rule needs is here, or a 16-character run.
_MAYBE = re.compile(
    r"token|key|secret|passw|pwd|passphrase|credential|auth|cookie|session|sig|private|sharedaccess|bearer|basic|"
    r"://[^/\s@\"'<>]+@|[A-Za-z0-9+_-]{16,}|-----BEGIN|eyJ|xox[abposrce]-|xapp-|hooks\.slack\.com|webhooks", re.I)


@functools.lru_cache(maxsize=16384)
def redact_value(value: str) -> str:
    """Remove every credential found in a text by shape, context or entropy."""
    if not value or len(value) < 6 or _MAYBE.search(value) is None:
        return value
    return _apply_rules(value)


def _apply_rules(value: str) -> str:
    value = _SHAPE.sub(REDACTED, value)
    value = _URL_USERINFO.sub(_sub_userinfo, value)
    value = _AUTH_HEADER.sub(lambda m: m["head"] + REDACTED, value)
    value = _BEARER.sub(lambda m: m["head"] + REDACTED if m["value"] != REDACTED else m[0], value)
    value = _QUERY.sub(lambda m: m["head"] + REDACTED, value)
    value = _CONTEXT.sub(_sub_context, value)
    value = _NETRC.sub(lambda m: m["head"] + REDACTED if not m["value"].startswith(REDACTED) else m[0], value)
    return _CANDIDATE.sub(_sub_entropy, value)


def redact_env(name: str, value: str) -> str:
    """An environment value: redacted whole under a secret-looking name, or when it is itself a
    random-looking token (a 32+ hex digest, a high-entropy string) under any name."""
    if is_secret_name(name):
        return REDACTED
    stripped = value.strip().strip("\"'")
    if _HEX.match(stripped) or (_CANDIDATE.fullmatch(stripped) and looks_random(stripped)):
        return REDACTED
    return redact_value(value)


def redact_data(obj: Any, key: str = "") -> Any:
    """Redact every string in JSON-like data; a value under an ``env`` mapping gets ``redact_env``."""
    if isinstance(obj, str):
        return redact_value(obj)
    if isinstance(obj, dict):
        if key == "env":
            return {k: redact_env(str(k), v) if isinstance(v, str) else redact_data(v, "") for k, v in obj.items()}
        return {redact_value(k) if isinstance(k, str) else k: redact_data(v, str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_data(v, key) for v in obj)
    return obj


def redact_snapshot(snapshot: Any) -> Any:
    """The snapshot with every string field redacted (the one boundary: probes' collect and the
    conversion of a loaded snapshot or pasted dump).  Walks the frozen tree itself (no JSON round
    trip) and rebuilds only what changed; a value under an ``env`` mapping gets ``redact_env``."""
    return _redact_tree(snapshot, "")


def _same(old: str, new: str) -> str:
    """``old`` itself when redaction changed nothing (the memo may hand back an equal copy)."""
    return old if new == old else new


_ATOMS = (bool, int, float)


def _redact_tree(obj: Any, key: str) -> Any:
    if isinstance(obj, str):
        return _same(obj, redact_value(obj))
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        from .snapshot import field_names

        changes = {}
        for name in field_names(type(obj)):
            value = getattr(obj, name)
            if value is None or value.__class__ in _ATOMS:
                continue  # nothing to redact (most fields of a snapshot: numbers, flags, unknowns)
            new = _redact_tree(value, name)
            if new is not value:
                changes[name] = new
        return dataclasses.replace(obj, **changes) if changes else obj
    if isinstance(obj, (tuple, list)):
        items = [_redact_tree(v, key) for v in obj]
        return obj if all(a is b for a, b in zip(items, obj)) else type(obj)(items)
    if isinstance(obj, Mapping):
        return _redact_mapping(obj, key)
    return obj


def _redact_mapping(obj: Mapping[Any, Any], key: str) -> Any:
    if key == "env":
        new = {k: _same(v, redact_env(str(k), v)) if isinstance(v, str) else _redact_tree(v, "") for k, v in obj.items()}
    else:
        new = {_redact_tree(k, "") if isinstance(k, str) else k: _redact_tree(v, str(k)) for k, v in obj.items()}
    if len(new) == len(obj) and all(k in obj and obj[k] is v for k, v in new.items()):
        return obj
    return types.MappingProxyType(new) if isinstance(obj, types.MappingProxyType) else new
