"""Parsing an MTA-STS policy file as a sending MTA would (RFC 8461 section 3.2), to prove the served one is valid."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.errors import ValidationError

MAX_AGE_LIMIT = 31_557_600


@dataclass(frozen=True)
class MtaStsPolicy:
    mode: str
    mx: tuple[str, ...]
    max_age: int

    def covers(self, host: str) -> bool:
        """An ``mx`` pattern matches the host: exactly, or ``*.<rest>`` for one leftmost label."""
        host = host.lower().rstrip(".")
        for pattern in self.mx:
            pattern = pattern.lower().rstrip(".")
            if pattern == host:
                return True
            if pattern.startswith("*.") and host.count(".") >= 2 and host.split(".", 1)[1] == pattern[2:]:
                return True
        return False


def parse_policy(text: str) -> MtaStsPolicy:
    """``version``, ``mode``, ``mx`` (repeated) and ``max_age`` lines, CRLF or LF; unknown keys are ignored, as the
    RFC asks; anything else wrong raises ``ValidationError`` naming it."""
    fields: dict[str, list[str]] = {}
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise ValidationError("mta_sts.policy", f"line {number} is not 'key: value'")
        fields.setdefault(key.strip(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        raise ValidationError("mta_sts.policy", f"version is {fields.get('version')}, not STSv1")
    mode = (fields.get("mode") or [""])[0]
    if mode not in ("enforce", "testing", "none"):
        raise ValidationError("mta_sts.policy", f"mode {mode!r} is not enforce, testing or none")
    try:
        max_age = int((fields.get("max_age") or [""])[0])
    except ValueError:
        raise ValidationError("mta_sts.policy", "max_age is not a number of seconds") from None
    if not 0 <= max_age <= MAX_AGE_LIMIT:
        raise ValidationError("mta_sts.policy", f"max_age {max_age} is outside 0..{MAX_AGE_LIMIT}")
    mx = tuple(fields.get("mx") or ())
    if mode != "none" and not mx:
        raise ValidationError("mta_sts.policy", "names no mx")
    return MtaStsPolicy(mode, mx, max_age)
