"""Who is calling: SigV4/SigV2 for the S3 API, Bearer API keys for the REST API."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from s3server.auth import postpolicy, sigv4
from s3server.auth.ratelimit import RateLimiter
from s3server.errors import S3Error
from s3server.models import ANONYMOUS, User
from s3server.service.identity import IdentityService, hash_api_key


class Authenticator:
    """Checks credentials on every request, then applies the per-key rate limit. The
    lookups are cached by the metadata store only while its change feed reports no change
    (meta/changes.py), so a disabled user or a revoked key still stops working at once."""

    def __init__(self, identity: IdentityService, *, clock: Callable[[], datetime], region: str,
                 limiter: RateLimiter | None = None):
        self.identity = identity
        self.clock = clock
        self.region = region
        self.limiter = limiter or RateLimiter(None)

    def _secret_lookup(self) -> tuple[dict[str, User], Callable[[str], str | None]]:
        """A secret lookup for a verifier; ``users`` gets the user of each key it finds."""
        users: dict[str, User] = {}

        def secret_for(access_key: str) -> str | None:
            found = self.identity.secret_for(access_key)
            if found is None:
                return None
            users[access_key] = found[1]
            return found[0]
        return users, secret_for

    def s3(self, signed: sigv4.SignedRequest, *, vhost_bucket: str | None = None) -> tuple[User, sigv4.AuthResult]:
        """Verify a SigV4/SigV2 request. An unsigned one is ``(ANONYMOUS, None)``: the router
        serves it only where a bucket policy lets everyone in (``api/s3/resources.py``)."""
        users, secret_for = self._secret_lookup()
        result = sigv4.authenticate(signed, secret_for, self.clock(), region=None,
                                    vhost_bucket=vhost_bucket)
        if result is None:
            return ANONYMOUS, None
        self.limiter.check("key", result.access_key)
        return users[result.access_key], result

    def post_form(self, fields: dict[str, str], bucket: str) -> tuple[User, postpolicy.PostAuth]:
        """A browser upload (PostObject): the user whose key signed the form's policy, once the
        policy allows the form (auth/postpolicy.py)."""
        users, secret_for = self._secret_lookup()
        result = postpolicy.verify(fields, bucket, secret_for, self.clock())
        self.limiter.check("key", result.access_key)
        return users[result.access_key], result

    def bearer(self, authorization: str | None) -> User:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise S3Error("InvalidAccessKeyId", "Missing API key: send 'Authorization: Bearer <api key>'.")
        api_key = authorization[7:].strip()
        user = self.identity.user_for_api_key(api_key) if api_key else None
        if user is None:
            raise S3Error("InvalidAccessKeyId", "The API key is not valid (unknown, revoked, or its user is disabled).")
        self.limiter.check("key", "api-" + hash_api_key(api_key)[:32])
        return user
