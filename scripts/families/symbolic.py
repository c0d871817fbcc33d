"""Polynomials over a graph's named dims, the algebra ``shape_rules`` and ``fold_shapes`` reason in:
a dim such as ``past_sequence_length + sequence_length`` is a sum of monomials with integer
coefficients, and two dims known to be the same polynomial are the same at run time.
"""

from __future__ import annotations

import itertools
from typing import Dict, Optional, Tuple

Poly = Tuple[Tuple[Tuple[str, ...], int], ...]
"""A polynomial with integer coefficients: sorted (monomial, coefficient) pairs; () is the constant."""

_fresh = itertools.count()


def const(c: int) -> Poly:
    return (((), c),) if c != 0 else ()


def symbol(name: str) -> Poly:
    return (((name,), 1),)


def fresh() -> Poly:
    return symbol(f"?{next(_fresh)}")


def _norm(terms: Dict[Tuple[str, ...], int]) -> Poly:
    return tuple(sorted((m, c) for m, c in terms.items() if c != 0))


def add(a: Poly, b: Poly, sign: int = 1) -> Poly:
    terms = dict(a)
    for m, c in b:
        terms[m] = terms.get(m, 0) + sign * c
    return _norm(terms)


def mul(a: Poly, b: Poly) -> Poly:
    terms: Dict[Tuple[str, ...], int] = {}
    for (ma, ca), (mb, cb) in itertools.product(a, b):
        m = tuple(sorted(ma + mb))
        terms[m] = terms.get(m, 0) + ca * cb
    return _norm(terms)


def as_int(p: Poly) -> Optional[int]:
    if not p:
        return 0
    if len(p) == 1 and p[0][0] == ():
        return p[0][1]
    return None


def divide(a: Poly, b: Poly) -> Optional[Poly]:
    """a / b when b is a monomial that divides every term of a exactly; else None."""
    if len(b) != 1:
        return None
    (mb, cb), = b
    out: Dict[Tuple[str, ...], int] = {}
    for m, c in a:
        rest = list(m)
        for s in mb:
            if s not in rest:
                return None
            rest.remove(s)
        if c % cb != 0:
            return None
        out[tuple(rest)] = c // cb
    return _norm(out)


def nonnegative(p: Poly) -> bool:
    """Whether ``p`` is a sum of products of dims with positive coefficients (so never negative)."""
    return all(c > 0 for _, c in p)


def equal(a: Poly, b: Poly) -> Optional[bool]:
    if a == b:
        return True
    ia, ib = as_int(a), as_int(b)
    if ia is not None and ib is not None:
        return ia == ib
    for x, y in ((a, b), (b, a)):
        iy = as_int(y)
        if iy is not None and iy < 0 and nonnegative(x):
            return False
    return None
