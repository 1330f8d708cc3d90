"""NodeClient: one storage node over HTTP (urllib3, keep-alive pool, streamed bodies).

Every failure comes out as a BlobError subclass: 404 -> BlobNotFound, 507 -> NodeFull,
anything else (connection refused/reset, timeout, bad status, short body) -> BlobError
with ``node_id`` set. Exceptions raised by a caller's body iterable pass through unchanged.
"""
from __future__ import annotations

import json
from urllib.parse import urlencode
from typing import Iterable, Iterator

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from s3server.blobs.errors import BlobError, BlobNotFound, NodeFull

READ_CHUNK = 256 * 1024
_TRANSPORT_ERRORS = (Urllib3Error, OSError)


class NodeClient:
    """Talks to the node ``node_id`` at ``url`` (``http://host:port``)."""

    def __init__(self, node_id: str, url: str, *, timeout: float = 10.0, maxsize: int = 32):
        self.node_id = node_id
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._pool = urllib3.connection_from_url(
            self.url, maxsize=maxsize, block=False, retries=False,
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout))
        # Requests without a streamed body may be sent again once when a pooled keep-alive
        # connection turns out to have been closed by the node; PUT never is.
        self._idempotent = urllib3.Retry(total=1, connect=0, read=1, redirect=0, status=0,
                                         other=0, raise_on_status=False)

    def __repr__(self) -> str:
        return f"NodeClient({self.node_id!r}, {self.url!r})"

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.close()

    # -- plumbing -----------------------------------------------------------------------
    def _fail(self, message: str, cls: type[BlobError] = BlobError) -> BlobError:
        return cls(f"node {self.node_id}: {message}", node_id=self.node_id)

    def _request(self, method: str, path: str, **kw) -> urllib3.BaseHTTPResponse:
        if method != "PUT":
            kw.setdefault("retries", self._idempotent)
        try:
            return self._pool.urlopen(method, path, redirect=False, **kw)
        except _TRANSPORT_ERRORS as exc:
            raise self._fail(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    def _json(self, method: str, path: str, ok: tuple[int, ...], **kw) -> dict:
        resp = self._request(method, path, **kw)
        self._check(resp, ok, f"{method} {path}")
        try:
            return json.loads(resp.data)
        except ValueError as exc:
            raise self._fail(f"{method} {path}: bad JSON") from exc

    def _check(self, resp: urllib3.BaseHTTPResponse, ok: tuple[int, ...], what: str) -> None:
        if resp.status in ok:
            return
        detail = resp.data[:200].decode("utf-8", "replace") if resp.status >= 400 else ""
        resp.release_conn()
        if resp.status == 404:
            raise self._fail(f"{what}: not found", BlobNotFound)
        if resp.status == 507:
            raise self._fail(f"{what}: node full", NodeFull)
        raise self._fail(f"{what}: HTTP {resp.status} {detail}")

    # -- API ----------------------------------------------------------------------------
    def put(self, blob_id: str, chunks: Iterable[bytes], size: int | None = None) -> dict:
        """Stream ``chunks`` as the blob (chunked transfer); return the node's
        ``{"id", "size", "xxh3"}``. If iterating ``chunks`` raises, the connection is
        closed mid-body (the node keeps nothing) and that exception propagates."""
        headers = {"Content-Type": "application/octet-stream"}
        if size is not None:
            headers["X-Blob-Size"] = str(size)
        return self._json("PUT", f"/blobs/{blob_id}", (201,), body=chunks, chunked=True,
                          headers=headers)

    def get(self, blob_id: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Request bytes [start, end) (``end`` exclusive, None = to the end) and return an
        iterator over them. The request is made now (so 404 etc. raise here); the iterator
        raises BlobError if the body ends short. Close it to drop the connection early."""
        if end is not None and end <= start:
            return iter(())
        headers = {}
        if start or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        path = f"/blobs/{blob_id}"
        resp = self._request("GET", path, headers=headers, preload_content=False)
        self._check(resp, (200, 206), f"GET {path}")
        expected = self._expected_length(resp, start, end)
        return self._body(resp, expected)

    def _expected_length(self, resp: urllib3.BaseHTTPResponse, start: int, end: int | None) -> int:
        length = resp.headers.get("Content-Length")
        want_partial = bool(start or end is not None)
        if length is None or not length.isdigit() or (resp.status == 206) != want_partial:
            resp.close()
            raise self._fail("GET: unexpected response framing")
        length = int(length)
        if end is not None and length != end - start:
            resp.close()
            raise self._fail(f"GET: node sent {length} bytes, asked for {end - start}")
        return length

    def _body(self, resp: urllib3.BaseHTTPResponse, expected: int) -> Iterator[bytes]:
        received = 0
        try:
            while received < expected:
                try:
                    piece = resp.read(min(READ_CHUNK, expected - received))
                except _TRANSPORT_ERRORS as exc:
                    raise self._fail(f"GET: stream broke after {received} bytes: {exc}") from exc
                if not piece:
                    raise self._fail(f"GET: short body, {received} of {expected} bytes")
                received += len(piece)
                yield piece
        finally:
            if received < expected:
                resp.close()
            resp.release_conn()

    def head(self, blob_id: str) -> int:
        """The blob's size; BlobNotFound if absent."""
        path = f"/blobs/{blob_id}"
        resp = self._request("HEAD", path)
        self._check(resp, (200,), f"HEAD {path}")
        return int(resp.headers["Content-Length"])

    def delete(self, blob_id: str, min_age: float | None = None) -> bool:
        """Delete the blob (fine if it is already gone). With ``min_age`` the node deletes
        it only if its copy was published at least ``min_age`` seconds ago by the node's
        own clock, atomically with respect to a concurrent PUT of the same id; returns
        False when the copy was too young (kept)."""
        path = f"/blobs/{blob_id}"
        if min_age is not None:
            path += "?" + urlencode({"min_age": repr(float(min_age))})
        resp = self._request("DELETE", path)
        if resp.status == 412:
            resp.release_conn()
            return False
        if resp.status != 404:
            self._check(resp, (204, 200), f"DELETE {path}")
        return True

    def inventory(self, after: str | None = None, limit: int = 1000) -> dict:
        """One page ``{"blobs": [{"id", "size", "mtime"}], "next": id | None}``."""
        fields = {"limit": str(limit)}
        if after:
            fields["after"] = after
        return self._json("GET", "/blobs?" + urlencode(fields), (200,))

    def iter_inventory(self, page: int = 1000) -> Iterator[tuple[dict, float]]:
        """Every stored blob as ``({"id", "size", "mtime"}, node_now)``, paging through
        ``inventory``; ``node_now`` is the node's clock when that page was listed."""
        after = None
        while True:
            doc = self.inventory(after, page)
            now = float(doc.get("now") or 0.0)
            for entry in doc["blobs"]:
                yield entry, now
            after = doc.get("next")
            if not after:
                return

    def verify(self, blob_id: str) -> dict:
        """Ask the node to re-check every block: ``{"id", "ok", "size"}``."""
        return self._json("POST", f"/blobs/{blob_id}/verify", (200,))

    def health(self, timeout: float | None = None) -> dict:
        """The node's /health document; BlobError if it does not answer."""
        kw = {"timeout": urllib3.Timeout(total=timeout)} if timeout else {}
        return self._json("GET", "/health", (200,), **kw)
