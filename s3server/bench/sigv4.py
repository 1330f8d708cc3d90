"""A minimal, independent AWS SigV4 presigner (query-string form, ``UNSIGNED-PAYLOAD``).

Independent of the gateway's verifier on purpose: the benchmark is a client and must work against
any S3 endpoint. Signing keys are cached per day, so a presign costs two HMACs and one SHA-256.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

_SAFE = "-_.~"


def uri_encode(text: str, *, keep_slash: bool) -> str:
    return quote(text, safe=_SAFE + ("/" if keep_slash else ""))


class Presigner:
    def __init__(self, access_key: str, secret_key: str, region: str = "us-east-1", host: str = "",
                 expires: int = 3600):
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.host = host
        self.expires = expires
        self._key_day = ""
        self._key = b""

    def _signing_key(self, day: str) -> bytes:
        if day != self._key_day:
            k = hmac.new(("AWS4" + self.secret_key).encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, "s3", "aws4_request"):
                k = hmac.new(k, part.encode(), hashlib.sha256).digest()
            self._key, self._key_day = k, day
        return self._key

    def presign(self, method: str, path: str, query: dict[str, str] | None = None, *,
                now: float | None = None) -> str:
        """Return ``path?query`` (already percent-encoded) for ``method`` on ``path`` (unencoded,
        starting with ``/``), signed for the ``host`` header only."""
        t = time.gmtime(now if now is not None else time.time())
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", t)
        day = amz_date[:8]
        scope = f"{day}/{self.region}/s3/aws4_request"
        params = dict(query or {})
        params.update({"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{self.access_key}/{scope}",
                       "X-Amz-Date": amz_date, "X-Amz-Expires": str(self.expires),
                       "X-Amz-SignedHeaders": "host"})
        qs = "&".join(f"{uri_encode(k, keep_slash=False)}={uri_encode(v, keep_slash=False)}"
                      for k, v in sorted(params.items()))
        enc_path = uri_encode(path, keep_slash=True)
        canonical = f"{method}\n{enc_path}\n{qs}\nhost:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        sig = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{enc_path}?{qs}&X-Amz-Signature={sig}"
