"""Settings: the one place that reads the environment. Every knob is named S3_*.

A leaf: imports nothing of ours.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

DEFAULT_PORT = 7841
DEFAULT_NODE_PORT = 7881


def parse_nodes(spec: str) -> tuple[tuple[str, str], ...]:
    """``"node-0=http://h:7881,http://h2:7882"`` -> ``(("node-0", url), ("h2:7882", url))``.

    A node's id is what metadata records, so it must stay stable when its URL
    changes; give ids explicitly when URLs may move. A bare URL's id is its host:port.
    """
    nodes: list[tuple[str, str]] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" in item:
            node_id, url = item.split("=", 1)
        else:
            url = item
            node_id = url.split("://", 1)[-1].rstrip("/")
        url = url.strip().rstrip("/")
        if "://" not in url:
            url = "http://" + url
        nodes.append((node_id.strip(), url))
    ids = [n for n, _ in nodes]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate storage node ids in {spec!r}")
    return tuple(nodes)


def format_nodes(nodes: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f"{i}={u}" for i, u in nodes)


def _bool(v: str) -> bool:
    return v.strip().lower() in ("1", "true", "yes", "on")


MAX_INLINE = 65536        # S3_INLINE_MAX's ceiling: inline bytes are meant for small rows
MAX_WRITE_BATCH_ITEM = 256 * 1024   # S3_WRITE_BATCH_MAX's ceiling: bigger bodies stream to the nodes


def setting(default, *, group: str, doc: str, example: str, default_doc: str = "", secret: bool = False):
    """A Settings field that is an ``S3_*`` environment variable, with what docs/settings.md says
    of it (``python -m s3server.config --markdown`` writes that page; tests/docs checks it).
    ``default_doc`` replaces the default's own text where a command puts another in place."""
    return field(default=default, repr=not secret,
                 metadata={"group": group, "doc": doc, "example": example, "default_doc": default_doc})


GATEWAY, STORAGE, METADATA, ADDRESSING, SECURITY, LIMITS, REPAIR = (
    "Gateway process", "Storage nodes and replication", "Metadata database", "Addressing",
    "Credentials, encryption and trust", "Limits and timeouts", "Repair and scrub")


