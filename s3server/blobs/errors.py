"""Errors of the blob layer. Internal: the service layer translates them to S3 errors."""
from __future__ import annotations


class BlobError(Exception):
    """Any failure talking to storage nodes. ``node_id`` names the node when one is at fault."""

    def __init__(self, message: str = "", *, node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


class QuorumError(BlobError):
    """Fewer than the write quorum of copies were written (the made copies were deleted)."""

    def __init__(self, written: int, needed: int, message: str = ""):
        super().__init__(f"only {written} of the {needed} required copies written"
                         + (f": {message}" if message else ""))
        self.written = written
        self.needed = needed


class BlobUnavailable(BlobError):
    """No replica could serve (the rest of) the blob."""


class BlobNotFound(BlobError):
    """The node (or every replica) says the blob does not exist."""


class NodeFull(BlobError):
    """A node refused a blob for lack of space (HTTP 507)."""
