"""A storage node: a dumb HTTP server of bytes by blob id (atomic writes, per-block
xxh3 checksums, quarantine). Knows nothing of S3 and imports nothing from s3server.

Run one with ``python -m storage_node --data-dir D --port P``.
"""
