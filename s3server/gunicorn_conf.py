"""gunicorn settings for the gateway: gevent workers. The only module that knows gevent.

Used as ``gunicorn -c python:s3server.gunicorn_conf s3server.wsgi:app`` (the container
command) and by ``s3server gateway`` / ``s3server serve``, which run the same thing.
"""
import os

_port = os.environ.get("S3_PORT", "7841")
_bind_host = os.environ.get("S3_BIND", "0.0.0.0")

bind = [f"{_bind_host}:{_port}"]
workers = int(os.environ.get("S3_WORKERS", "2"))
worker_class = "gevent"
worker_connections = int(os.environ.get("S3_WORKER_CONNECTIONS", "1000"))
timeout = 120            # heartbeat; gevent workers stay responsive during long transfers
graceful_timeout = 30
keepalive = 75           # behind load balancers that keep connections for 60 s
accesslog = None         # the app logs one line per request with its request id
errorlog = "-"
loglevel = os.environ.get("S3_LOG_LEVEL", "info")
proc_name = "s3server-gateway"
forwarded_allow_ips = os.environ.get("S3_TRUSTED_PROXIES", "127.0.0.1")
if os.environ.get("S3_CERTFILE") and os.environ.get("S3_KEYFILE"):
    certfile = os.environ["S3_CERTFILE"]
    keyfile = os.environ["S3_KEYFILE"]
# gunicorn >= 24 opens a control socket at one fixed path per user; several gateways on
# one machine (tests, side-by-side serves) would fight over it. We do not use it.
control_socket_disable = True
