"""Read the deployment files (Dockerfile, .dockerignore, k8s/) and the code's own settings into
plain Python objects the deploy tests check against each other."""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CODE_PACKAGES = ("s3server", "storage_node")
ENV_NAME = re.compile(r"^S3_[A-Z0-9_]+$")


# --------------------------------------------------------------------------- k8s
def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.iterdir() if p.suffix in (".yaml", ".yml") and p.name != "kustomization.yaml")


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def all_objects() -> list[dict]:
    out = []
    for p in manifest_files():
        for d in load_docs(p):
            d = dict(d)
            d["__file__"] = p.name
            out.append(d)
    return out


def by_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_template(obj: dict) -> dict | None:
    """The pod template of a workload (Deployment, StatefulSet, DaemonSet, Job, CronJob)."""
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]
    return spec.get("template")


def workloads(objs: list[dict]) -> list[dict]:
    return [o for o in objs if pod_template(o) is not None]


def selector_matches(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) or a plain Service selector map."""
    if "matchLabels" in selector or "matchExpressions" in selector:
        ml = selector.get("matchLabels", {}) or {}
        exprs = selector.get("matchExpressions", []) or []
    else:
        ml, exprs = selector, []
    if any(labels.get(k) != v for k, v in ml.items()):
        return False
    for e in exprs:
        key, op, values = e["key"], e["operator"], e.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def container_port(container: dict, port) -> int:
    """A probe's or Service's port (a number or a container port name) as a number."""
    if isinstance(port, int):
        return port
    if str(port).isdigit():
        return int(port)
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError(f"container {container['name']} has no port named {port!r}")


def config_env(objs: list[dict] | None = None) -> tuple[dict, dict]:
    """(ConfigMap data, Secret stringData/data) of the gateway's envFrom sources."""
    import base64

    objs = objs if objs is not None else all_objects()
    gw = gateway_container(objs)
    cm, sec = {}, {}
    for src in gw.get("envFrom", []):
        if "configMapRef" in src:
            cm.update(one(objs, "ConfigMap", src["configMapRef"]["name"]).get("data", {}))
        if "secretRef" in src:
            s = one(objs, "Secret", src["secretRef"]["name"])
            sec.update({k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()})
            sec.update(s.get("stringData") or {})
    return cm, sec


def gateway_deployment(objs: list[dict]) -> dict:
    return one(objs, "Deployment", "api-gateway")


def gateway_container(objs: list[dict]) -> dict:
    return pod_template(gateway_deployment(objs))["spec"]["containers"][0]


def node_statefulset(objs: list[dict]) -> dict:
    return one(objs, "StatefulSet", "storage-node")


def node_container(objs: list[dict]) -> dict:
    return pod_template(node_statefulset(objs))["spec"]["containers"][0]


def container_argv(container: dict) -> list[str]:
    return list(container.get("command", [])) + list(container.get("args", []))


def expand_k8s_vars(argv: list[str], env: dict) -> list[str]:
    """Kubernetes' $(VAR) expansion in command/args."""
    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in argv]


# --------------------------------------------------------------------------- Dockerfile
@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [v for i, v in self.instructions if i == instruction]

    def last(self, instruction: str) -> str | None:
        vals = self.all(instruction)
        return vals[-1] if vals else None


def dockerfile_stages() -> list[Stage]:
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(str(DOCKERFILE))
    stages: list[Stage] = []
    for ins in parser.structure:
        if ins["instruction"] == "COMMENT":
            continue
        if ins["instruction"] == "FROM":
            parts = ins["value"].split()
            stages.append(Stage(parts[0], parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None))
            continue
        assert stages, "an instruction before FROM"
        stages[-1].instructions.append((ins["instruction"], ins["value"]))
    return stages


def exec_form(value: str | None) -> list[str] | None:
    """A CMD/ENTRYPOINT in exec form (JSON array) as a list; None if absent."""
    if value is None:
        return None
    v = value.strip()
    if not v.startswith("[") and " CMD " in f" {v} ":  # HEALTHCHECK [OPTIONS] CMD [...]
        v = v.split("CMD", 1)[1].strip()
    assert v.startswith("["), f"not in exec form: {value!r}"
    return json.loads(v)


def image_env() -> dict:
    """The final stage's ENV (what every container of the image starts with)."""
    from dockerfile_parse import DockerfileParser

    return dict(DockerfileParser(str(DOCKERFILE)).envs)


def image_cmd() -> list[str]:
    final = dockerfile_stages()[-1]
    entry = exec_form(final.last("ENTRYPOINT")) or []
    cmd = exec_form(final.last("CMD")) or []
    return entry + cmd


# --------------------------------------------------------------------------- the code's settings
@dataclass(frozen=True)
class EnvRead:
    name: str
    has_default: bool
    where: str


def code_env_reads() -> dict[str, EnvRead]:
    """Every S3_* variable the code reads: the Settings fields that ``Settings.from_env`` maps
    (``S3_`` + field name), plus every ``os.environ.get/[...]``/``os.getenv`` of an S3_* name in
    s3server/ and storage_node/. ``has_default``: the code works without it."""
    reads: dict[str, EnvRead] = {}

    def add(name: str, has_default: bool, where: str) -> None:
        old = reads.get(name)
        reads[name] = EnvRead(name, has_default or (old.has_default if old else False), where)

    # Settings: the fields named in from_env's conversion table, with their dataclass defaults
    config = ROOT / "s3server" / "config.py"
    tree = ast.parse(config.read_text())
    settings_cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    defaults = {}
    for st in settings_cls.body:
        if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
            defaults[st.target.id] = st.value is not None
    conv_keys: set[str] = set()
    for node in ast.walk(settings_cls):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "conv" for t in node.targets):
            conv_keys = {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    assert conv_keys, "Settings.from_env's conversion table not found"
    for key in conv_keys:
        add("S3_" + key.upper(), defaults.get(key, False), "s3server/config.py Settings")

    # direct environment reads
    for pkg in CODE_PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            for node in ast.walk(ast.parse(path.read_text())):
                name = None
                default = False
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                    f = node.func
                    target = ast.unparse(f.value)
                    if (f.attr == "get" and target.endswith("environ")) or (f.attr == "getenv" and target == "os"):
                        name, default = node.args[0], True
                elif isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("environ"):
                    name = node.slice
                if isinstance(name, ast.Constant) and isinstance(name.value, str) and ENV_NAME.match(name.value):
                    add(name.value, default, rel)
    return reads
