"""IdentityService: users, S3 key pairs and API keys; admin bootstrap. HTTP-free.

S3 secrets are stored as they are (SigV4 verification needs them); API keys only
as SHA-256 hashes, so a lost API key cannot be printed again, only replaced.
"""
from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass

from s3server.errors import S3Error
from s3server.meta import errors as meta_errors
from s3server.models import Credential, User
from s3server.service.common import GuardedStore

ADMIN_NAME = "admin"
_AK_ALPHABET = string.ascii_uppercase + string.digits
API_KEY_PREFIX = "s3k_"


def new_access_key() -> str:
    return "AK" + "".join(secrets.choice(_AK_ALPHABET) for _ in range(18))


def new_secret_key() -> str:
    return secrets.token_urlsafe(30)[:40]


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewCredentials:
    """Secrets shown once, right after they were made."""
    user: User
    access_key: str | None = None
    secret_key: str | None = None
    api_key: str | None = None


class IdentityService:
    def __init__(self, store: GuardedStore):
        self.store = store

    # ---------------------------------------------------------------- bootstrap
    def ensure_admin(self, *, access_key: str = "", secret_key: str = "", api_key: str = "") -> NewCredentials:
        """Create the admin user on first start (safe when several processes race).

        Fixed credentials (S3_ADMIN_*) are added if missing. Returns what was newly made,
        so the caller can print it once.
        """
        admin = self.store.get_user_by_name(ADMIN_NAME)
        if admin is None:
            try:
                admin = self.store.create_user(ADMIN_NAME, is_admin=True)
            except meta_errors.AlreadyExists:
                admin = self.store.get_user_by_name(ADMIN_NAME)
        made_ak = made_sk = made_api = None
        if access_key or secret_key:
            if not (access_key and secret_key):
                raise ValueError("S3_ADMIN_ACCESS_KEY and S3_ADMIN_SECRET_KEY must be given together")
            found = self.store.get_credential(access_key)
            if found is None:
                self._add_credential(admin.id, access_key, secret_key)
            elif found[0].secret_key != secret_key or found[0].user_id != admin.id:
                raise ValueError("S3_ADMIN_ACCESS_KEY exists with another secret or owner")
        elif not self.store.list_credentials(admin.id):
            made_ak, made_sk = new_access_key(), new_secret_key()
            self._add_credential(admin.id, made_ak, made_sk)
        if api_key:
            if self.store.get_api_key(hash_api_key(api_key)) is None:
                self.store.add_api_key(admin.id, hash_api_key(api_key), api_key[:8])
        elif not [k for k in self.store.list_api_keys(admin.id) if not k.revoked]:
            made_api = new_api_key()
            self.store.add_api_key(admin.id, hash_api_key(made_api), made_api[:8])
        return NewCredentials(admin, made_ak, made_sk, made_api)

    def _add_credential(self, user_id: int, access_key: str, secret_key: str) -> None:
        try:
            self.store.add_credential(user_id, access_key, secret_key)
        except meta_errors.AlreadyExists:
            pass   # a concurrent start added the same fixed pair

    def admin_credentials(self) -> tuple[User, list[Credential]]:
        admin = self.store.get_user_by_name(ADMIN_NAME)
        if admin is None:
            raise S3Error("InvalidAccessKeyId", "No admin user yet: start the server once.")
        return admin, [c for c in self.store.list_credentials(admin.id) if not c.revoked]

    # ---------------------------------------------------------------- users and keys
    def create_user(self, name: str, *, is_admin: bool = False, with_keys: bool = True) -> NewCredentials:
        try:
            user = self.store.create_user(name, is_admin=is_admin)
        except meta_errors.AlreadyExists as exc:
            raise ValueError(f"user {name!r} already exists") from exc
        if not with_keys:
            return NewCredentials(user)
        return self.create_keys(user)

    def create_keys(self, user: User, *, s3: bool = True, api: bool = True) -> NewCredentials:
        ak = sk = api_key = None
        if s3:
            ak, sk = new_access_key(), new_secret_key()
            self.store.add_credential(user.id, ak, sk)
        if api:
            api_key = new_api_key()
            self.store.add_api_key(user.id, hash_api_key(api_key), api_key[:8])
        return NewCredentials(user, ak, sk, api_key)

    def user(self, name: str) -> User:
        user = self.store.get_user_by_name(name)
        if user is None:
            raise ValueError(f"no user named {name!r}")
        return user

    # ---------------------------------------------------------------- lookups for auth
    def secret_for(self, access_key: str) -> tuple[str, User] | None:
        """(secret, user) for an active key pair of an enabled user, else None."""
        found = self.store.get_credential(access_key)
        if found is None:
            return None
        cred, user = found
        if cred.revoked or user.disabled:
            return None
        return cred.secret_key, user

    def user_for_api_key(self, api_key: str) -> User | None:
        found = self.store.get_api_key(hash_api_key(api_key))
        if found is None:
            return None
        key, user = found
        if key.revoked or user.disabled:
            return None
        return user
