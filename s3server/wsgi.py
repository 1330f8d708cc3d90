"""The gunicorn target: ``gunicorn -c python:s3server.gunicorn_conf s3server.wsgi:app``.

Settings come from the S3_* environment; the app is built when a worker imports this
module (after gevent has patched the worker), never in the master.
"""
from s3server.app import create_app
from s3server.config import Settings
from s3server.logs import setup_logging

setup_logging(Settings.from_env().log_level)
app = create_app(Settings.from_env())
