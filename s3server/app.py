"""create_app(settings) -> falcon.App: every collaborator is built here and passed down."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import falcon

from s3server.api import errors as api_errors
from s3server.api.metrics import MeteredBlobs, Metrics, MetricsResource
from s3server.api.middleware import ClientAddress, RequestContext, choose_dialect, is_sigv4
from s3server.api.rest.buckets import RestApi
from s3server.api.s3 import acl as s3_acl
from s3server.api.s3 import bucketpolicy as s3_bucketpolicy
from s3server.api.s3 import buckets as s3_buckets
from s3server.api.s3 import copy as s3_copy
from s3server.api.s3 import cors as s3_cors
from s3server.api.s3 import delete as s3_delete
from s3server.api.s3 import encryption as s3_encryption
from s3server.api.s3 import fixed as s3_fixed
from s3server.api.s3 import lifecycle as s3_lifecycle
from s3server.api.s3 import tagging as s3_tagging
from s3server.api.s3 import unset as s3_unset
from s3server.api.s3 import website as s3_website
from s3server.api.s3 import listing as s3_listing
from s3server.api.s3 import multipart as s3_multipart
from s3server.api.s3 import objects as s3_objects
from s3server.api.s3 import post as s3_post
from s3server.api.s3.resources import S3Api
from s3server.api.website import WebsiteApi
from s3server.auth.access import Authenticator
from s3server.auth.ratelimit import RateLimiter
from s3server.blobs import BlobError, BlobStore
from s3server.config import Settings
from s3server.errors import S3Error
from s3server.meta.store import MetadataStore
from s3server.service.buckets import BucketService
from s3server.service.common import GuardedStore
from s3server.service.copy import CopyService
from s3server.service.delete import DeleteService
from s3server.service.identity import IdentityService
from s3server.service.listing import ListingService
from s3server.service.multipart import MultipartService
from s3server.service.objects import ObjectService
from s3server.service.sse import Sealer

S3_HANDLERS: dict[str, Callable] = {
    **s3_buckets.HANDLERS,
    **s3_objects.HANDLERS,
    **s3_listing.HANDLERS,
    **s3_multipart.HANDLERS,
    **s3_copy.HANDLERS,
    **s3_delete.HANDLERS,
    **s3_tagging.HANDLERS,
    **s3_cors.HANDLERS,
    **s3_unset.HANDLERS,
    **s3_bucketpolicy.HANDLERS,
    **s3_website.HANDLERS,
    **s3_encryption.HANDLERS,
    **s3_lifecycle.HANDLERS,
    **s3_fixed.HANDLERS,
    **s3_acl.HANDLERS,
    **s3_post.HANDLERS,
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Services:
    store: GuardedStore
    blobs: BlobStore
    buckets: BucketService
    objects: ObjectService
    listing: ListingService
    identity: IdentityService
    copy: CopyService | None = None
    multipart: MultipartService | None = None
    delete: DeleteService | None = None


def build_services(settings: Settings, *, store=None, blobs=None, clock: Callable[[], datetime] = utcnow,
                   metrics: Metrics | None = None) -> Services:
    raw_store = store or MetadataStore.from_url(settings.db_url, pool_size=settings.db_pool_size,
                                                cache=True, pod_dir=settings.run_dir)
    guarded = GuardedStore(raw_store)
    blob_store = blobs or BlobStore(settings.node_urls, replicas=settings.replicas,
                                    write_quorum=settings.write_quorum, timeout=settings.node_timeout,
                                    down_seconds=settings.node_down_seconds,
                                    cache_bytes=int(settings.blob_cache_mb * 1024 * 1024),
                                    batch_item_max=settings.write_batch_max)
    if metrics is not None:
        if getattr(blob_store, "cache", None) is not None:
            blob_store.cache.on_lookup = metrics.observe_cache
        blob_store = MeteredBlobs(blob_store, metrics, replicas=settings.replicas, errors=(BlobError,))
    objects = ObjectService(guarded, blob_store, max_object_size=settings.max_object_size, clock=clock,
                            inline_max=settings.inline_max,
                            sealer=Sealer.from_settings(settings.sse_key, settings.sse_old_keys))
    copies = CopyService(guarded, objects, clock=clock)
    return Services(
        store=guarded,
        blobs=blob_store,
        buckets=BucketService(guarded, blob_store, region=settings.region),
        objects=objects,
        listing=ListingService(guarded),
        identity=IdentityService(guarded),
        copy=copies,
        multipart=MultipartService(guarded, blob_store, objects, copies, clock=clock),
        delete=DeleteService(guarded, blob_store),
    )


class Health:
    """GET /health: the process is alive."""

    def on_get(self, req, resp):
        req.context.operation = "health"
        resp.media = {"status": "ok"}


class Ready:
    """GET /ready: the metadata DB answers and a write quorum of storage nodes is healthy."""

    def __init__(self, services: Services, settings: Settings):
        self.services = services
        self.settings = settings

    def on_get(self, req, resp):
        req.context.operation = "ready"
        db_ok = bool(self.services.store.raw.ping())
        nodes = self.services.blobs.node_health()
        healthy = sum(1 for ok in nodes.values() if ok)
        ready = db_ok and healthy >= self.settings.write_quorum
        resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503
        resp.media = {"status": "ready" if ready else "unavailable", "database": db_ok,
                      "nodes": nodes, "write_quorum": self.settings.write_quorum}


class Dispatch:
    """One port, two dialects: Bearer requests and unsigned ``/buckets...`` requests go to the REST
    API; everything else is S3. A Host naming a bucket under S3_WEBSITE_DOMAIN is the website
    endpoint (api/website.py), whatever the path."""

    def __init__(self, s3: S3Api, rest: RestApi, website: WebsiteApi | None = None):
        self.s3 = s3
        self.rest = rest
        self.website = website

    def is_website(self, req) -> bool:
        return self.website is not None and self.website.bucket_of(req) is not None

    def __call__(self, req, resp, **kw):
        if self.is_website(req):
            return self.website(req, resp)
        dialect = getattr(req.context, "dialect", None) or choose_dialect(req)
        if dialect == "rest":
            return self.rest(req, resp)
        return self.s3(req, resp)


class OpsRoute:
    """``/health``, ``/ready``, ``/metrics``: the operations endpoint answers unsigned GET and HEAD.
    Anything else (a signed request, another method) is S3, where these names are reserved bucket
    names, so it gets S3's own answer (e.g. InvalidBucketName) instead of a bare 405."""

    def __init__(self, resource, dispatch: Dispatch):
        self.resource = resource
        self.dispatch = dispatch

    def on_get(self, req, resp):
        if is_sigv4(req) or (req.get_header("Authorization") or "")[:7].lower() == "bearer " \
                or self.dispatch.is_website(req):
            return self.dispatch(req, resp)
        return self.resource.on_get(req, resp)

    on_head = on_get

    def on_other(self, req, resp):
        return self.dispatch(req, resp)

    on_put = on_post = on_delete = on_patch = on_options = on_other


