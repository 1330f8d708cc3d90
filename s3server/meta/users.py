"""Users, their S3 key pairs and their REST API keys (a query family of MetadataStore). Every
write is announced on the change feed, so every gateway's cached lookups see it at once."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from s3server.meta import schema as s
from s3server.meta.common import joined_user, utc, with_user
from s3server.meta.errors import AlreadyExists, NotFound
from s3server.meta.rows import api_key_from_row, credential_from_row, user_from_row
from s3server.meta.transactions import Transactions
from s3server.models import ApiKey, Credential, User

# The hot-path lookups, built once: constructing a statement per call (operator overloading,
# coercion, cache-key generation) costs more than executing it against an index.
_Q_CREDENTIAL = with_user(s.credentials).where(s.credentials.c.access_key == sa.bindparam("access_key"))
_Q_API_KEY = with_user(s.api_keys).where(s.api_keys.c.key_hash == sa.bindparam("key_hash"))


class UserQueries(Transactions):
    # -- users -------------------------------------------------------------------------

    def create_user(self, name: str, *, is_admin: bool = False) -> User:
        now = utc(self._clock())

        def _do(conn: sa.Connection) -> User:
            res = conn.execute(s.users.insert().values(
                name=name, is_admin=is_admin, disabled=False, created_at=now))
            return User(id=res.inserted_primary_key[0], name=name, is_admin=is_admin,
                        disabled=False, created_at=now)

        try:
            return self._run_change(_do)
        except sa_exc.IntegrityError as e:
            raise AlreadyExists(f"user {name!r} already exists") from e

    def get_user(self, user_id: int) -> User | None:
        row = self._run(lambda conn: conn.execute(
            sa.select(s.users).where(s.users.c.id == user_id)).first())
        return user_from_row(row) if row else None

    def get_user_by_name(self, name: str) -> User | None:
        row = self._run(lambda conn: conn.execute(
            sa.select(s.users).where(s.users.c.name == name)).first())
        return user_from_row(row) if row else None

    def list_users(self) -> list[User]:
        rows = self._run(lambda conn: conn.execute(
            sa.select(s.users).order_by(s.users.c.id)).all())
        return [user_from_row(r) for r in rows]

    def set_user_disabled(self, user_id: int, disabled: bool) -> None:
        def _do(conn: sa.Connection) -> None:
            res = conn.execute(s.users.update().where(s.users.c.id == user_id)
                               .values(disabled=disabled))
            if res.rowcount == 0:
                raise NotFound(f"user {user_id} does not exist", what="user")

        self._run_change(_do)

    # -- S3 key pairs ------------------------------------------------------------------

    def add_credential(self, user_id: int, access_key: str, secret_key: str) -> Credential:
        now = utc(self._clock())

        def _do(conn: sa.Connection) -> Credential:
            if conn.execute(sa.select(s.users.c.id).where(s.users.c.id == user_id)).first() is None:
                raise NotFound(f"user {user_id} does not exist", what="user")
            conn.execute(s.credentials.insert().values(
                access_key=access_key, secret_key=secret_key, user_id=user_id,
                created_at=now, revoked=False))
            return Credential(access_key=access_key, secret_key=secret_key, user_id=user_id,
                              created_at=now, revoked=False)

        try:
            return self._run_change(_do)
        except sa_exc.IntegrityError as e:
            raise AlreadyExists(f"access key {access_key!r} already exists") from e

    def get_credential(self, access_key: str) -> tuple[Credential, User] | None:
        def load() -> tuple[Credential, User] | None:
            row = self._run(lambda conn: conn.execute(_Q_CREDENTIAL, {"access_key": access_key}).first())
            if row is None:
                return None
            return credential_from_row(row), joined_user(row)

        return self._cached(("credential", access_key), load)

    def list_credentials(self, user_id: int) -> list[Credential]:
        c = s.credentials
        rows = self._run(lambda conn: conn.execute(
            sa.select(c).where(c.c.user_id == user_id)
            .order_by(c.c.created_at, c.c.access_key)).all())
        return [credential_from_row(r) for r in rows]

    def revoke_credential(self, access_key: str) -> None:
        def _do(conn: sa.Connection) -> None:
            res = conn.execute(s.credentials.update()
                               .where(s.credentials.c.access_key == access_key)
                               .values(revoked=True))
            if res.rowcount == 0:
                raise NotFound(f"access key {access_key!r} does not exist", what="credential")

        self._run_change(_do)

    # -- REST API keys -----------------------------------------------------------------

    def add_api_key(self, user_id: int, key_hash: str, prefix: str) -> ApiKey:
        now = utc(self._clock())

        def _do(conn: sa.Connection) -> ApiKey:
            if conn.execute(sa.select(s.users.c.id).where(s.users.c.id == user_id)).first() is None:
                raise NotFound(f"user {user_id} does not exist", what="user")
            res = conn.execute(s.api_keys.insert().values(
                user_id=user_id, key_hash=key_hash, prefix=prefix, created_at=now,
                revoked=False))
            return ApiKey(id=res.inserted_primary_key[0], user_id=user_id, key_hash=key_hash,
                          prefix=prefix, created_at=now, revoked=False)

        try:
            return self._run_change(_do)
        except sa_exc.IntegrityError as e:
            raise AlreadyExists("API key hash already exists") from e

    def get_api_key(self, key_hash: str) -> tuple[ApiKey, User] | None:
        def load() -> tuple[ApiKey, User] | None:
            row = self._run(lambda conn: conn.execute(_Q_API_KEY, {"key_hash": key_hash}).first())
            if row is None:
                return None
            return api_key_from_row(row), joined_user(row)

        return self._cached(("api_key", key_hash), load)

    def list_api_keys(self, user_id: int) -> list[ApiKey]:
        k = s.api_keys
        rows = self._run(lambda conn: conn.execute(
            sa.select(k).where(k.c.user_id == user_id).order_by(k.c.id)).all())
        return [api_key_from_row(r) for r in rows]

    def revoke_api_key(self, key_id: int) -> None:
        """NotFound if no such key."""
        def _do(conn: sa.Connection) -> None:
            res = conn.execute(s.api_keys.update().where(s.api_keys.c.id == key_id)
                               .values(revoked=True))
            if res.rowcount == 0:
                raise NotFound(f"API key {key_id} does not exist", what="api_key")

        self._run_change(_do)
