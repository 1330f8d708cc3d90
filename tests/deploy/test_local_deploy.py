"""The deployment, run here without Docker or a cluster: the containers' commands from the
Dockerfile and k8s/ started as plain local processes with the manifests' environment (hosts
rewritten to 127.0.0.1, ports to free ones, volume paths to temp dirs), against a throwaway
PostgreSQL database. Three storage nodes and the gateway (gunicorn, gevent workers) come up,
the probes answer on the manifests' paths, boto3 round-trips an object, the `Admin API Key`
line is in the gateway's log, the Dockerfile's HEALTHCHECK passes and the repair CronJob's
command runs clean."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.deploy import model as m


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def executable(argv: list[str]) -> list[str]:
    """argv[0] as the container finds it on PATH: the console script this environment installed."""
    here = Path(sys.executable).parent / argv[0]
    found = str(here) if here.exists() else shutil.which(argv[0])
    assert found, f"{argv[0]} is not installed (pip install -e .)"
    return [found, *argv[1:]]


def replace_flag(argv: list[str], flag: str, value: str) -> list[str]:
    i = argv.index(flag)
    return argv[:i + 1] + [value] + argv[i + 2:]


def http_get(url: str, headers: dict | None = None, timeout: float = 5) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_status(url: str, want: int, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"process exited ({proc.returncode}) before {url} answered:\n{log.read_text()[-4000:]}"
        try:
            last = http_get(url, timeout=2)
            if last[0] == want:
                return
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {want} in {timeout}s (last: {last}):\n{log.read_text()[-4000:]}")


def children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


class Procs:
    def __init__(self):
        self.items: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, argv: list[str], env: dict, logdir: Path) -> tuple[subprocess.Popen, Path]:
        log = logdir / f"{name}.log"
        fh = open(log, "wb")
        proc = subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        fh.close()
        self.items.append((name, proc, log))
        return proc, log

    def stop_all(self) -> dict[str, int | None]:
        codes = {}
        for name, p, _ in reversed(self.items):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)   # what the kubelet sends
        for name, p, _ in reversed(self.items):
            try:
                codes[name] = p.wait(45)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                codes[name] = None
        return codes


@pytest.fixture
def procs():
    ps = Procs()
    yield ps
    ps.stop_all()


def test_the_manifests_commands_run_as_local_processes(pg_database, tmp_path, procs):
    from sqlalchemy.engine import make_url

    objs = m.all_objects()
    cm, sec = m.config_env(objs)
    image_env = m.image_env()
    logs = tmp_path / "logs"
    logs.mkdir()
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **image_env}

    def pod_env(container: dict, volumes: dict[str, Path], pod_name: str) -> dict:
        """The container's environment: the image's ENV, envFrom sources, env (fieldRefs
        resolved), HOME/TMPDIR on the pod's own /tmp volume."""
        env = dict(base_env)
        for src in container.get("envFrom", []):
            if "configMapRef" in src:
                env.update(cm)
            if "secretRef" in src:
                env.update(sec)
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            elif e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name":
                env[e["name"]] = pod_name
        for mount in container.get("volumeMounts", []):    # absolute paths into volumes -> temp dirs
            for k, v in list(env.items()):
                if v == mount["mountPath"] or v.startswith(mount["mountPath"].rstrip("/") + "/"):
                    env[k] = str(volumes[mount["mountPath"]]) + v[len(mount["mountPath"]):]
        env["HOME"] = env["TMPDIR"] = str(volumes["/tmp"])
        return env

    def volumes_for(container: dict, pod_name: str) -> dict[str, Path]:
        vols = {}
        for mount in container.get("volumeMounts", []):
            d = tmp_path / pod_name / mount["name"]
            d.mkdir(parents=True)
            vols[mount["mountPath"]] = d
        return vols

    # ---- storage nodes: the StatefulSet's command, one process per pod
    sts = m.node_statefulset(objs)
    nc = m.node_container(objs)
    node_ports: dict[str, int] = {}
    node_procs = []
    for i in range(sts["spec"]["replicas"]):
        pod = f"{sts['metadata']['name']}-{i}"
        vols = volumes_for(nc, pod)
        env = pod_env(nc, vols, pod)
        argv = m.expand_k8s_vars(m.container_argv(nc), env)
        data_dir = argv[argv.index("--data-dir") + 1]
        argv = replace_flag(argv, "--data-dir", str(vols[data_dir]))
        node_ports[pod] = free_port()
        argv = replace_flag(argv, "--port", str(node_ports[pod]))
        assert argv[argv.index("--bind") + 1] == "0.0.0.0" and argv[argv.index("--node-id") + 1] == pod
        node_procs.append((pod, *procs.start(pod, executable(argv), env, logs)))
    for pod, proc, log in node_procs:
        for probe in ("readinessProbe", "livenessProbe"):
            wait_status(f"http://127.0.0.1:{node_ports[pod]}{nc[probe]['httpGet']['path']}", 200, proc, log)
        assert f"storage node {pod} listening" in log.read_text()

    # ---- the gateway: the Deployment's command (= the Dockerfile's CMD) with its environment
    gc = m.gateway_container(objs)
    gw_argv = m.container_argv(gc)
    assert gw_argv == m.image_cmd(), "the Deployment runs the image's default command"
    gw_vols = volumes_for(gc, "api-gateway-0")
    env = pod_env(gc, gw_vols, "api-gateway-0")
    port = free_port()
    env["S3_PORT"] = str(port)
    nodes = []
    for item in env["S3_STORAGE_NODES"].split(","):
        node_id, url = item.split("=", 1)
        u = urlsplit(url)
        assert u.hostname.split(".")[0] == node_id and u.port == int(m.container_argv(nc)[m.container_argv(nc).index("--port") + 1])
        nodes.append(f"{node_id}=http://127.0.0.1:{node_ports[node_id]}")
    env["S3_STORAGE_NODES"] = ",".join(nodes)
    pg = make_url(pg_database.url)
    env["S3_DATABASE_URL"] = make_url(env["S3_DATABASE_URL"]).set(
        host=pg.host, port=pg.port, username=pg.username, password=pg.password,
        database=pg.database).render_as_string(hide_password=False)
    assert env["S3_BIND"] == "0.0.0.0" and env["S3_RATE_LIMIT_PER_MIN"] == "100"
    gw, gw_log = procs.start("api-gateway", executable(gw_argv), env, logs)

    endpoint = f"http://127.0.0.1:{port}"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        wait_status(endpoint + gc[probe]["httpGet"]["path"], 200, gw, gw_log)
    status, body = http_get(endpoint + gc["readinessProbe"]["httpGet"]["path"])
    ready = json.loads(body)
    assert ready["database"] is True and all(ready["nodes"].values()), ready

    # `s3server gateway` exec'd gunicorn in place (same pid: the kubelet's SIGTERM reaches it)
    # with S3_WORKERS gevent workers
    cmdline = Path(f"/proc/{gw.pid}/cmdline").read_bytes().split(b"\0")
    assert b"gunicorn" in b" ".join(cmdline) and b"python:s3server.gunicorn_conf" in cmdline, cmdline
    deadline = time.monotonic() + 30
    while len(children_of(gw.pid)) != int(env["S3_WORKERS"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(children_of(gw.pid)) == int(env["S3_WORKERS"])
    from s3server import gunicorn_conf
    assert gunicorn_conf.worker_class == "s3server.gunicorn_worker.GatewayWorker"    # gevent, see there

    # the first start created the admin and logged its credentials
    text = gw_log.read_text()
    api_key = re.search(r"^Admin API Key: (\S+)$", text, re.M)
    access_key = re.search(r"^Admin access key: (\S+)$", text, re.M)
    secret_key = re.search(r"^Admin secret key: (\S+)$", text, re.M)
    assert api_key and access_key and secret_key, text[-4000:]

    # boto3 through the gateway, as a client behind the LoadBalancer would
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key.group(1),
                      aws_secret_access_key=secret_key.group(1), region_name=cm["S3_REGION"],
                      config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60))
    body = os.urandom(3 * 1024 * 1024 + 17)
    s3.create_bucket(Bucket="deploy-check")
    s3.put_object(Bucket="deploy-check", Key="dir/blob.bin", Body=body)
    got = s3.get_object(Bucket="deploy-check", Key="dir/blob.bin")["Body"].read()
    assert got == body
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="deploy-check")["Contents"]] == ["dir/blob.bin"]
    # the manifests set no SSE master key (secret.yaml says how): SSE-S3 is refused, nothing stored
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="deploy-check", Key="encrypted", Body=b"x", ServerSideEncryption="AES256")
    assert refused.value.response["Error"]["Code"] == "NotImplemented"
    assert "S3_SSE_KEY" in refused.value.response["Error"]["Message"]
    del refused      # its traceback holds botocore's frames and their connection, open until dropped
    # the logged API key works on the REST routes (the README's curl examples)
    status, listing = http_get(endpoint + "/buckets", {"Authorization": f"Bearer {api_key.group(1)}"})
    assert status == 200 and "deploy-check" in listing.decode()
    s3.close()   # no idle keep-alive connection holding a worker in its graceful shutdown

    # Prometheus scrapes what the pod annotations say
    ann = m.pod_template(m.gateway_deployment(objs))["metadata"]["annotations"]
    status, metrics = http_get(endpoint + ann["prometheus.io/path"])
    assert status == 200 and b"# TYPE" in metrics

    # the Dockerfile's HEALTHCHECK command, for both roles (a node container gets S3_PORT=7881)
    hc = m.exec_form(m.dockerfile_stages()[-1].last("HEALTHCHECK"))
    assert hc[0] == "python"
    for p in (port, node_ports["storage-node-0"]):
        r = subprocess.run([sys.executable, *hc[1:]], env={**base_env, "S3_PORT": str(p)}, timeout=30,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    # the repair CronJob's command against the same system
    rc = m.pod_template(m.one(objs, "CronJob", "s3-repair"))["spec"]["containers"][0]
    rvols = volumes_for(rc, "s3-repair-0")
    renv = pod_env(rc, rvols, "s3-repair-0")
    for k in ("S3_STORAGE_NODES", "S3_DATABASE_URL"):
        renv[k] = env[k]
    r = subprocess.run(executable(m.container_argv(rc)), env=renv, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["event"] == "summary" and summary["completed"], r.stdout
    # daily passes, S3_SCRUB_DAYS=7: this pass scrubbed the seventh of the blobs whose turn it is
    index, count = (int(x) for x in summary["scrub_share"].split("/"))
    assert count == 7 and 0 <= index < 7, summary

    # SIGTERM to the gateway while a client holds an idle keep-alive connection and another is in
    # the middle of an upload: the upload completes, the idle connection is closed at once without
    # an answer, and the gateway exits without waiting out graceful_timeout (30 s) for the client
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    idle.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert idle.recv(65536).startswith(b"HTTP/1.1 200")
    url = urlsplit(boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key.group(1),
                                aws_secret_access_key=secret_key.group(1), region_name=cm["S3_REGION"])
                   .generate_presigned_url("put_object", Params={"Bucket": "deploy-check", "Key": "in-flight"},
                                           ExpiresIn=300))
    upload = os.urandom(1024 * 1024)
    busy = socket.create_connection(("127.0.0.1", port), timeout=30)
    busy.sendall(f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                 f"Content-Length: {len(upload)}\r\n\r\n".encode() + upload[:1000])
    time.sleep(0.5)
    stopping = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    assert idle.recv(1) == b""                                   # closed, nothing sent
    time.sleep(0.5)
    busy.sendall(upload[1000:])
    reply = b"".join(iter(lambda: busy.recv(65536), b""))
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert gw.wait(25) == 0 and time.monotonic() - stopping < 10, gw_log.read_text()[-3000:]
    idle.close()
    busy.close()

    # SIGTERM to the rest, as on a rolling update or scale-down: everything stops cleanly and in time
    codes = procs.stop_all()
    grace = m.pod_template(m.gateway_deployment(objs))["spec"]["terminationGracePeriodSeconds"]
    assert all(c == 0 for c in codes.values()), (codes, gw_log.read_text()[-3000:])
    assert grace > 30   # gunicorn's graceful_timeout
