"""Who is calling: SigV4/SigV2 for the S3 API, Bearer API keys for the REST API."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from s3server.auth import sigv4
from s3server.errors import S3Error
from s3server.models import User
from s3server.service.identity import IdentityService


class Authenticator:
    def __init__(self, identity: IdentityService, *, clock: Callable[[], datetime], region: str):
        self.identity = identity
        self.clock = clock
        self.region = region

    def s3(self, signed: sigv4.SignedRequest) -> tuple[User, sigv4.AuthResult]:
        """Verify a SigV4/SigV2 request; anonymous requests are denied (no public buckets)."""
        users: dict[str, User] = {}

        def secret_for(access_key: str) -> str | None:
            found = self.identity.secret_for(access_key)
            if found is None:
                return None
            users[access_key] = found[1]
            return found[0]

        result = sigv4.authenticate(signed, secret_for, self.clock(), region=None)
        if result is None:
            raise S3Error("AccessDenied", "Anonymous access is not allowed; sign your request.")
        return users[result.access_key], result

    def bearer(self, authorization: str | None) -> User:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise S3Error("InvalidAccessKeyId", "Missing API key: send 'Authorization: Bearer <api key>'.")
        user = self.identity.user_for_api_key(authorization[7:].strip())
        if user is None:
            raise S3Error("InvalidAccessKeyId", "The API key is not valid.")
        return user
