"""A corpus of secret forms (all fake, generated from a fixed seed) and the contexts they appear in.

Each entry is (form name, the text as it would appear, the secret part that must never be printed).
"""

from __future__ import annotations

import base64
import json
import random
import string

_R = random.Random(19)
_AN = string.ascii_letters + string.digits


def _s(n: int, chars: str = _AN) -> str:
    return "".join(_R.choice(chars) for _ in range(n))


def _mixed(n: int) -> str:
    """Random alphanumerics with at least two digits, an upper and a lower letter."""
    while True:
        t = _s(n)
        if sum(c.isdigit() for c in t) >= 2 and any(c.isupper() for c in t) and any(c.islower() for c in t):
            return t


def _hex(n: int) -> str:
    return _s(n, "0123456789abcdef")


def _b64url(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


_JWT = f"{_b64url({'alg': 'HS256', 'typ': 'JWT'})}.{_b64url({'sub': '1234567890', 'name': 'x'})}.{_mixed(43)}"
_PEM_BODY = "\n".join(_s(64, _AN + "+/") for _ in range(4))
_PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{_PEM_BODY}\n-----END RSA PRIVATE KEY-----"
_PEM8 = f"-----BEGIN PRIVATE KEY-----\n{_PEM_BODY}\n-----END PRIVATE KEY-----"
_AZ_KEY = _mixed(86) + "=="
_AWS_SECRET = _mixed(40)
_PW = _mixed(18)


def _corpus() -> list[tuple[str, str, str]]:
    c: list[tuple[str, str, str]] = []

    def add(name: str, text: str, secret: str | None = None) -> None:
        c.append((name, text, secret if secret is not None else text))

    ghp = "ghp_" + _mixed(36)
    add("github classic", ghp)
    add("github oauth", "gho_" + _mixed(36))
    add("github user-to-server", "ghu_" + _mixed(36))
    add("github server-to-server", "ghs_" + _mixed(36))
    add("github refresh", "ghr_" + _mixed(36))
    add("github fine-grained", "github_pat_" + _mixed(22) + "_" + _mixed(59))
    add("gitlab pat", "glpat-" + _mixed(20))
    add("gitlab deploy", "gldt-" + _mixed(20))
    add("gitlab runner", "glrt-" + _mixed(20))
    add("gitlab trigger", "glptt-" + _hex(40))
    add("slack bot", "xoxb-" + _s(11, string.digits) + "-" + _s(12, string.digits) + "-" + _mixed(24))
    add("slack user", "xoxp-" + _s(11, string.digits) + "-" + _s(12, string.digits) + "-" + _mixed(24))
    add("slack app", "xoxa-2-" + _mixed(30))
    add("slack refresh", "xoxe-1-" + _mixed(40))
    add("slack app-level", "xapp-1-" + _mixed(11) + "-" + _mixed(30))
    add("slack webhook", "https://hooks.slack.com/services/T" + _mixed(8) + "/B" + _mixed(8) + "/" + _mixed(24))
    c[-1] = ("slack webhook", c[-1][1], c[-1][1].rsplit("/", 1)[1])
    add("openai legacy", "sk-" + _mixed(48))
    add("openai project", "sk-proj-" + _mixed(64))
    add("openai svcacct", "sk-svcacct-" + _mixed(64))
    add("anthropic", "sk-ant-api03-" + _mixed(93) + "AA")
    add("anthropic admin", "sk-ant-admin01-" + _mixed(80))
    add("aws access key id", "AKIA" + _s(16, string.ascii_uppercase + "234567"))
    add("aws temp key id", "ASIA" + _s(16, string.ascii_uppercase + "234567"))
    add("aws secret (ini)", f"aws_secret_access_key = {_AWS_SECRET}", _AWS_SECRET)
    add("aws secret (env)", f"AWS_SECRET_ACCESS_KEY={_AWS_SECRET}", _AWS_SECRET)
    sess = _mixed(120)
    add("aws session token", f"aws_session_token={sess}", sess)
    add("hf token", "hf_" + _mixed(34))
    add("hf org token", "api_org_" + _mixed(34))
    add("google api key", "AIza" + _mixed(35))
    add("google oauth access", "ya29." + _mixed(60))
    add("stripe live", "sk_live_" + _mixed(24))
    add("stripe restricted", "rk_live_" + _mixed(24))
    add("npm", "npm_" + _mixed(36))
    add("pypi", "pypi-AgEIcHlwaS5vcmc" + _mixed(60))
    add("sendgrid", "SG." + _mixed(22) + "." + _mixed(43))
    add("digitalocean", "dop_v1_" + _hex(64))
    add("replicate", "r8_" + _mixed(37))
    add("nvidia api", "nvapi-" + _mixed(64))
    add("groq", "gsk_" + _mixed(52))
    add("databricks", "dapi" + _hex(32))
    add("jwt", _JWT)
    add("jwt in bearer header", f"Authorization: Bearer {_JWT}", _JWT)
    opaque = _mixed(32)
    add("bearer header opaque", f"Authorization: Bearer {opaque}", opaque)
    basic = base64.b64encode(f"alice:{_PW}".encode()).decode()
    add("basic header", f"Authorization: Basic {basic}", basic)
    tok = _mixed(30)
    add("token header", f"authorization: token {tok}", tok)
    add("pem rsa", _PEM, _PEM_BODY.splitlines()[1])
    add("pem pkcs8", _PEM8, _PEM_BODY.splitlines()[2])
    add("pem openssh", "-----BEGIN OPENSSH PRIVATE KEY-----\n" + _PEM_BODY + "\n-----END OPENSSH PRIVATE KEY-----",
        _PEM_BODY.splitlines()[3])
    add("pem truncated", "-----BEGIN EC PRIVATE KEY-----\n" + _PEM_BODY.splitlines()[0],
        _PEM_BODY.splitlines()[0])
    kid = _hex(40)
    gcp = json.dumps({"type": "service_account", "project_id": "demo", "private_key_id": kid,
                      "private_key": _PEM8 + "\n", "client_email": "x@demo.iam.gserviceaccount.com"})
    add("gcp service account key id", gcp, kid)
    add("gcp service account private key", gcp, _PEM_BODY.splitlines()[0])
    add("azure storage connection string",
        f"DefaultEndpointsProtocol=https;AccountName=demo;AccountKey={_AZ_KEY};EndpointSuffix=core.windows.net",
        _AZ_KEY)
    sak = _mixed(43) + "="
    add("azure service bus", f"Endpoint=sb://demo.servicebus.windows.net/;SharedAccessKeyName=Root;"
        f"SharedAccessKey={sak}", sak)
    sig = _mixed(43)
    add("azure sas url", f"https://demo.blob.core.windows.net/c/f?sv=2022-11-02&se=2030&sig={sig}%3D", sig)
    amz = _hex(64)
    add("s3 presigned", f"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Signature={amz}", amz)
    add("redis url", f"redis://:{_PW}@cache:6379/0", _PW)
    add("postgres url", f"postgres://app:{_PW}@db.internal:5432/app", _PW)
    add("mysql url", f"mysql+pymysql://root:{_PW}@db/x", _PW)
    add("mongodb srv", f"mongodb+srv://svc:{_PW}@cluster0.example.net/db", _PW)
    add("amqp url", f"amqp://guest:{_PW}@mq:5672/", _PW)
    add("pip index url", f"https://__token__:{_PW}@pypi.example.com/simple", _PW)
    gtok = _mixed(40)
    add("git+https token userinfo", f"pkg @ git+https://{gtok}@github.com/org/private.git", gtok)
    add("git+https x-access-token", f"git+https://x-access-token:{_PW}@github.com/o/r", _PW)
    add("git+https ghp in url", f"git+https://{ghp}@github.com/o/r.git@main", ghp)
    apik = _mixed(32)
    add("query api_key", f"https://api.example.com/v1?api_key={apik}", apik)
    add("query access_token", f"https://api.example.com/v1?access_token={apik}", apik)
    add("password=", f"password={_PW}", _PW)
    add("passwd:", f"db passwd: {_PW}", _PW)
    add("json secret", json.dumps({"client_secret": _PW}), _PW)
    add("yaml api key", f"openai_api_key: {apik}", apik)
    wandb = _hex(40)
    add("wandb key in netrc-like text", f"machine api.wandb.ai login user password {wandb}", wandb)
    add("high entropy under innocent name", f"MY_SETTING={_mixed(32)}")
    c[-1] = (c[-1][0], c[-1][1], c[-1][1].split("=", 1)[1])
    rand = _mixed(40)
    add("high entropy in error text", f"RuntimeError: request failed for {rand} at step 3", rand)
    add("cookie", f"Cookie: session={_mixed(32)}")
    c[-1] = (c[-1][0], c[-1][1], c[-1][1].split("=", 1)[1])
    return c


CORPUS: list[tuple[str, str, str]] = _corpus()

# Env values under names that do not look secret: redact_env must catch them by value.
ENV_VALUES: dict[str, str] = {
    "MY_SETTING": _mixed(32),
    "BUILD_ID_X": _hex(40),
    "DATABASE_URL": f"postgres://app:{_PW}@db:5432/app",
    "CACHE_URL": f"redis://:{_PW}@cache:6379/0",
    "PIP_EXTRA_INDEX_URL": f"https://user:{_PW}@pypi.example.com/simple",
    "HF_HOME_EXTRA": "hf_" + _mixed(34),
}
