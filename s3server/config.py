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


@dataclass(frozen=True)
class Settings:
    """Everything the gateway and the tools need. Built once, passed down."""
    data_dir: Path = Path("data")
    bind: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 2
    database_url: str = ""                       # default: sqlite:///<data_dir>/meta.db
    storage_nodes: tuple[tuple[str, str], ...] = ()
    node_base_port: int = DEFAULT_NODE_PORT       # serve: first storage-node port; 0 = any free ports
    replicas: int = 3
    write_quorum: int = 2
    region: str = "us-east-1"
    domain: str = ""                              # enables virtual-hosted-style: <bucket>.<domain>
    website_domain: str = ""                      # enables the website endpoint: <bucket>.<website_domain>
    admin_access_key: str = ""
    admin_secret_key: str = ""
    admin_api_key: str = ""
    rate_limit_per_min: int = 0                   # 0 = off
    rate_limit_burst: int = 0                     # 0 = same as the per-minute figure
    run_dir: str = ""                             # pod-local dir shared by the workers of one gateway
                                                  # (rate-limit table, metrics); set by gunicorn_conf
    trusted_proxies: tuple[str, ...] = ()
    node_timeout: float = 10.0                    # seconds, per storage-node I/O
    node_down_seconds: float = 5.0                # back-off after a node failure
    max_object_size: int = 5 * 1024**3            # single PUT limit (EntityTooLarge)
    body_idle_timeout: float = 60.0               # seconds an upload may send nothing (RequestTimeout) or a download take nothing; 0 = off
    db_pool_size: int = 10
    fsync: bool = True
    certfile: str = ""
    keyfile: str = ""
    repair_interval: float = 0.0                  # seconds; 0 = no background repair
    gc_grace_seconds: float = 3600.0
    blob_cache_mb: float = 32.0                   # per gateway worker: bytes of small blobs kept after a read
    inline_max: int = 4096                        # objects up to this size also keep their bytes in their row
    write_batch_max: int = 65536                  # copies up to this size go to a node in batches; 0 = never
    scrub_days: float = 7.0                       # background passes re-read every copy about this often
    scrub_mb_per_s: float = 50.0                  # scrub read rate per pass (MB/s); 0 = unthrottled
    log_level: str = "info"
    # SSE-S3 master key (32 bytes, base64); "" = SSE-S3 refused. Old keys (comma-separated) still
    # open the data keys they sealed, after a rotation.
    sse_key: str = field(default="", repr=False)
    sse_old_keys: str = field(default="", repr=False)
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
