"""Bucket policies: the JSON access policy language, checked as AWS checks a PutBucketPolicy
document and evaluated as AWS evaluates a request against it. HTTP-free and pure.

This module holds the compiled statements and their evaluation; the language's terms are
policylang.py's, the parser policyparse.py's, policy variables policyvars.py's.

What a request is judged on: its principal (every user here is the one identity of its own
account: ``arn:aws:iam::<account id>:user/<name>``), its action (``s3:GetObject``...; see
``OPERATION_ACTIONS``), its resource (``arn:aws:s3:::bucket`` or ``arn:aws:s3:::bucket/key``) and
its condition keys (``CONDITION_KEYS``). An explicit Deny wins; an Allow grants; nothing matching
leaves the default: the bucket's owner (and an admin) may, anyone else may not.

A condition key that exists in AWS but that no request here can carry (a VPC endpoint, an
organization, MFA, a calling service) is absent from every request, exactly as it is absent from
an AWS request that did not come that way; so ``Deny ... StringNotEquals aws:SourceVpce`` denies
everything here, as it denies everything outside that endpoint on AWS. An object's tags
(``s3:ExistingObjectTag/<key>``) are looked up, for policies that name them; the tags a request
brings come with it (api/policykeys.py). Keys whose values this server cannot know (the TLS
version) are refused with NotImplemented when the policy is put, never evaluated as absent: a Deny that silently never applies is the one failure a policy
must not have.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from s3server.service.policylang import ALLOW, DENY, NEGATED, parse_date
from s3server.service.policyvars import Template


@dataclass(frozen=True)
class Condition:
    operator: str               # lower case, without IfExists and set qualifier
    key: str                    # lower case
    values: tuple[Any, ...]     # parsed for the operator (numbers, datetimes, networks, regexes...)
    if_exists: bool = False
    qualifier: str = ""         # "", "forallvalues", "foranyvalue"
    templates: tuple | None = None   # values with policy variables: resolved per request (``values`` unused)


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: str
    principals: tuple[tuple[str, ...], ...] | None      # ("*",), ("account", id), ("user", id, name), ("none",)
    not_principal: bool
    actions: tuple[re.Pattern, ...]
    not_action: bool
    resources: tuple["Template", ...]
    not_resource: bool
    conditions: tuple[Condition, ...]
    public: bool                # an Allow to everyone that no condition narrows to known callers


@dataclass(frozen=True)
class Request:
    """What one request is judged on."""
    action: str                 # "s3:getobject"
    resource: str               # "arn:aws:s3:::bucket" or "arn:aws:s3:::bucket/key"
    account: str                # the caller's 12-digit account id
    user_name: str
    context: Mapping[str, str | list[str]]     # condition key (lower case) -> value(s)


@dataclass(frozen=True)
class Policy:
    text: str
    statements: tuple[Statement, ...]
    uses_existing_tags: bool = False        # a condition or variable names s3:ExistingObjectTag/...

    @property
    def is_public(self) -> bool:
        return any(st.public for st in self.statements)

    def decide(self, request: Request, *, public_grants: bool = True) -> str | None:
        """DENY when a Deny statement matches, else ALLOW when an Allow statement does, else None.
        ``public_grants=False`` (RestrictPublicBuckets, for callers outside the owner's account)
        ignores the Allows of public statements."""
        allowed = False
        for st in self.statements:
            if st.effect == ALLOW and (allowed or (st.public and not public_grants)):
                continue
            if _applies(st, request):
                if st.effect == DENY:
                    return DENY
                allowed = True
        return ALLOW if allowed else None


# -- evaluation --------------------------------------------------------------------------------
def _principal_matches(principals, request: Request) -> bool:
    for p in principals:
        if p[0] == "*" or (p[0] == "account" and p[1] == request.account) or \
                (p[0] == "user" and p[1] == request.account and p[2] == request.user_name):
            return True
    return False


def _applies(st: Statement, request: Request) -> bool:
    if _principal_matches(st.principals, request) == st.not_principal:
        return False
    if any(a.fullmatch(request.action) for a in st.actions) == st.not_action:
        return False
    if any(r.fullmatch(request.resource, request.context) for r in st.resources) == st.not_resource:
        return False
    return all(_holds(c, request.context) for c in st.conditions)


def _holds(c: Condition, context: Mapping[str, str | list[str]]) -> bool:
    raw = context.get(c.key)
    if c.operator == "null":
        return (raw is None) == (c.values[0] == "true")
    if raw is None:
        if c.if_exists or c.qualifier == "forallvalues":
            return True
        if c.qualifier == "foranyvalue":
            return False
        return c.operator in NEGATED
    wanted: tuple = c.values
    test = _TESTS[c.operator]
    if c.templates is not None:              # policy variables: this request's patterns
        patterns = []
        for t in c.templates:
            found = t.resolve(context)
            if found is None:
                return False                 # a variable without a value: the statement does not apply
            patterns.append(found)
        wanted = tuple(patterns)
        negated = c.operator in NEGATED
        test = lambda v, w: any(p.fullmatch(v) for p in w) != negated    # noqa: E731
    values = raw if isinstance(raw, list) else [raw]
    if c.qualifier == "forallvalues":
        return all(test(v, wanted) for v in values)
    return any(test(v, wanted) for v in values)


def _number(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _when(v: str) -> datetime | None:
    try:
        return parse_date(v)
    except ValueError:
        return None


def _ip(v: str):
    try:
        return ipaddress.ip_address(v)
    except ValueError:
        return None


def _compare(parse_value: Callable, cmp: Callable) -> Callable[[str, tuple], bool]:
    def test(v: str, wanted: tuple) -> bool:
        x = parse_value(v)
        return x is not None and any(cmp(x, w) for w in wanted)
    return test


def _in_networks(v: str, nets: tuple) -> bool:
    ip = _ip(v)
    return ip is not None and any(ip.version == n.version and ip in n for n in nets)


_TESTS: dict[str, Callable[[str, tuple], bool]] = {
    "stringequals": lambda v, w: v in w,
    "stringnotequals": lambda v, w: v not in w,
    "stringequalsignorecase": lambda v, w: v.casefold() in w,
    "stringnotequalsignorecase": lambda v, w: v.casefold() not in w,
    "stringlike": lambda v, w: any(p.fullmatch(v) for p in w),
    "stringnotlike": lambda v, w: not any(p.fullmatch(v) for p in w),
    "arnequals": lambda v, w: any(p.fullmatch(v) for p in w),
    "arnlike": lambda v, w: any(p.fullmatch(v) for p in w),
    "arnnotequals": lambda v, w: not any(p.fullmatch(v) for p in w),
    "arnnotlike": lambda v, w: not any(p.fullmatch(v) for p in w),
    "numericequals": _compare(_number, lambda x, w: x == w),
    "numericnotequals": lambda v, w: (x := _number(v)) is not None and all(x != y for y in w),
    "numericlessthan": _compare(_number, lambda x, w: x < w),
    "numericlessthanequals": _compare(_number, lambda x, w: x <= w),
    "numericgreaterthan": _compare(_number, lambda x, w: x > w),
    "numericgreaterthanequals": _compare(_number, lambda x, w: x >= w),
    "dateequals": _compare(_when, lambda x, w: x == w),
    "datenotequals": lambda v, w: (x := _when(v)) is not None and all(x != y for y in w),
    "datelessthan": _compare(_when, lambda x, w: x < w),
    "datelessthanequals": _compare(_when, lambda x, w: x <= w),
    "dategreaterthan": _compare(_when, lambda x, w: x > w),
    "dategreaterthanequals": _compare(_when, lambda x, w: x >= w),
    "bool": lambda v, w: v.lower() in w,
    "binaryequals": lambda v, w: v in w,
    "ipaddress": _in_networks,
    "notipaddress": lambda v, w: _ip(v) is not None and not _in_networks(v, w),
}