@dataclass(frozen=True)
class Settings:
    """Everything the gateway and the tools need. Built once, passed down.

    Every field but ``extra`` is the environment variable ``S3_<NAME>``: give a new one a
    ``setting(...)`` with its description and an entry in ``from_env``'s table, then regenerate
    docs/settings.md (``python -m s3server.config --markdown > docs/settings.md``)."""
    # ---- gateway process
    data_dir: Path = setting(
        Path("data"), group=GATEWAY, example="/var/lib/s3server",
        default_doc="`./data`",
        doc="`serve`, `admin`, `repair`: the data directory, holding `meta.db` (SQLite), `node-0..2/`, "
            "`serve.json`, `admin-credentials.json` and `sse.key`. `serve --data-dir` overrides it.")
    bind: str = setting(
        "127.0.0.1", group=GATEWAY, example="0.0.0.0",
        doc="the gateway's listening address, for `serve` and `gateway` alike (`--bind` overrides it). "
            "The container image and the k8s ConfigMap set `0.0.0.0`, since 127.0.0.1 cannot be reached "
            "from outside a pod; the storage nodes of `serve` always listen on 127.0.0.1.")
    port: int = setting(DEFAULT_PORT, group=GATEWAY, example="8080",
                        doc="the gateway's port: S3 API, JSON REST API, `/health`, `/ready`, `/metrics`.")
    workers: int = setting(2, group=GATEWAY, example="4",
                           doc="gunicorn worker processes (gevent) per gateway.")
    worker_connections: int = setting(
        1000, group=GATEWAY, example="2000",
        doc="the most client connections one gateway worker serves at once (gunicorn's "
            "`worker_connections` for the gevent worker); a pod takes up to `S3_WORKERS` times this.")
    log_level: str = setting("info", group=GATEWAY, example="warning",
                             doc="log level of the gateway and the `s3server` commands (`debug`, `info`, `warning`, `error`).")
    run_dir: str = setting(
        "", group=GATEWAY, example="/run/s3server", default_doc="a fresh temp dir",
        doc="pod-local directory that the gunicorn master empties and fills before forking: the "
            "workers' shared rate-limit table and the Prometheus multiprocess files. Set it only to an "
            "`emptyDir` (never a volume shared by pods).")
    certfile: str = setting("", group=GATEWAY, example="/etc/s3server/tls.crt",
                            doc="serve HTTPS with this certificate (with `S3_KEYFILE`; `--certfile`).")
    keyfile: str = setting("", group=GATEWAY, example="/etc/s3server/tls.key",
                           doc="the certificate's private key (`--keyfile`).")
    blob_cache_mb: float = setting(
        32.0, group=GATEWAY, example="64",
        doc="per gateway worker: memory for the bytes of small blobs (up to 256 KiB) once read, so hot "
            "small objects skip the storage nodes (see [design](design.md#get)); `0`: off.")
    # ---- storage nodes and replication
    storage_nodes: tuple[tuple[str, str], ...] = setting(
        (), group=STORAGE, example="node-0=http://node-0:7881,node-1=http://node-1:7881,"
                                   "node-2=http://node-2:7881,node-3=http://node-3:7881",
        default_doc="set by `serve`",
        doc="`id=url,...`: the storage nodes (`gateway` and `repair` need it). Ids are recorded with every "
            "blob: keep them stable when URLs move, never rename or reorder them; a bare URL's id is its "
            "host:port.")
    node_base_port: int = setting(DEFAULT_NODE_PORT, group=STORAGE, example="0",
                                  doc="`serve`: first storage-node port (`0`: any free ports).")
    replicas: int = setting(3, group=STORAGE, example="4", doc="copies of every blob (at most the number of storage nodes).")
    write_quorum: int = setting(2, group=STORAGE, example="3",
                                doc="copies on disk before a write is acknowledged (1..`S3_REPLICAS`).")
    node_timeout: float = setting(10.0, group=STORAGE, example="30", doc="seconds per storage-node I/O.")
    node_down_seconds: float = setting(5.0, group=STORAGE, example="10",
                                       doc="seconds a failed storage node is skipped.")
    fsync: bool = setting(True, group=STORAGE, example="0",
                          doc="`serve`: storage nodes fsync every blob (`0` only for throwaway data).")
    write_batch_max: int = setting(
        65536, group=STORAGE, example="0",
        doc=f"copies of objects (and parts) up to this many bytes (at most {MAX_WRITE_BATCH_ITEM}) go to "
            "each storage node in batches with the other small writes waiting for it (see "
            "[design](design.md#put)); `0`: one request per copy.")
    inline_max: int = setting(
        4096, group=STORAGE, example="0",
        doc=f"objects up to this many bytes (at most {MAX_INLINE}) also keep a copy of their bytes in "
            "their metadata row, and GETs are served from it (see "
            "[design](design.md#inline-copies-of-small-objects)); `0`: off.")
    # ---- metadata database
    database_url: str = setting(
        "", group=METADATA, example="postgresql+psycopg://s3server:secret@db:5432/s3server",
        default_doc="`sqlite:///<data dir>/meta.db`",
        doc="the metadata database: SQLite or PostgreSQL (psycopg 3).")
    db_pool_size: int = setting(
        10, group=METADATA, example="20",
        doc="PostgreSQL connections per worker for reads and single-statement writes (+5 overflow); "
            "multi-statement transactions get half as many (+5), and each worker holds one more for "
            "`LISTEN`: at most 26 per worker with the default.")
    # ---- addressing
    region: str = setting("us-east-1", group=ADDRESSING, example="eu-west-1",
                          doc="the region reported and used for new buckets.")
    domain: str = setting("", group=ADDRESSING, example="s3.example.com",
                          doc="enables virtual-hosted-style requests: `<bucket>.<domain>`.")
    website_domain: str = setting(
        "", group=ADDRESSING, example="s3-website.example.com",
        default_doc="empty; `s3-website.localhost` in `serve`",
        doc="enables the website endpoint: a Host of `<bucket>.<website domain>` is served as a static "
            "website (see [websites](api-coverage.md#websites)); must differ from `S3_DOMAIN`. "
            "`serve` sets its own unless the variable is there, so `S3_WEBSITE_DOMAIN=` (empty) turns it off.")
    # ---- credentials, encryption and trust
    admin_access_key: str = setting("", group=SECURITY, example="AKADMIN0000000000001", default_doc="generated",
                                    doc="fixes the admin's S3 access key id (with `S3_ADMIN_SECRET_KEY`).")
    admin_secret_key: str = setting("", group=SECURITY, example="admin-secret-key-at-least-16-chars",
                                    default_doc="generated", secret=True,
                                    doc="fixes the admin's S3 secret key.")
    admin_api_key: str = setting("", group=SECURITY, example="s3k_fixed-admin-api-key", default_doc="generated",
                                 secret=True, doc="fixes the admin's REST API key.")
    sse_key: str = setting(
        "", group=SECURITY, example="UIB9GNC4DuTw3BghRQU0vp1TgSHBiN+/cAwOrfGq/Ls=", secret=True,
        default_doc="`serve`: made on first start in `data/sse.key`; else empty",
        doc="SSE-S3's master key: 32 random bytes in base64 (`openssl rand -base64 32`). Empty: uploads "
            "asking for `AES256` are refused (501). Objects encrypted under it cannot be read without it.")
    sse_old_keys: str = setting(
        "", group=SECURITY, example="81JmuajRLi1DYxXvnx/Gw5A3Cx4K3T3JOqT5bsAoTxI=", secret=True,
        doc="earlier master keys (comma-separated), still used to open the data keys they sealed after a "
            "rotation (see [operations](operations.md#rotating-the-sse-s3-master-key)).")
    trusted_proxies: tuple[str, ...] = setting(
        (), group=SECURITY, example="10.0.0.0/8,127.0.0.1",
        doc="addresses or CIDRs whose `X-Forwarded-For` is believed for rate limiting and logs, and whose "
            "`X-Forwarded-Proto: https` makes a request count as HTTPS (SSE-C needs it).")
    rate_limit_per_min: int = setting(
        0, group=SECURITY, example="100",
        doc="requests per minute per client IP and per key, per pod (see "
            "[rate limiting](operations.md#rate-limiting)); `0`: off.")
    rate_limit_burst: int = setting(
        0, group=SECURITY, example="20", default_doc="`0` (same as `S3_RATE_LIMIT_PER_MIN`)",
        doc="token-bucket size: requests allowed at once before the per-minute rate applies.")
    # ---- limits and timeouts
    max_object_size: int = setting(5 * 1024**3, group=LIMITS, example="1073741824",
                                   doc="largest single PUT, in bytes (`EntityTooLarge`).")
    body_idle_timeout: float = setting(
        60.0, group=LIMITS, example="120",
        doc="seconds an upload may send nothing (answer: `400 RequestTimeout`, connection closed) and a "
            "download may take nothing (connection closed); `0`: no limit.")
    # ---- repair and scrub
    repair_interval: float = setting(
        0.0, group=REPAIR, example="3600", default_doc="`0` (off); `3600` in `serve`",
        doc="seconds between background repair passes (`0` turns `serve`'s off too); the gunicorn master of each gateway runs one "
            "`s3server repair --loop` child (on PostgreSQL an advisory lock lets one pod at a time run a pass).")
    gc_grace_seconds: float = setting(
        3600.0, group=REPAIR, example="7200",
        doc="age a node blob must reach before repair's GC may delete it; keep it well above the longest request.")
    scrub_days: float = setting(
        7.0, group=REPAIR, example="14",
        doc="background passes take turns scrubbing: each re-reads the 1/N of the blobs whose turn it is "
            "(N = this x 86400 / `S3_REPAIR_INTERVAL`), so every copy is re-read about once per this many "
            "days; `0`: every pass scrubs everything.")
    scrub_mb_per_s: float = setting(
        50.0, group=REPAIR, example="20",
        doc="scrub reads per pass, in MB/s over all the copies being verified; `0`: as fast as the nodes go.")
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'meta.db'}"

    @property
    def node_urls(self) -> dict[str, str]:
        return dict(self.storage_nodes)

    def with_(self, **kw) -> "Settings":
        return replace(self, **kw)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        env = os.environ if environ is None else environ
        kw: dict = {}
        conv = {
            "data_dir": Path, "bind": str, "port": int, "workers": int, "database_url": str,
            "storage_nodes": parse_nodes, "node_base_port": int, "replicas": int, "write_quorum": int, "region": str,
            "domain": str, "website_domain": str, "admin_access_key": str, "admin_secret_key": str, "admin_api_key": str,
            "rate_limit_per_min": int, "rate_limit_burst": int, "run_dir": str,
            "trusted_proxies": lambda v: tuple(p.strip() for p in v.split(",") if p.strip()),
            "node_timeout": float, "node_down_seconds": float, "max_object_size": int, "body_idle_timeout": float,
            "db_pool_size": int, "fsync": _bool, "certfile": str, "keyfile": str,
            "repair_interval": float, "gc_grace_seconds": float, "log_level": str,
            "scrub_days": float, "scrub_mb_per_s": float, "blob_cache_mb": float,
            "inline_max": int, "write_batch_max": int, "sse_key": str, "sse_old_keys": str,
            "worker_connections": int,
        }
        for f in fields(cls):
            if f.name not in conv:
                continue
            name = "S3_" + f.name.upper()
            if name in env and env[name] != "":
                kw[f.name] = conv[f.name](env[name])
        kw.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(**kw)
        s.validate()
        return s

    def validate(self) -> None:
        if self.worker_connections < 1:
            raise ValueError("S3_WORKER_CONNECTIONS must be >= 1")
        if self.blob_cache_mb < 0:
            raise ValueError("S3_BLOB_CACHE_MB must be >= 0")
        if not 0 <= self.inline_max <= MAX_INLINE:
            raise ValueError(f"S3_INLINE_MAX must be between 0 and {MAX_INLINE} bytes")
        if not 0 <= self.write_batch_max <= MAX_WRITE_BATCH_ITEM:
            raise ValueError(f"S3_WRITE_BATCH_MAX must be between 0 and {MAX_WRITE_BATCH_ITEM} bytes")
        if self.scrub_days < 0 or self.scrub_mb_per_s < 0:
            raise ValueError("S3_SCRUB_DAYS and S3_SCRUB_MB_PER_S must be >= 0")
        if not 1 <= self.write_quorum <= self.replicas:
            raise ValueError("S3_WRITE_QUORUM must be between 1 and S3_REPLICAS")
        if self.rate_limit_per_min < 0 or self.rate_limit_burst < 0:
            raise ValueError("S3_RATE_LIMIT_PER_MIN and S3_RATE_LIMIT_BURST must be >= 0")
        for name, keys in (("S3_SSE_KEY", [self.sse_key]), ("S3_SSE_OLD_KEYS", self.sse_old_keys.split(","))):
            for key in (k.strip() for k in keys if k.strip()):
                try:
                    raw = base64.b64decode(key, validate=True)
                except ValueError:
                    raw = b""
                if len(raw) != 32:
                    raise ValueError(f"{name} must be 32 bytes in base64 (openssl rand -base64 32)")
        if self.sse_old_keys.strip() and not self.sse_key.strip():
            raise ValueError("S3_SSE_OLD_KEYS needs S3_SSE_KEY (the key new objects are encrypted with)")
        if self.storage_nodes and len(self.storage_nodes) < self.replicas:
            raise ValueError(f"S3_STORAGE_NODES lists {len(self.storage_nodes)} nodes, fewer than S3_REPLICAS={self.replicas}")

    def to_env(self) -> dict[str, str]:
        """The S3_* environment that reproduces these settings (for child processes)."""
        out: dict[str, str] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if f.name == "storage_nodes":
                v = format_nodes(v)
            elif f.name == "trusted_proxies":
                v = ",".join(v)
            elif isinstance(v, bool):
                v = "1" if v else "0"
            out["S3_" + f.name.upper()] = str(v)
        return out


