"""Small helpers shared by the metadata store's modules."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from s3server.meta import schema as s
from s3server.models import User

BLOB_PAGE = 1000


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: the metadata store wants timezone-aware UTC")
    return dt.astimezone(timezone.utc)


def strip_etag(etag: str) -> str:
    return etag.strip().strip('"')


def with_user(table: sa.Table) -> sa.Select:
    """SELECT a key table's row joined with its user's columns (for ``joined_user``)."""
    u = s.users
    return (sa.select(table, u.c.name, u.c.is_admin, u.c.disabled, u.c.created_at.label("user_created_at"))
            .join(u, u.c.id == table.c.user_id))


def joined_user(row: sa.Row) -> User:
    return User(id=row.user_id, name=row.name, is_admin=bool(row.is_admin),
                disabled=bool(row.disabled), created_at=row.user_created_at)
