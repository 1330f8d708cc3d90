"""Rate limits: token buckets per client IP and per key, shared by the gateway's workers (the
configured figure per pod, not per worker); S3 answers 503 SlowDown, REST 429, both with
Retry-After; X-Forwarded-For only from trusted proxies. Own system, 2 workers, a low limit."""
from __future__ import annotations

import http.client
import re
import threading
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from botocore.exceptions import ClientError

from tests.adminutil import new_user
from tests.conftest import ServeProcess

BURST = 4
PER_MIN = 6          # one token per 10 s: nothing refills during a test


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    sp = ServeProcess(tmp_path_factory.mktemp("ratelimit") / "data",
                      env={"S3_RATE_LIMIT_PER_MIN": str(PER_MIN), "S3_RATE_LIMIT_BURST": str(BURST),
                           "S3_TRUSTED_PROXIES": "127.0.0.1", "S3_WORKERS": "2", "S3_LOG_LEVEL": "info"}).start()
    sp.backend = "sqlite"
    yield sp
    sp.stop()


def new_ip() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def rest_get(sp, user, ip, path="/buckets"):
    headers = {"X-Forwarded-For": ip}
    if user:
        headers["Authorization"] = f"Bearer {user['api_key']}"
    return requests.get(sp.endpoint + path, headers=headers)


def s3_client(sp, user, ip):
    c = sp.client(access_key=user["access_key"], secret_key=user["secret_key"])

    def add_xff(request, **kw):
        request.headers["X-Forwarded-For"] = ip
    c.meta.events.register("before-send.s3", add_xff)
    return c


def test_rest_answers_429_json_with_retry_after(limited):
    user, ip = new_user(limited), new_ip()
    assert [rest_get(limited, user, ip).status_code for _ in range(BURST)] == [200] * BURST
    r = rest_get(limited, user, ip)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "SlowDown" and r.json()["error"]["message"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60 / PER_MIN
    assert r.headers["x-amz-request-id"]


def test_s3_answers_503_slowdown_with_retry_after(limited):
    user, ip = new_user(limited), new_ip()
    s3 = s3_client(limited, user, ip)
    for _ in range(BURST):
        s3.list_buckets()
    with pytest.raises(ClientError) as e:
        s3.list_buckets()
    resp = e.value.response
    assert resp["Error"]["Code"] == "SlowDown"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert int(resp["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1


def test_per_key_limit_across_addresses(limited):
    user = new_user(limited)
    codes = [rest_get(limited, user, new_ip()).status_code for _ in range(BURST + 1)]
    assert codes == [200] * BURST + [429]
    # the same key on S3 shares nothing with the API key: its own bucket
    s3 = s3_client(limited, user, new_ip())
    s3.list_buckets()


def test_per_ip_limit_across_keys_and_before_auth(limited):
    ip = new_ip()
    a, b = new_user(limited), new_user(limited)
    codes = [rest_get(limited, a, ip).status_code, rest_get(limited, b, ip).status_code,
             rest_get(limited, None, ip).status_code, rest_get(limited, a, ip).status_code,
             rest_get(limited, b, ip).status_code]
    assert codes == [200, 200, 401, 200, 429]
    with pytest.raises(ClientError) as e:
        s3_client(limited, b, ip).list_buckets()
    assert e.value.response["Error"]["Code"] == "SlowDown"


def test_operations_endpoints_are_not_limited(limited):
    ip = new_ip()
    for _ in range(BURST + 1):
        rest_get(limited, None, ip)
    for path in ("/health", "/ready", "/metrics"):
        for _ in range(3):
            assert rest_get(limited, None, ip, path).status_code == 200


def test_forwarded_for_only_from_trusted_proxies(limited):
    u = urlsplit(limited.endpoint)
    # from 127.0.0.2 (not a trusted proxy) X-Forwarded-For is ignored: every request is 127.0.0.2's
    statuses = []
    for _ in range(BURST + 1):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10, source_address=("127.0.0.2", 0))
        conn.request("GET", "/buckets", headers={"X-Forwarded-For": new_ip()})
        statuses.append(conn.getresponse().status)
        conn.close()
    assert statuses == [401] * BURST + [429]
    # from the trusted proxy, the right-most untrusted hop is the client; spoofed hops left of it do not help
    ip = new_ip()
    codes = [requests.get(limited.endpoint + "/buckets",
                          headers={"X-Forwarded-For": f"{new_ip()}, {ip}"}).status_code for _ in range(BURST + 1)]
    assert codes == [401] * BURST + [429]


def _served_by(sp, request_ids: list[str]) -> set[str]:
    log = (sp.data_dir.parent / f"{sp.data_dir.name}-serve.log").read_text(errors="replace")
    pids = set()
    for rid in request_ids:
        m = re.search(r"\[(\d+)\] request_id=" + rid, log)
        if m:
            pids.add(m.group(1))
    return pids


def test_limit_holds_per_pod_across_workers(limited):
    """Many concurrent connections from one client land on both workers; together they get the
    burst, not the burst per worker."""
    for _attempt in range(5):
        ip = new_ip()
        results: list[requests.Response] = []
        lock = threading.Lock()

        def hit():
            r = requests.get(limited.endpoint + "/buckets", headers={"X-Forwarded-For": ip, "Connection": "close"})
            with lock:
                results.append(r)

        threads = [threading.Thread(target=hit) for _ in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        passed = [r for r in results if r.status_code != 429]
        assert len(passed) <= BURST + 1, [r.status_code for r in results]   # +1: a token may refill
        assert len(passed) >= BURST
        pids = _served_by(limited, [r.headers["x-amz-request-id"] for r in results])
        if len(pids) == 2:
            return
    pytest.fail("the requests never reached both workers, so the per-pod figure was not shown")


# --------------------------------------------------------------------------- the table itself
def test_token_bucket_refill_and_retry_after():
    from s3server.auth.ratelimit import TokenBuckets
    now = [1000.0]
    tb = TokenBuckets(60, 3, clock=lambda: now[0])          # 1 token/s, burst 3
    assert [tb.take("a") for _ in range(3)] == [None] * 3
    assert tb.take("a") == pytest.approx(1.0)
    assert tb.take("b") is None                              # another key: its own bucket
    now[0] += 0.5
    assert tb.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert tb.take("a") is None and tb.take("a") is not None
    now[0] += 100
    assert [tb.take("a") for _ in range(4)].count(None) == 3    # never more than the burst


def test_shared_file_is_one_limit_for_many_processes(tmp_path):
    """Forked processes using the same file draw on the same buckets."""
    import multiprocessing
    from s3server.auth.ratelimit import TokenBuckets

    def worker(q):
        tb = TokenBuckets(6, 10, path=tmp_path / "rl.bin")
        q.put(sum(tb.take("ip:1.2.3.4") is None for _ in range(10)))

    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(q,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert sum(q.get(timeout=5) for _ in procs) == 10


def test_full_group_evicts_refilled_buckets_first():
    from s3server.auth.ratelimit import GROUPS, WAYS, TokenBuckets
    now = [0.0]
    tb = TokenBuckets(60, 2, clock=lambda: now[0])
    for i in range(GROUPS * WAYS * 2):                       # more keys than slots: never raises
        tb.take(f"k{i}")
    tb.take("hot")
    tb.take("hot")
    assert tb.take("hot") is not None                         # just used: still limited
