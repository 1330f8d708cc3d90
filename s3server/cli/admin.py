"""``s3server admin``: users, S3 key pairs and REST API keys, and the rewrap of SSE-S3 data keys."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from s3server.cli.common import CREDENTIALS_FILE, SSE_KEY_FILE
from s3server.config import Settings
from s3server.models import account_id


def _admin_settings(args) -> Settings:
    overrides = {"data_dir": Path(args.data_dir) if args.data_dir else None}
    settings = Settings.from_env(**overrides)
    key_file = Path(settings.data_dir) / SSE_KEY_FILE
    if not settings.sse_key and key_file.exists():      # a serve data dir's own master key
        settings = settings.with_(sse_key=key_file.read_text().strip())
    return settings


def _rewrap_sse_keys(store, settings: Settings) -> int:
    """Reseal every encrypted blob's data key under the current master key (S3_SSE_KEY, or a
    serve data dir's sse.key), opening it with whichever of S3_SSE_OLD_KEYS sealed it; then
    the old keys can be dropped. Only metadata changes (the data keys, hence the stored bytes,
    stay the same); safe while the system runs. Data keys sealed under a customer's key (SSE-C)
    are the customer's to keep: counted, left alone."""
    from s3server.service.sse import KeyUnavailable, Sealer, customer_sealed

    sealer = Sealer.from_settings(settings.sse_key, settings.sse_old_keys)
    if sealer is None:
        print("error: no master key (S3_SSE_KEY, or --data-dir of a serve that made sse.key)", file=sys.stderr)
        return 1
    counts = {"rewrapped": 0, "current": 0, "unavailable": 0, "changed_meanwhile": 0, "customer_keys": 0}
    for use in store.iter_blob_uses():
        if use.blob.key is None:
            continue
        if customer_sealed(use.blob.key):
            counts["customer_keys"] += 1
            continue
        if sealer.sealed_by(use.blob.key) == sealer.key_id:
            counts["current"] += 1
            continue
        try:
            data_key = sealer.open(use.blob.key)
        except KeyUnavailable as exc:
            counts["unavailable"] += 1
            print(json.dumps({"event": "unavailable", "blob": use.blob.blob_id, "table": use.table,
                              "row": list(use.row), "error": str(exc)}), file=sys.stderr)
            continue
        if store.reseal_blob_key(use, sealer.seal(data_key)):
            counts["rewrapped"] += 1
        else:
            counts["changed_meanwhile"] += 1
    print(json.dumps({"event": "summary", "key_id": sealer.key_id, **counts}))
    return 1 if counts["unavailable"] else 0


def cmd_admin(args) -> int:
    from s3server.meta import errors as meta_errors
    from s3server.meta.store import MetadataStore
    from s3server.service.common import GuardedStore
    from s3server.service.identity import IdentityService, hash_api_key, new_api_key

    settings = _admin_settings(args)
    if not settings.database_url:        # SQLite in the data dir: users may be made before the first serve
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    store = MetadataStore.from_url(settings.db_url, pool_size=2)
    try:
        store.create_schema()
        identity = IdentityService(GuardedStore(store))
        if args.admin_cmd == "create-user":
            made = identity.create_user(args.name, is_admin=args.admin)
            print(json.dumps({"user": made.user.name, "account_id": account_id(made.user.id),
                              "access_key": made.access_key,
                              "secret_key": made.secret_key, "api_key": made.api_key}, indent=2))
        elif args.admin_cmd == "list-users":
            for u in store.list_users():
                keys = [c.access_key for c in store.list_credentials(u.id) if not c.revoked]
                print(f"{account_id(u.id)}\t{u.name}\t{'admin' if u.is_admin else 'user'}\t"
                      f"{'disabled' if u.disabled else 'enabled'}\t{','.join(keys)}")
        elif args.admin_cmd in ("disable-user", "enable-user"):
            store.set_user_disabled(identity.user(args.name).id, args.admin_cmd == "disable-user")
            print(f"{args.name}: {'disabled' if args.admin_cmd == 'disable-user' else 'enabled'}")
        elif args.admin_cmd == "create-key":
            made = identity.create_keys(identity.user(args.name), s3=not args.api_only, api=not args.s3_only)
            print(json.dumps({"user": args.name, "access_key": made.access_key, "secret_key": made.secret_key,
                              "api_key": made.api_key}, indent=2))
        elif args.admin_cmd == "revoke-key":
            if args.key.startswith("s3k_"):
                found = store.get_api_key(hash_api_key(args.key))
                if found is None:
                    print("no such API key", file=sys.stderr)
                    return 1
                store.revoke_api_key(found[0].id)
            else:
                try:
                    store.revoke_credential(args.key)
                except meta_errors.NotFound:
                    print("no such access key", file=sys.stderr)
                    return 1
            print("revoked")
        elif args.admin_cmd == "list-keys":
            user = identity.user(args.name)
            for c in store.list_credentials(user.id):
                print(f"s3\t{c.access_key}\t{'revoked' if c.revoked else 'active'}")
            for k in store.list_api_keys(user.id):
                print(f"api\t{k.prefix}...\t{'revoked' if k.revoked else 'active'}")
        elif args.admin_cmd == "rotate-api-key":
            user = identity.user(args.name or "admin")
            for k in store.list_api_keys(user.id):
                if not k.revoked:
                    store.revoke_api_key(k.id)
            key = new_api_key()
            store.add_api_key(user.id, hash_api_key(key), key[:8])
            creds_file = Path(settings.data_dir) / CREDENTIALS_FILE
            if user.name == "admin" and creds_file.exists():   # what serve prints on its next start
                saved = json.loads(creds_file.read_text())
                saved["api_key"] = key
                creds_file.write_text(json.dumps(saved, indent=2))
            print(f"Admin API Key: {key}" if user.is_admin else f"API Key: {key}")
        elif args.admin_cmd == "rewrap-sse-keys":
            return _rewrap_sse_keys(store, settings)
        elif args.admin_cmd == "show-admin":
            admin, creds = identity.admin_credentials()
            for c in creds:
                print(f"access key: {c.access_key}\nsecret key: {c.secret_key}")
        return 0
    except (ValueError, meta_errors.Unavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def add_parser(sub) -> None:
    a = sub.add_parser("admin", help="users and keys")
    a.add_argument("--data-dir", help="the serve data dir whose meta.db to use (or S3_DATABASE_URL)")
    asub = a.add_subparsers(dest="admin_cmd", required=True)
    cu = asub.add_parser("create-user")
    cu.add_argument("name")
    cu.add_argument("--admin", action="store_true")
    asub.add_parser("list-users")
    for name in ("disable-user", "enable-user", "list-keys"):
        asub.add_parser(name).add_argument("name")
    asub.add_parser("rotate-api-key", help="revoke NAME's API keys (default: admin) and print a new one") \
        .add_argument("name", nargs="?", default="admin")
    ck = asub.add_parser("create-key")
    ck.add_argument("name")
    ck.add_argument("--s3-only", action="store_true")
    ck.add_argument("--api-only", action="store_true")
    rk = asub.add_parser("revoke-key")
    rk.add_argument("key", help="an access key id or an API key")
    asub.add_parser("show-admin")
    asub.add_parser("rewrap-sse-keys", help="reseal every encrypted object's data key under S3_SSE_KEY "
                    "(opening it with S3_SSE_OLD_KEYS), after which the old keys can be dropped")