def create_app(settings: Settings, *, store=None, blobs=None, clock: Callable[[], datetime] = utcnow,
               services: Services | None = None) -> falcon.App:
    metrics = Metrics(settings.run_dir)
    services = services or build_services(settings, store=store, blobs=blobs, clock=clock, metrics=metrics)
    limiter = RateLimiter.from_settings(settings.rate_limit_per_min, settings.rate_limit_burst, settings.run_dir)
    authenticator = Authenticator(services.identity, clock=clock, region=settings.region, limiter=limiter)
    context = RequestContext(clock=time.monotonic, limiter=limiter, metrics=metrics,
                             client_address=ClientAddress(settings.trusted_proxies),
                             body_idle_timeout=settings.body_idle_timeout)
    app = falcon.App(middleware=[context], media_type="application/json")
    app.req_options.strip_url_path_trailing_slash = False
    app.resp_options.default_media_type = "application/json"
    app.add_error_handler(Exception, api_errors.handle_unexpected)
    app.add_error_handler(falcon.HTTPError, api_errors.handle_http_error)
    app.add_error_handler(S3Error, api_errors.handle_s3_error)
    s3 = S3Api(services, authenticator, S3_HANDLERS, domain=settings.domain)
    rest = RestApi(services, authenticator)
    website = WebsiteApi(services, S3_HANDLERS, settings.website_domain) if settings.website_domain else None
    dispatch = Dispatch(s3, rest, website)
    app.add_route("/health", OpsRoute(Health(), dispatch))
    app.add_route("/ready", OpsRoute(Ready(services, settings), dispatch))
    app.add_route("/metrics", OpsRoute(MetricsResource(metrics, services.blobs), dispatch))
    app.add_sink(dispatch, prefix="/")
    return app
