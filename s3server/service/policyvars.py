"""Policy variables (Version 2012-10-17): ``${key}``, ``${key, 'default'}``, and ``${*}`` ``${?}``
``${$}`` in a statement's resources and condition values, resolved per request (Template)."""
from __future__ import annotations

import functools
import re
from typing import Any, Mapping

from s3server.service.policylang import check_key, malformed, wildcard_pattern


# -- policy variables (Version 2012-10-17): ${key}, ${key, 'default'}, and ${*} ${?} ${$} -------
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


def _template_parts(text: str) -> tuple:
    """``text`` as (literal, key, default) triples: the literal before the variable, its key
    (lower case; "" for ``${*}``, ``${?}``, ``${$}``, whose character is the default; None after
    the last variable) and its default (None: none)."""
    parts, at = [], 0
    for m in _VARIABLE.finditer(text):
        inner = m.group(1).strip()
        if inner in _SPECIAL:                # a literal *, ? or $: key "", the character as default
            parts.append((text[at:m.start()], "", inner))
            at = m.end()
            continue
        key, comma, default = inner.partition(",")
        key = key.strip().lower()
        if comma:
            default = default.strip()
            if len(default) < 2 or default[0] != "'" or default[-1] != "'":
                raise malformed("Policy has an invalid policy variable")
            default = default[1:-1]
        else:
            default = None
        check_key(key, key)
        parts.append((text[at:m.start()], key, default))
        at = m.end()
    parts.append((text[at:], None, None))
    return tuple(parts)


class Template:
    """A pattern (IAM wildcards) or an exact string, which may hold policy variables."""
    __slots__ = ("parts", "glob", "ignore_case", "regex")

    def __init__(self, parts: tuple, glob: bool, ignore_case: bool = False):
        self.parts, self.glob, self.ignore_case = parts, glob, ignore_case
        self.regex = _compile_parts(parts, (), glob, ignore_case) if len(parts) == 1 else None

    @classmethod
    def of(cls, text: str, variables: bool, glob: bool = True, ignore_case: bool = False) -> "Template":
        return cls(_template_parts(text) if variables and "${" in text else ((text, None, None),), glob,
                   ignore_case)

    def resolve(self, context: Mapping[str, Any]) -> re.Pattern | None:
        """The pattern for one request; None when a variable has no value (the element then
        matches nothing: AWS: the statement is invalid for that request)."""
        if self.regex is not None:
            return self.regex
        values = []
        for _, key, default in self.parts[:-1]:
            if key == "":
                values.append(default)
                continue
            value = context.get(key, default)
            if value is None or isinstance(value, list):
                return None
            values.append(value)
        return _compile_parts(self.parts, tuple(values), self.glob, self.ignore_case)

    def fullmatch(self, value: str, context: Mapping[str, Any]) -> bool:
        found = self.resolve(context)
        return found is not None and found.fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)
def _compile_parts(parts: tuple, values: tuple, glob: bool, ignore_case: bool = False) -> re.Pattern:
    out = []
    for i, (literal, _, _) in enumerate(parts):
        out.append(wildcard_pattern(literal).pattern if glob else re.escape(literal))
        if i < len(values) and values[i] is not None:
            out.append(re.escape(values[i]))         # a value's own * and ? are plain characters
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))
