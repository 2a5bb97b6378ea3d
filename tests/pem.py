"""PEM private-key markers built at run time, so no file in the repository looks like committed key material
to secret scanners (the tests only need the markers, never a real key)."""

from __future__ import annotations


def begin(kind: str = "") -> str:
    return "-----BEGIN " + (f"{kind} " if kind else "") + "PRIVATE KEY-----"


def end(kind: str = "") -> str:
    return "-----END " + (f"{kind} " if kind else "") + "PRIVATE KEY-----"
