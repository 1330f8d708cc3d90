"""Every table and named index of the metadata database, on one ``MetaData``.

Ordering: object keys (and bucket names) must sort in UTF-8 byte order, as S3 lists
them. On PostgreSQL those columns use ``COLLATE "C"`` (byte order in a UTF8 database);
SQLite's default BINARY collation already compares the UTF-8 bytes, so the collation
is a PostgreSQL-only type variant.

Timestamps are stored timezone-aware UTC and always come back aware (``UTCDateTime``).
Dict/list columns are JSON text (``JSONText``): portable, and never queried inside.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# 1: the first schema. 2: objects.inline_data. 3: objects.tags and tags_for, multipart_uploads.tags,
# buckets.cors and tags. 4: buckets.versioning. 5: objects.website_redirect and website_redirect_for,
# multipart_uploads.website_redirect. 6: multipart_uploads.sse. 7: buckets.encryption. 8: buckets.lifecycle
# 9: buckets.settings. 10: multipart_uploads.sse_key (see ``migrate``).
SCHEMA_VERSION = 10

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _bytewise(length: int) -> sa.types.TypeEngine:
    """A string column compared and sorted by UTF-8 bytes on every backend."""
    return sa.String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


KEY = _bytewise(1024)        # S3 keys: at most 1024 bytes of UTF-8
BUCKET = _bytewise(63)


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the metadata store; use UTC-aware datetimes")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None or value.tzinfo is timezone.utc:
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class JSONText(sa.types.TypeDecorator):
    """A JSON document stored as text."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        if value is None:
            return None
        if not value and type(value) in (dict, list):      # most objects' metadata and checksums
            return "{}" if type(value) is dict else "[]"
        return _JSON_ENCODER.encode(value)

    def process_result_value(self, value: str | None, dialect) -> Any:
        if value is None:
            return None
        if value == "{}":
            return {}
        return json.loads(value)


# one encoder (json.dumps with options builds a new one per call: a few us, three times a PUT)
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)


schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

