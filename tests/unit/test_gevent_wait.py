"""The gateway's psycopg wait function (gunicorn_conf.post_worker_init installs it in every
gevent worker), run under gevent against a real PostgreSQL in a child process: queries on
several connections overlap (nothing blocks the hub), results arrive intact, and psycopg's
own timeouts still fire."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap


SCRIPT = textwrap.dedent("""
    from gevent import monkey; monkey.patch_all()
    import sys, time
    import gevent, psycopg, psycopg.waiting
    from s3server import gunicorn_conf
    gunicorn_conf.post_worker_init(None)
    assert psycopg.waiting.wait.__qualname__.startswith("_hub_wait"), psycopg.waiting.wait
    dsn = sys.argv[1]
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(8)]
    def q(c, i):
        return c.execute("SELECT pg_sleep(0.3), %s::int, repeat('x', 200000)", (i,)).fetchone()
    t0 = time.monotonic()
    jobs = [gevent.spawn(q, c, i) for i, c in enumerate(conns)]
    gevent.joinall(jobs, raise_error=True)
    rows = [g.value for g in jobs]
    took = time.monotonic() - t0
    assert [r[1] for r in rows] == list(range(8)) and all(r[2] == "x" * 200000 for r in rows), [r[1] for r in rows]
    assert took < 1.5, f"8 x 0.3 s queries took {took:.2f} s: they did not overlap"
    try:
        psycopg.connect(dsn.replace("127.0.0.1", "10.255.255.1"), connect_timeout=1)
    except psycopg.OperationalError:
        pass
    with conns[0].cursor() as cur:
        cur.execute("SET statement_timeout = 200")
        try:
            cur.execute("SELECT pg_sleep(2)")
            raise SystemExit("statement_timeout did not fire")
        except psycopg.errors.QueryCanceled:
            pass
    print("ok", round(took, 2))
""")


def test_hub_wait_overlaps_queries_and_keeps_timeouts(pg_database, tmp_path):
    dsn = pg_database.plain_url
    env = {**os.environ, "S3_RUN_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, dsn], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stdout + out.stderr
