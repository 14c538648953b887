"""The list API's ``searchQuery``, strictly: the subset below, anything else is a 400.

Clauses ``field op value`` joined by ``AND``; fields ``name``, ``type``, ``path``,
``size``, ``createdAt``, ``updatedAt``; operators ``=``, ``:`` (begins with), ``<``,
``<=``, ``>``, ``>=``, ``IN [...]``; strings in double quotes (JSON escapes), numbers bare,
times as ISO 8601 strings (ImageKit's docs: "List and search assets").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

FIELDS = {"name", "type", "path", "size", "createdAt", "updatedAt"}
TIME_FIELDS = {"createdAt", "updatedAt"}
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+)|(?P<op><=|>=|=|:|<|>)'
    r"|(?P<word>[A-Za-z_][\w.]*)|(?P<punct>[\[\],]))"
)

Predicate = Callable[[Mapping[str, Any]], bool]


class SearchError(ValueError):
    """The query is outside what this fake understands."""


def _tokens(query: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(query.rstrip()):
        match = _TOKEN.match(query, pos)
        if match is None:
            raise SearchError(query[pos:])
        kind = match.lastgroup
        assert kind is not None
        text = match.group(kind)
        out.append((kind, json.loads(text) if kind in ("str", "num") else text))
        pos = match.end()
    return out


def _value(field: str, token: tuple[str, Any]) -> Any:
    kind, value = token
    if field == "size":
        if kind != "num":
            raise SearchError("size takes a number")
        return value
    if kind != "str":
        raise SearchError(f"{field} takes a string")
    if field in TIME_FIELDS:
        return datetime.fromisoformat(value)
    return value


def _compare(op: str, have: Any, want: Any) -> bool:
    if have is None:
        return False
    if op == "=":
        return bool(have == want)
    if op == ":":
        return isinstance(have, str) and have.startswith(want)
    if op == "IN":
        return have in want
    return bool(
        {
            "<": have < want,
            "<=": have <= want,
            ">": have > want,
            ">=": have >= want,
        }[op]
    )


def _field_of(item: Mapping[str, Any], field: str) -> Any:
    if field == "path":
        path = str(item.get("filePath") or item.get("folderPath") or "")
        return path[: path.rfind("/") + 1]
    value = item.get(field)
    if field in TIME_FIELDS and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def parse(query: str) -> tuple[Predicate, bool]:
    """A predicate over list items, and whether the query names a ``type``."""
    tokens = _tokens(query)
    clauses: list[tuple[str, str, Any]] = []
    i = 0
    while i < len(tokens):
        kind, field = tokens[i]
        if kind != "word" or field not in FIELDS:
            raise SearchError(f"unknown field {field}")
        if i + 2 >= len(tokens):
            raise SearchError(f"incomplete clause on {field}")
        op_kind, op = tokens[i + 1]
        if op_kind == "word" and op == "IN":
            end = next((j for j in range(i + 2, len(tokens)) if tokens[j][1] == "]"), None)
            if tokens[i + 2][1] != "[" or end is None:
                raise SearchError("IN takes a [list]")
            items = [_value(field, t) for t in tokens[i + 3 : end] if t[1] != ","]
            clauses.append((field, "IN", items))
            i = end + 1
        elif op_kind == "op":
            clauses.append((field, op, _value(field, tokens[i + 2])))
            i += 3
        else:
            raise SearchError(f"unknown operator {op}")
        if i < len(tokens):
            if tokens[i] != ("word", "AND"):
                raise SearchError("only AND joins clauses")
            i += 1
            if i == len(tokens):
                raise SearchError("dangling AND")

    def predicate(item: Mapping[str, Any]) -> bool:
        return all(_compare(op, _field_of(item, f), want) for f, op, want in clauses)

    return predicate, any(f == "type" for f, _, _ in clauses)
