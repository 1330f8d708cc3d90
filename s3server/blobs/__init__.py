"""Client side of the storage nodes: placement, replicated writes, failover reads.

Knows nothing of S3; the service layer translates these errors.
"""
from s3server.blobs.errors import BlobError, BlobNotFound, BlobUnavailable, NodeFull, QuorumError
from s3server.blobs.store import BlobStore

__all__ = ["BlobStore", "BlobError", "QuorumError", "BlobUnavailable", "BlobNotFound", "NodeFull"]