credentials = sa.Table(
    "credentials", metadata,
    sa.Column("access_key", sa.String(128), primary_key=True),
    sa.Column("secret_key", sa.String(256), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_credentials_user_id", "user_id"),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("key_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_api_keys_user_id", "user_id"),
)

# owner_id is deliberately not a foreign key: ownership is checked by the service, and
# keeping it loose lets tooling and tests create buckets without a users row.
buckets = sa.Table(
    "buckets", metadata,
    sa.Column("name", BUCKET, primary_key=True),
    sa.Column("owner_id", sa.Integer, nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # the CORS rules (PutBucketCors) as [{"methods", "origins", "headers", "expose", "max_age", "id"}];
    # NULL: none
    sa.Column("cors", JSONText),
    sa.Column("tags", JSONText),                        # [[key, value], ...]; NULL: no tag set
    # PutBucketVersioning's state: NULL (never set) or "Suspended" (the only one accepted here)
    sa.Column("versioning", sa.String(16)),
    # PutBucketEncryption's default: {"algorithm": "AES256", "bucket_key": bool}; NULL: none
    sa.Column("encryption", JSONText),
    # PutBucketLifecycleConfiguration's rules: {"rules": [...], "min_size_mode"}; NULL: none
    sa.Column("lifecycle", JSONText),
    # settings that can only describe this server's one state, kept to be reported back:
    # {"public_access_block": [4 booleans], "accelerate": "Suspended"}; NULL: none made
    sa.Column("settings", JSONText),
    sa.Index("ix_buckets_owner_id", "owner_id", "name"),
)

# The primary key (bucket, key) is THE listing index: range scans seek on it.
objects = sa.Table(
    "objects", metadata,
    sa.Column("bucket", BUCKET, sa.ForeignKey("buckets.name"), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(128), nullable=False),
    sa.Column("last_modified", UTCDateTime, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("content_encoding", sa.Text),
    sa.Column("content_disposition", sa.Text),
    sa.Column("content_language", sa.Text),
    sa.Column("cache_control", sa.Text),
    sa.Column("expires", sa.Text),
    sa.Column("user_metadata", JSONText, nullable=False),
    sa.Column("checksums", JSONText, nullable=False),
    sa.Column("checksum_type", sa.String(32)),
    sa.Column("storage_class", sa.String(32), nullable=False),
    # [{"blob_id", "size", "nodes": [...], "part_number", "etag", "checksums": {...}}, ...]
    sa.Column("segments", JSONText, nullable=False),
    sa.Column("parts_count", sa.Integer),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # A copy of a small object's bytes (S3_INLINE_MAX), committed with the row, so a GET is
    # served without a storage node; the node copies stay the durable ones (see Design).
    sa.Column("inline_data", sa.LargeBinary),
    # [[key, value], ...] in the order given; NULL: no tags. They count only while ``tags_for``
    # equals ``updated_at``: a server of schema 2 overwriting the row during a rolling upgrade
    # sets neither column, and the replaced object's tags must not pass to the new one.
    sa.Column("tags", JSONText),
    sa.Column("tags_for", UTCDateTime),
    # x-amz-website-redirect-location; counts only while ``website_redirect_for`` equals
    # ``updated_at``, for the same reason as the tags (a server of schema 4 sets neither).
    sa.Column("website_redirect", sa.Text),
    sa.Column("website_redirect_for", UTCDateTime),
)

multipart_uploads = sa.Table(
    "multipart_uploads", metadata,
    sa.Column("upload_id", sa.String(128), primary_key=True),
    sa.Column("bucket", BUCKET, sa.ForeignKey("buckets.name"), nullable=False),
    sa.Column("key", KEY, nullable=False),
    sa.Column("initiated", UTCDateTime, nullable=False),
    sa.Column("owner_id", sa.Integer, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("content_encoding", sa.Text),
    sa.Column("content_disposition", sa.Text),
    sa.Column("content_language", sa.Text),
    sa.Column("cache_control", sa.Text),
    sa.Column("expires", sa.Text),
    sa.Column("user_metadata", JSONText, nullable=False),
    sa.Column("checksum_algorithm", sa.String(32)),
    sa.Column("checksum_type", sa.String(32)),
    sa.Column("storage_class", sa.String(32), nullable=False),
    sa.Column("tags", JSONText),                         # for the object, as objects.tags
    sa.Column("website_redirect", sa.Text),              # for the object, as objects.website_redirect
    sa.Column("sse", sa.String(16)),                     # "AES256": the parts are encrypted (SSE-S3); "SSE-C"
    # SSE-C: a random token sealed under the customer's key, to check each part's key against
    sa.Column("sse_key", sa.Text),
    # ListMultipartUploads order: key, then initiation time.
    sa.Index("ix_multipart_uploads_listing", "bucket", "key", "initiated", "upload_id"),
)

upload_parts = sa.Table(
    "upload_parts", metadata,
    sa.Column("upload_id", sa.String(128), sa.ForeignKey("multipart_uploads.upload_id"),
              primary_key=True),
    sa.Column("part_number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(128), nullable=False),
    sa.Column("last_modified", UTCDateTime, nullable=False),
    sa.Column("blob", JSONText, nullable=False),        # {"blob_id", "size", "nodes": [...]}
    sa.Column("checksums", JSONText, nullable=False),
)


def migrate(conn: sa.Connection, current: int | None) -> None:
    """Bring a database at schema version ``current`` (None: its tables were just made by
    ``create_all``) to ``SCHEMA_VERSION``, inside the caller's transaction. Each step is
    DDL that takes PostgreSQL's table lock briefly, so it runs only when the recorded
    version says it is needed, never on every start."""
    pg = conn.dialect.name == "postgresql"
    if current == 1:
        conn.execute(sa.text("ALTER TABLE objects ADD COLUMN inline_data "
                             + ("BYTEA" if pg else "BLOB")))
    if current is not None and current < 3:
        conn.execute(sa.text("ALTER TABLE objects ADD COLUMN tags TEXT"))
        conn.execute(sa.text("ALTER TABLE objects ADD COLUMN tags_for "
                             + ("TIMESTAMP WITH TIME ZONE" if pg else "DATETIME")))
        conn.execute(sa.text("ALTER TABLE multipart_uploads ADD COLUMN tags TEXT"))
        conn.execute(sa.text("ALTER TABLE buckets ADD COLUMN cors TEXT"))
        conn.execute(sa.text("ALTER TABLE buckets ADD COLUMN tags TEXT"))
    if current is not None and current < 4:
        conn.execute(sa.text("ALTER TABLE buckets ADD COLUMN versioning VARCHAR(16)"))
    if current is not None and current < 5:
        conn.execute(sa.text("ALTER TABLE objects ADD COLUMN website_redirect TEXT"))
        conn.execute(sa.text("ALTER TABLE objects ADD COLUMN website_redirect_for "
                             + ("TIMESTAMP WITH TIME ZONE" if pg else "DATETIME")))
        conn.execute(sa.text("ALTER TABLE multipart_uploads ADD COLUMN website_redirect TEXT"))
    if current is not None and current < 6:
        conn.execute(sa.text("ALTER TABLE multipart_uploads ADD COLUMN sse VARCHAR(16)"))
    if current is not None and current < 7:
        conn.execute(sa.text("ALTER TABLE buckets ADD COLUMN encryption TEXT"))
    if current is not None and current < 8:
        conn.execute(sa.text("ALTER TABLE buckets ADD COLUMN lifecycle TEXT"))
    if current is not None and current < 9:
        conn.execute(sa.text("ALTER TABLE buckets ADD COLUMN settings TEXT"))
    if current is not None and current < 10:
        conn.execute(sa.text("ALTER TABLE multipart_uploads ADD COLUMN sse_key TEXT"))
    if pg and (current is None or current < 2):
        # inline bytes of more than ~2 KiB go out of line to the TOAST table, uncompressed
        # (object bytes rarely compress): the heap rows that listings scan stay small (kept
        # in the row, 4 KiB of bytes made a 1000-key page read ~550 heap pages, not ~30).
        # Measured against in-row storage (MAIN): PUT and GET the same, mixed load faster.
        conn.execute(sa.text("ALTER TABLE objects ALTER COLUMN inline_data SET STORAGE EXTERNAL"))
