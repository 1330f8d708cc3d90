"""S3 XML responses of bucket configuration: location, CORS, ACL, ownership controls, versioning,
default encryption, lifecycle rules, website."""
from __future__ import annotations

from lxml import etree

from s3server.api.xml import document, iso8601, new_root, owner_element, sub


def location(region: str) -> bytes:
    root = new_root("LocationConstraint")
    if region and region != "us-east-1":
        root.text = region
    return document(root)


def cors_configuration(rules) -> bytes:
    root = new_root("CORSConfiguration")
    for rule in rules:
        r = sub(root, "CORSRule")
        if rule.id is not None:
            sub(r, "ID", rule.id)
        for name, values in (("AllowedHeader", rule.allowed_headers), ("AllowedMethod", rule.allowed_methods),
                             ("AllowedOrigin", rule.allowed_origins), ("ExposeHeader", rule.expose_headers)):
            for value in values:
                sub(r, name, value)
        if rule.max_age_seconds is not None:
            sub(r, "MaxAgeSeconds", rule.max_age_seconds)
    return document(root)


XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def access_control_policy(owner_id: str, owner_name: str) -> bytes:
    """The one ACL there is (service/acl.py): FULL_CONTROL for the bucket owner."""
    root = new_root("AccessControlPolicy")
    owner_element(root, owner_id, owner_name)
    grant = sub(sub(root, "AccessControlList"), "Grant")
    grantee = etree.SubElement(grant, "Grantee", nsmap={"xsi": XSI_NS})
    grantee.set(f"{{{XSI_NS}}}type", "CanonicalUser")
    sub(grantee, "ID", owner_id)
    sub(grantee, "DisplayName", owner_name)
    sub(grant, "Permission", "FULL_CONTROL")
    return document(root)


def ownership_controls(setting: str = "BucketOwnerEnforced") -> bytes:
    root = new_root("OwnershipControls")
    sub(sub(root, "Rule"), "ObjectOwnership", setting)
    return document(root)


def versioning(status: str | None = None) -> bytes:
    root = new_root("VersioningConfiguration")
    if status:
        sub(root, "Status", status)
    return document(root)


def bucket_encryption(enc) -> bytes:
    """GetBucketEncryption's ``ServerSideEncryptionConfiguration`` (one rule)."""
    root = new_root("ServerSideEncryptionConfiguration")
    rule = sub(root, "Rule")
    sub(sub(rule, "ApplyServerSideEncryptionByDefault"), "SSEAlgorithm", enc.algorithm)
    sub(rule, "BucketKeyEnabled", "true" if enc.bucket_key_enabled else "false")
    return document(root)


def _lifecycle_filter(parent, rule) -> None:
    kind = rule.filter_kind
    if kind == "legacy":
        sub(parent, "Prefix", rule.prefix)
        return
    f = sub(parent, "Filter")
    if kind == "prefix":
        sub(f, "Prefix", rule.prefix)
    elif kind == "tag":
        tag = sub(f, "Tag")
        sub(tag, "Key", rule.tags[0][0])
        sub(tag, "Value", rule.tags[0][1])
    elif kind == "gt":
        sub(f, "ObjectSizeGreaterThan", rule.size_gt)
    elif kind == "lt":
        sub(f, "ObjectSizeLessThan", rule.size_lt)
    elif kind == "and":
        a = sub(f, "And")
        if rule.prefix:
            sub(a, "Prefix", rule.prefix)
        for key, value in rule.tags:
            tag = sub(a, "Tag")
            sub(tag, "Key", key)
            sub(tag, "Value", value)
        if rule.size_gt is not None:
            sub(a, "ObjectSizeGreaterThan", rule.size_gt)
        if rule.size_lt is not None:
            sub(a, "ObjectSizeLessThan", rule.size_lt)


def lifecycle_configuration(lifecycle) -> bytes:
    """GetBucketLifecycleConfiguration's ``LifecycleConfiguration``: the rules as they were put."""
    root = new_root("LifecycleConfiguration")
    for rule in lifecycle.rules:
        r = sub(root, "Rule")
        sub(r, "ID", rule.id)
        _lifecycle_filter(r, rule)
        sub(r, "Status", "Enabled" if rule.enabled else "Disabled")
        if rule.expiration_days or rule.expiration_date or rule.expired_object_delete_marker is not None:
            e = sub(r, "Expiration")
            if rule.expiration_days:
                sub(e, "Days", rule.expiration_days)
            elif rule.expiration_date is not None:
                sub(e, "Date", iso8601(rule.expiration_date))
            else:
                sub(e, "ExpiredObjectDeleteMarker", "true" if rule.expired_object_delete_marker else "false")
        if rule.noncurrent_days:
            n = sub(r, "NoncurrentVersionExpiration")
            sub(n, "NoncurrentDays", rule.noncurrent_days)
            if rule.newer_noncurrent:
                sub(n, "NewerNoncurrentVersions", rule.newer_noncurrent)
        if rule.abort_days:
            sub(sub(r, "AbortIncompleteMultipartUpload"), "DaysAfterInitiation", rule.abort_days)
    return document(root)


def website_configuration(cfg) -> bytes:
    """GetBucketWebsite: the configuration as PutBucketWebsite took it (models.WebsiteConfig)."""
    root = new_root("WebsiteConfiguration")
    if cfg.redirect_all_host is not None:
        red = sub(root, "RedirectAllRequestsTo")
        sub(red, "HostName", cfg.redirect_all_host)
        if cfg.redirect_all_protocol:
            sub(red, "Protocol", cfg.redirect_all_protocol)
        return document(root)
    sub(sub(root, "IndexDocument"), "Suffix", cfg.index_suffix)
    if cfg.error_key is not None:
        sub(sub(root, "ErrorDocument"), "Key", cfg.error_key)
    if cfg.routing_rules:
        rules = sub(root, "RoutingRules")
        for r in cfg.routing_rules:
            rule = sub(rules, "RoutingRule")
            if r.key_prefix_equals is not None or r.error_code_equals is not None:
                cond = sub(rule, "Condition")
                if r.key_prefix_equals is not None:
                    sub(cond, "KeyPrefixEquals", r.key_prefix_equals)
                if r.error_code_equals is not None:
                    sub(cond, "HttpErrorCodeReturnedEquals", str(r.error_code_equals))
            red = sub(rule, "Redirect")
            for tag, value in (("HostName", r.host_name), ("HttpRedirectCode", r.redirect_code),
                               ("Protocol", r.protocol), ("ReplaceKeyPrefixWith", r.replace_key_prefix_with),
                               ("ReplaceKeyWith", r.replace_key_with)):
                if value is not None:
                    sub(red, tag, str(value))
    return document(root)