# --------------------------------------------------------------------------- docs/settings.md
_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean (`1`/`0`)", "Path": "path",
          "tuple[str, ...]": "comma-separated list", "tuple[tuple[str, str], ...]": "comma-separated `id=url` list"}

SETTINGS_INTRO = """\
# Settings

<!-- Generated from s3server/config.py (the Settings fields and their descriptions) by
     `python -m s3server.config --markdown > docs/settings.md`; tests/docs/test_settings_doc.py
     fails when this file and the code differ. Edit the descriptions there, not here. -->

Every setting is an environment variable. `serve` and `gateway` flags (`--port`, `--bind`,
`--workers`, `--certfile`, `--keyfile`, and `serve --data-dir`) override them. An empty value
counts as unset. `s3server serve` and `s3server gateway` pass the settings on to the gunicorn
workers and to `s3server repair --loop`; in Kubernetes they come from `k8s/configmap.yaml` and
`k8s/secret.yaml` (see [operations](operations.md#deploy-on-kubernetes)).

Storage nodes take no `S3_*` settings: they are configured by their command line
(`s3server storage-node --help`, and [operations](operations.md#commands)).
"""


def setting_fields() -> list:
    """The Settings fields that are S3_* variables (all but ``extra``), in declaration order."""
    return [f for f in fields(Settings) if f.name != "extra"]


def _default_text(f) -> str:
    if f.metadata.get("default_doc"):
        return f.metadata["default_doc"]
    value = Settings().to_env()["S3_" + f.name.upper()]
    return f"`{value}`" if value != "" else "empty"


def settings_markdown() -> str:
    """docs/settings.md: every S3_* setting with its type, default, example and meaning, by group."""
    out = [SETTINGS_INTRO]
    groups: dict[str, list] = {}
    for f in setting_fields():
        groups.setdefault(f.metadata["group"], []).append(f)
    for group, members in groups.items():
        out.append(f"\n## {group}\n\n| variable | type | default | example | meaning |\n|---|---|---|---|---|\n")
        for f in members:
            meaning = f.metadata["doc"].replace("|", "\\|")
            out.append(f"| `S3_{f.name.upper()}` | {_TYPES[str(f.type)]} | {_default_text(f)} | "
                       f"`{f.metadata['example']}` | {meaning} |\n")
    return "".join(out)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m s3server.config --markdown   (prints docs/settings.md)")
    sys.stdout.write(settings_markdown())
