"""CQL2 text filters (OGC API – Features Part 3) to predicates over public properties.

The text is parsed by ``pygeofilter`` (the OGC filter parsers maintained by their
authors); this module only checks the parsed tree against the queryables and turns it
into a Python predicate. The predicate reads a feature's **public** properties (the dict
:func:`jzmap.presentation.presenters.public_properties` gives), never the stored record:
a filter cannot probe a value the public does not see.

Supported: the *Basic CQL2* conformance class (``=``, ``<>``, ``<``, ``<=``, ``>``,
``>=``, ``IS [NOT] NULL``, ``AND``, ``OR``, ``NOT``, string, number and boolean literals)
and the *advanced comparison operators* (``LIKE``, ``BETWEEN``, ``IN``). Comparisons
follow CQL2's three-valued logic: a comparison with a null is unknown, and a feature is
kept only when the whole filter is true.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pygeofilter import ast

from providers.errors import InvalidFilterError

MAX_FILTER_CHARS = 2_000
"""The longest ``filter`` accepted: a hand-written filter is far shorter, and a parser
handed megabytes would spend the request's time on it."""
MAX_FILTER_NODES = 200
"""The most operators and operands a filter may hold (each costs a call per feature)."""

Predicate = Callable[[Mapping[str, Any]], bool]
# Three-valued: True, False or None (unknown, a comparison with a null).
_Test = Callable[[Mapping[str, Any]], bool | None]
_Value = Callable[[Mapping[str, Any]], Any]

_COMPARISONS: dict[type[ast.Node], Callable[[Any, Any], bool]] = {
    ast.Equal: lambda a, b: bool(a == b),
    ast.NotEqual: lambda a, b: bool(a != b),
    ast.LessThan: lambda a, b: bool(a < b),
    ast.LessEqual: lambda a, b: bool(a <= b),
    ast.GreaterThan: lambda a, b: bool(a > b),
    ast.GreaterEqual: lambda a, b: bool(a >= b),
}


def compile_filter(text: str, queryables: Mapping[str, str]) -> Predicate:
    """A predicate over public properties for the CQL2 text ``text``.

    Parameters
    ----------
    text
        The ``filter`` parameter, in CQL2 text.
    queryables
        Property name to its JSON type (``string``, ``integer``, ``number``, ``boolean``):
        the only names a filter may use, and the type its literals must have.

    Raises
    ------
    InvalidFilterError
        (400) for a filter too long or too large, one that does not parse, or one that
        names a property that is not queryable, compares it with a literal of another
        type, or uses an operator outside the classes above; the message says which.

    Examples
    --------
    >>> keep = compile_filter("kind = 'company' AND practitioners >= 10",
    ...                       {"kind": "string", "practitioners": "integer"})
    >>> keep({"kind": "company", "practitioners": 12}), keep({"kind": "station",
    ...                                                       "practitioners": 12})
    (True, False)
    """
    if len(text) > MAX_FILTER_CHARS:
        raise InvalidFilterError.of(
            "filter",
            f"{len(text):,} characters is longer than {MAX_FILTER_CHARS:,}",
            got=text[:80] + "…",
            allowed=_ALLOWED,
        )
    # Imported on first use: building the parser's grammar takes seconds, which every
    # `jzmap serve` start would otherwise pay before its first request.
    from pygeofilter.parsers.cql2_text import parse

    try:
        tree = parse(text)
    except Exception as exc:  # the parser raises lark's errors, and more: any is a bad filter
        raise InvalidFilterError.of(
            "filter", f"not CQL2 text ({_first_line(exc)})", got=text, allowed=_ALLOWED
        ) from None
    compiler = _Compiler(queryables, text)
    test = compiler.test(tree)
    return lambda properties: test(properties) is True


_ALLOWED = (
    "CQL2 text: comparisons (=, <>, <, <=, >, >=), IS [NOT] NULL, LIKE, BETWEEN, IN, "
    "AND, OR, NOT over the collection's queryables, with string, number or boolean "
    "literals; e.g. kind = 'company' AND district = '海珠区'"
)


def _first_line(exc: Exception) -> str:
    words = str(exc).strip().splitlines()
    first = words[0] if words else type(exc).__name__
    return first[:160]


