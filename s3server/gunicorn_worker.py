"""The gateway's gunicorn worker: gunicorn's gevent worker, except that a graceful stop closes
the connections that sit idle between requests at once.

On SIGTERM (a rolling update, a scale-down) a gevent worker stops accepting, lets the requests
in flight finish, and exits when no connection is left, or after ``graceful_timeout`` (30 s).
A connection that waits for its client's next request counts as one: with ``keepalive`` at 75 s
(longer than load balancers keep idle connections) and SDKs that pool connections, nearly every
stop took the full 30 s. Here the wait for a next request is listed while it lasts, and once the
worker is stopping each listed wait ends as gunicorn's own keep-alive timeout ends it: no request,
the connection closed, no answer sent (a client sending on it then sees the close and retries on
a new connection, as HTTP clients do for a reused connection). Requests in flight are not
touched; gunicorn closes their connections after their answers.
"""
from __future__ import annotations

import gevent
from gunicorn.workers.ggevent import GeventWorker

STOP_CHECK_SECONDS = 0.2


class _IdleWait:
    """gunicorn's wait for a connection's next request (a ``gevent.Timeout`` that ends it
    quietly), listed in ``idle`` while it lasts."""

    def __init__(self, timeout: gevent.Timeout, idle: dict):
        self.timeout = timeout
        self.idle = idle

    def __enter__(self):
        self.idle[gevent.getcurrent()] = self.timeout
        return self.timeout.__enter__()

    def __exit__(self, typ, value, tb):
        self.idle.pop(gevent.getcurrent(), None)
        return self.timeout.__exit__(typ, value, tb)


class GatewayWorker(GeventWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.idle: dict = {}        # greenlet -> the Timeout of its wait for a next request

    def timeout_ctx(self):
        return _IdleWait(super().timeout_ctx(), self.idle)

    def run(self):
        gevent.spawn(self._close_idle_when_stopping)
        super().run()

    def _close_idle_when_stopping(self) -> None:
        while self.alive:
            gevent.sleep(STOP_CHECK_SECONDS)
        loop = gevent.get_hub().loop
        while True:        # until the process exits (answers finishing now close their connections)
            for greenlet, timeout in list(self.idle.items()):
                loop.run_callback(self._end_wait, greenlet, timeout)
            gevent.sleep(STOP_CHECK_SECONDS)

    def _end_wait(self, greenlet, timeout: gevent.Timeout) -> None:
        """In the hub, as gevent's own timeouts fire: throw the wait's Timeout into its greenlet
        if it is still in that wait (checked here, where nothing else can run in between), and
        its ``with`` swallows it exactly as when keepalive runs out."""
        if self.idle.get(greenlet) is timeout and not greenlet.dead:
            greenlet.throw(timeout)
