"""Bucket CORS: AWS's rules for a CORS configuration and how a request is matched against it.

PutBucketCors (S3 User Guide, "CORS configuration"): 1-100 rules; each names at least one
AllowedMethod (GET, PUT, HEAD, POST, DELETE, exactly so) and AllowedOrigin; an origin or an
AllowedHeader holds at most one ``*`` wildcard; ExposeHeader holds none.

Evaluation ("How does Amazon S3 evaluate the CORS configuration on a bucket?"): the first rule
whose AllowedOrigin matches the request's Origin, whose AllowedMethod holds the method (a
preflight's Access-Control-Request-Method), and whose AllowedHeader entries match every header
of a preflight's Access-Control-Request-Headers (case-insensitively) applies.

A leaf of the service layer: imports only errors and models.
"""
from __future__ import annotations

import re

from s3server.errors import S3Error
from s3server.models import CorsRule

METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
MAX_RULES = 100
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
               "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
               "are not whitelisted by the resource's CORS spec.")


_HEADER_SAFE = re.compile("[\x20-\x7e]*")


def validate_rules(rules: list[CorsRule]) -> tuple[CorsRule, ...]:
    if not rules:
        raise S3Error("MalformedXML")
    if len(rules) > MAX_RULES:
        raise S3Error("MalformedXML", f"The number of CORS rules should not exceed allowed limit of {MAX_RULES} rules.")
    for rule in rules:
        if not rule.allowed_methods or not rule.allowed_origins:
            raise S3Error("MalformedXML")
        for method in rule.allowed_methods:
            if method not in METHODS:
                raise S3Error("InvalidRequest", "Found unsupported HTTP method in CORS config. "
                              f"Unsupported method is {method}")
        for origin in rule.allowed_origins:
            if origin.count("*") > 1:
                raise S3Error("InvalidRequest", f'AllowedOrigin "{origin}" can not have more than one wildcard.')
        for header in rule.allowed_headers:
            if header.count("*") > 1:
                raise S3Error("InvalidRequest", f'AllowedHeader "{header}" can not have more than one wildcard.')
        for value in (*rule.allowed_origins, *rule.allowed_headers, *rule.expose_headers):
            if not _HEADER_SAFE.fullmatch(value):     # they go back in response headers
                raise S3Error("InvalidRequest", f'"{value!r}" contains characters that a header cannot carry '
                              "(control characters or non-ASCII).")
        for header in rule.expose_headers:
            if "*" in header:
                raise S3Error("InvalidRequest", f'ExposeHeader "{header}" contains wildcard. We currently do '
                              "not support wildcard for ExposeHeader.")
        if rule.max_age_seconds is not None and rule.max_age_seconds < 0:
            raise S3Error("MalformedXML")
        if rule.id is not None and len(rule.id) > 255:
            raise S3Error("InvalidArgument", "The ID of a CORS rule is longer than 255 characters.")
    return tuple(rules)


def _matches(pattern: str, value: str) -> bool:
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def matching_rule(rules: tuple[CorsRule, ...], origin: str, method: str,
                  request_headers: tuple[str, ...] = ()) -> CorsRule | None:
    """The first rule allowing ``origin`` to use ``method`` with ``request_headers``."""
    for rule in rules:
        if method not in rule.allowed_methods:
            continue
        if not any(_matches(o, origin) for o in rule.allowed_origins):
            continue
        allowed = [h.lower() for h in rule.allowed_headers]
        if all(any(_matches(a, h.lower()) for a in allowed) for h in request_headers):
            return rule
    return None


def requested_headers(value: str | None) -> tuple[str, ...]:
    """A preflight's Access-Control-Request-Headers as a tuple of names."""
    return tuple(h.strip().lower() for h in (value or "").split(",") if h.strip())


def response_headers(rule: CorsRule, origin: str, request_headers: tuple[str, ...] = ()) -> dict[str, str]:
    """The Access-Control-* headers a response carries when ``rule`` applies (a preflight passes
    the headers it asked for, which are then allowed)."""
    anyone = "*" in rule.allowed_origins
    out = {"Access-Control-Allow-Origin": "*" if anyone else origin,
           "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods)}
    if not anyone:
        out["Access-Control-Allow-Credentials"] = "true"
    if request_headers:
        out["Access-Control-Allow-Headers"] = ", ".join(request_headers)
    if rule.expose_headers:
        out["Access-Control-Expose-Headers"] = ", ".join(rule.expose_headers)
    if rule.max_age_seconds is not None:
        out["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    out["Vary"] = VARY
    return out