class _Compiler:
    def __init__(self, queryables: Mapping[str, str], text: str) -> None:
        self.queryables = queryables
        self.text = text
        self.nodes = 0

    def fail(self, problem: str) -> InvalidFilterError:
        return InvalidFilterError.of("filter", problem, got=self.text, allowed=_ALLOWED)

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_FILTER_NODES:
            raise self.fail(f"more than {MAX_FILTER_NODES} operators and operands")

    def test(self, node: Any) -> _Test:
        self.count()
        if isinstance(node, ast.And | ast.Or):
            return self._combination(node)
        if isinstance(node, ast.Not):
            inner = self.test(node.sub_node)
            return lambda props: _not(inner(props))
        if isinstance(node, bool):
            return lambda props: node
        if type(node) in _COMPARISONS:
            return self._comparison(node)
        if isinstance(node, ast.IsNull):
            value = self.attribute(node.lhs)
            negate = bool(node.not_)
            return lambda props: (value(props) is None) != negate
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.Between):
            return self._between(node)
        if isinstance(node, ast.In):
            return self._in(node)
        raise self.fail(f"{_name(node)} is not supported here")

    def _combination(self, node: ast.And | ast.Or) -> _Test:
        lhs, rhs = self.test(node.lhs), self.test(node.rhs)
        if isinstance(node, ast.And):
            return lambda props: _and(lhs(props), rhs(props))
        return lambda props: _or(lhs(props), rhs(props))

    def _comparison(self, node: Any) -> _Test:
        compare = _COMPARISONS[type(node)]
        lhs, rhs, kind = self.operands(node.lhs, node.rhs)
        if kind == "boolean" and type(node) not in (ast.Equal, ast.NotEqual):
            raise self.fail("booleans compare with = and <> only")

        def test(props: Mapping[str, Any]) -> bool | None:
            a, b = lhs(props), rhs(props)
            if a is None or b is None:
                return None
            return compare(a, b)

        return test

    def _like(self, node: ast.Like) -> _Test:
        value = self.attribute(node.lhs, "string")
        if not isinstance(node.pattern, str):
            raise self.fail("LIKE needs a string pattern")
        self.count()
        pattern = re.compile(_like_regex(node), re.DOTALL | (re.IGNORECASE if node.nocase else 0))
        negate = bool(node.not_)

        def test(props: Mapping[str, Any]) -> bool | None:
            text = value(props)
            return None if text is None else (pattern.fullmatch(text) is not None) != negate

        return test

    def _between(self, node: ast.Between) -> _Test:
        value, low, kind = self.operands(node.lhs, node.low)
        _, high, _ = self.operands(node.lhs, node.high)
        if kind not in ("integer", "number"):
            raise self.fail("BETWEEN compares numbers")
        negate = bool(node.not_)

        def test(props: Mapping[str, Any]) -> bool | None:
            v, a, b = value(props), low(props), high(props)
            if v is None or a is None or b is None:
                return None
            return bool(a <= v <= b) != negate

        return test

    def _in(self, node: ast.In) -> _Test:
        value = self.attribute(node.lhs)
        kind = self.queryables[node.lhs.name]
        options = []
        for option in node.sub_nodes:
            self.count()
            options.append(self.literal(option, kind))
        wanted = frozenset(options)
        negate = bool(node.not_)

        def test(props: Mapping[str, Any]) -> bool | None:
            v = value(props)
            return None if v is None else (v in wanted) != negate

        return test

    def attribute(self, node: Any, kind: str | None = None) -> _Value:
        """The getter of a queryable property (of type ``kind`` when given)."""
        if not isinstance(node, ast.Attribute):
            raise self.fail(f"expected a property name, got {_name(node)}")
        name = node.name
        if name not in self.queryables:
            known = ", ".join(sorted(self.queryables))
            raise self.fail(f"{name!r} is not a queryable property (queryables: {known})")
        if kind is not None and self.queryables[name] != kind:
            raise self.fail(f"{name!r} is a {self.queryables[name]}, not a {kind}")
        return lambda props: props.get(name)

    def literal(self, node: Any, kind: str) -> Any:
        """A literal of JSON type ``kind`` (an integer is a number too)."""
        ok = {
            "string": isinstance(node, str),
            "boolean": isinstance(node, bool),
            "integer": isinstance(node, int | float) and not isinstance(node, bool),
            "number": isinstance(node, int | float) and not isinstance(node, bool),
        }.get(kind, False)
        if not ok:
            raise self.fail(f"a {kind} property compared with {_name(node)}")
        return node

    def operands(self, lhs: Any, rhs: Any) -> tuple[_Value, _Value, str]:
        """Property and literal getters (either side may hold the property), and the
        property's type."""
        self.count()
        if isinstance(lhs, ast.Attribute):
            prop, literal = lhs, rhs
        elif isinstance(rhs, ast.Attribute):
            prop, literal = rhs, lhs
        else:
            raise self.fail("a comparison needs a queryable property on one side")
        getter = self.attribute(prop)
        kind = self.queryables[prop.name]
        if isinstance(literal, ast.Attribute):
            raise self.fail("comparing two properties is not supported")
        value = self.literal(literal, kind)
        constant: _Value = lambda props: value  # noqa: E731
        if prop is lhs:
            return getter, constant, kind
        return constant, getter, kind


def _name(node: Any) -> str:
    if isinstance(node, ast.Node):
        return f"the operator {type(node).__name__}"
    return f"the value {node!r}"


def _like_regex(node: ast.Like) -> str:
    """The regular expression of a LIKE pattern: CQL2's ``%`` (any run) and ``_`` (one
    character), ``\\`` escaping either. (pygeofilter's CQL2 text parser names ``.`` as the
    single-character wildcard, which would make every dot in a pattern a wildcard; CQL2
    says ``_``.)"""
    out = []
    escape = False
    for ch in node.pattern:
        if escape:
            out.append(re.escape(ch))
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _not(a: bool | None) -> bool | None:
    return None if a is None else not a


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False
