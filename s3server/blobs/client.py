"""NodeClient: one storage node's API (blobs by id, batches, inventory, verify, health) over the
HTTP/1.1 transport of blobs/wire.py.

Every failure comes out as a BlobError subclass: 404 -> BlobNotFound, 507 -> NodeFull,
anything else (connection refused/reset, timeout, bad status, garbage, short body) ->
BlobError with ``node_id`` set. Exceptions raised by a caller's body iterable pass through
unchanged.
"""
from __future__ import annotations

import json
from typing import Iterable, Iterator
from urllib.parse import urlencode

from s3server.blobs.errors import BlobError, BlobNotFound, NodeFull
from s3server.blobs.wire import READ_CHUNK, Call, Garbage, HttpNode, Response, Stale, describe

DELETE_BATCH = 1000            # ids per POST /blobs/delete (the node's limit)
WRITE_BATCH = 64               # blobs per POST /blobs/write (the node takes up to 128)
WRITE_BATCH_BYTES = 1024 * 1024  # their bytes (the node takes up to 4 MiB)
_MAX_DETAIL = 64 * 1024        # error bodies up to this size are read (connection kept)


class NodeClient(HttpNode):
    """Talks to the node ``node_id`` at ``url`` (``http://host:port``)."""

    def _finish(self, resp: Response, what: str, ok: tuple[int, ...]) -> bytes:
        """Read the whole (small) body, release the connection, map the status."""
        try:
            data = resp.read_all()
        except (Garbage, OSError) as exc:
            resp.close()
            raise self._fail(f"{what}: {exc}") from exc
        if resp.conn is not None and resp.conn.sock.gettimeout() != self.timeout:
            resp.conn.sock.settimeout(self.timeout)
        resp.release()
        if resp.status not in ok:
            self._raise_status(resp.status, what, data)
        return data

    def _raise_status(self, status: int, what: str, data: bytes = b"") -> None:
        if status == 404:
            raise self._fail(f"{what}: not found", BlobNotFound)
        if status == 507:
            raise self._fail(f"{what}: node full", NodeFull)
        detail = data[:200].decode("utf-8", "replace") if status >= 400 else ""
        raise self._fail(f"{what}: HTTP {status} {detail}")

    def _check(self, resp: Response, ok: tuple[int, ...], what: str) -> None:
        """Raise for a status outside ``ok`` (reading a small error body first)."""
        if resp.status in ok:
            return
        data = b""
        if 0 <= resp._left <= _MAX_DETAIL:
            try:
                data = resp.read_all(_MAX_DETAIL)
            except (Garbage, OSError):
                pass
        resp.release()
        self._raise_status(resp.status, what, data)

    def _json(self, method: str, path: str, ok: tuple[int, ...], body: bytes = b"",
              timeout: float | None = None) -> dict:
        what = f"{method} {path}"
        data = self._finish(self._request(method, path, body, timeout=timeout), what, ok)
        return self._parse_json(data, what)

    def _parse_json(self, data: bytes, what: str) -> dict:
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise self._fail(f"{what}: bad JSON") from exc
        if not isinstance(doc, dict):
            raise self._fail(f"{what}: bad JSON")
        return doc

    # -- API ------------------------------------------------------------------------------
    def put(self, blob_id: str, chunks: Iterable[bytes] | bytes, size: int | None = None, *,
            cache: bool = True) -> dict:
        """Store ``chunks`` as the blob; return the node's ``{"id", "size", "xxh3"}``.
        ``bytes`` go out with a Content-Length (see ``begin_put``); an iterable is streamed
        (chunked transfer): if iterating it raises, the connection is closed mid-body (the
        node keeps nothing) and that exception propagates. ``cache=False`` asks the node to
        keep the streamed copy out of its page cache (O_DIRECT; the node decides, by size)."""
        if isinstance(chunks, bytes):
            return self.end_put(self.begin_put(blob_id, chunks))
        path = f"/blobs/{blob_id}"
        headers = {"Content-Type": "application/octet-stream"}
        if not cache:
            headers["X-Blob-Cache"] = "none"
        if size is None:
            headers["Transfer-Encoding"] = "chunked"
        else:
            # A known size goes out with a Content-Length: the node then reads the body in
            # large pieces (its chunked decoder copies every byte several times). A body that
            # ends early or runs long breaks the connection: the node keeps nothing.
            headers["X-Blob-Size"] = str(size)
        conn = self._get_conn()
        sock = conn.sock
        pending = self._head("PUT", path, headers, size)
        it = iter(chunks)
        sent = 0
        try:
            while True:
                try:
                    chunk = next(it)
                except StopIteration:
                    break
                if not chunk:
                    continue
                if size is None:
                    sock.sendall(pending + b"%x\r\n%b\r\n" % (len(chunk), chunk))
                else:
                    sent += len(chunk)
                    if sent > size:
                        raise BlobError(f"node {self.node_id}: PUT {path}: body longer than "
                                        f"its declared {size} bytes", node_id=self.node_id)
                    if pending:
                        sock.sendall(pending)
                    sock.sendall(chunk)
                pending = b""
            if size is None:
                sock.sendall(pending + b"0\r\n\r\n")
            elif sent < size:
                raise BlobError(f"node {self.node_id}: PUT {path}: body ended after {sent} of "
                                f"{size} bytes", node_id=self.node_id)
            elif pending:
                sock.sendall(pending)
        except OSError as exc:
            # The node may have answered (507, 400) and closed while we were sending.
            if isinstance(exc, TimeoutError):
                conn.close()
                raise self._fail(f"PUT {path}: {describe(exc)}") from exc
            try:
                resp = Response(self, conn, "PUT")
            except (Stale, Garbage, OSError):
                conn.close()
                raise self._fail(f"PUT {path}: {describe(exc)}") from exc
            resp.keep = False
            return self._put_result(resp, path)
        except BaseException:
            conn.close()
            raise
        c = Call(self, "PUT", path, ())
        c.conn = conn
        conn.reused = False                     # a streamed body cannot be sent again
        return self._put_result(c.response(), path)

    def begin_put(self, blob_id: str, data: bytes) -> Call:
        """Send ``data`` as the blob with a Content-Length; ``end_put`` reads the answer.
        BlobError if the node cannot be reached."""
        return self.call("PUT", f"/blobs/{blob_id}", data,
                         {"Content-Type": "application/octet-stream"})

    def end_put(self, call: Call) -> dict:
        """The node's ``{"id", "size", "xxh3"}`` for a ``begin_put``."""
        return self._put_result(call.response(), call.path)

    def _put_result(self, resp: Response, path: str) -> dict:
        what = f"PUT {path}"
        return self._parse_json(self._finish(resp, what, (201,)), what)

    def get(self, blob_id: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Request bytes [start, end) (``end`` exclusive, None = to the end) and return an
        iterator over them. The request is made now (so 404 etc. raise here); the iterator
        raises BlobError if the body ends short. Close it to drop the connection early."""
        if end is not None and end <= start:
            return iter(())
        headers = None
        if start or end is not None:
            headers = {"Range": f"bytes={start}-{'' if end is None else end - 1}"}
        path = f"/blobs/{blob_id}"
        resp = self._request("GET", path, headers=headers)
        self._check(resp, (200, 206), f"GET {path}")
        expected = self._expected_length(resp, start, end)
        return _Body(self, resp, expected)

    def _expected_length(self, resp: Response, start: int, end: int | None) -> int:
        length = resp.headers.get("content-length")
        want_partial = bool(start or end is not None)
        if length is None or not length.isdigit() or (resp.status == 206) != want_partial:
            resp.close()
            raise self._fail("GET: unexpected response framing")
        length = int(length)
        if end is not None and length != end - start:
            resp.close()
            raise self._fail(f"GET: node sent {length} bytes, asked for {end - start}")
        return length

    def head(self, blob_id: str) -> int:
        """The blob's size; BlobNotFound if absent."""
        path = f"/blobs/{blob_id}"
        resp = self._request("HEAD", path)
        self._finish(resp, f"HEAD {path}", (200,))
        length = resp.headers.get("content-length", "")
        if not length.isdigit():
            raise self._fail(f"HEAD {path}: no Content-Length")
        return int(length)

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
            self._finish(resp, f"DELETE {path}", (412,))
            return False
        self._finish(resp, f"DELETE {path}", (204, 200, 404))
        return True

    def begin_delete_many(self, blob_ids: list[str]) -> Call:
        """Send one batch delete (at most DELETE_BATCH ids); ``end_delete_many`` reads it."""
        body = json.dumps({"ids": blob_ids}).encode()
        return self.call("POST", "/blobs/delete", body, {"Content-Type": "application/json"})

    def end_delete_many(self, call: Call) -> dict[str, bool] | None:
        """{blob_id: True if the node had it} for a ``begin_delete_many``; None if the node
        has no batch endpoint (404/405: a node older than this client)."""
        what = "POST /blobs/delete"
        resp = call.response()
        if resp.status in (404, 405):
            self._finish(resp, what, (404, 405))
            return None
        doc = self._parse_json(self._finish(resp, what, (200,)), what)
        deleted = doc.get("deleted")
        absent = doc.get("absent")
        if not isinstance(deleted, list) or not isinstance(absent, list):
            raise self._fail(f"{what}: bad JSON")
        return {**{b: False for b in absent}, **{b: True for b in deleted}}

    def begin_write_many(self, blobs: list[tuple[str, bytes]]) -> Call:
        """Send several small blobs in one ``POST /blobs/write`` (at most WRITE_BATCH, whose
        sizes add up to at most WRITE_BATCH_BYTES); ``end_write_many`` reads the answer."""
        names = ",".join(f"{blob_id}:{len(data)}" for blob_id, data in blobs)
        body = b"".join(data for _, data in blobs)
        return self.call("POST", "/blobs/write", body,
                         {"Content-Type": "application/octet-stream", "X-Blobs": names})

    def end_write_many(self, call: Call, blob_ids: list[str]) -> list[dict | BlobError] | None:
        """For a ``begin_write_many`` of ``blob_ids``: per blob, in order, the node's
        ``{"id", "size", "xxh3"}`` or the BlobError (NodeFull for 507) it answered for that
        blob. None if the node has no batch endpoint (404/405: older than this client)."""
        what = "POST /blobs/write"
        resp = call.response()
        if resp.status in (404, 405):
            self._finish(resp, what, (404, 405))
            return None
        doc = self._parse_json(self._finish(resp, what, (200,)), what)
        answers = doc.get("blobs")
        if (not isinstance(answers, list) or len(answers) != len(blob_ids)
                or any(not isinstance(a, dict) or a.get("id") != b for a, b in zip(answers, blob_ids))):
            raise self._fail(f"{what}: the answer does not match the blobs sent")
        out: list[dict | BlobError] = []
        for a in answers:
            status = a.get("status")
            if status is None:
                out.append(a)
            else:
                out.append(self._fail(f"{what}: {a.get('id')}: HTTP {status} {a.get('error', '')}",
                                      NodeFull if status == 507 else BlobError))
        return out

    def delete_many(self, blob_ids: Iterable[str]) -> dict[str, bool]:
        """Delete many blobs (idempotent), DELETE_BATCH per request; {blob_id: existed}.
        Falls back to one DELETE per blob on a node without the batch endpoint."""
        ids, result = list(blob_ids), {}
        for i in range(0, len(ids), DELETE_BATCH):
            batch = ids[i:i + DELETE_BATCH]
            done = self.end_delete_many(self.begin_delete_many(batch))
            if done is None:
                done = {b: self.delete(b) for b in batch}
            result.update(done)
        return result

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
        return self._json("GET", "/health", (200,), timeout=timeout)


class _Body:
    """The body of a GET as an iterator of pieces; ``close()`` drops the connection if the
    body was not read to its end (it goes back to the pool if it was)."""

    def __init__(self, client: NodeClient, resp: Response, expected: int):
        self._client = client
        self._resp = resp
        self._expected = expected
        self._received = 0
        if expected == 0:
            resp.release()

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        left = self._expected - self._received
        if left <= 0:
            self.close()
            raise StopIteration
        try:
            piece = self._resp.read(min(READ_CHUNK, left))
        except (Garbage, OSError) as exc:
            self.close()
            raise self._client._fail(
                f"GET: stream broke after {self._received} bytes: {exc}") from exc
        if not piece:
            self.close()
            raise self._client._fail(f"GET: short body, {self._received} of "
                                     f"{self._expected} bytes")
        self._received += len(piece)
        if self._received == self._expected:
            self._resp.release()
        return piece

    def close(self) -> None:
        if self._received >= self._expected:
            self._resp.release()
        else:
            self._resp.close()
