"""DMARC (RFC 7489): the staged policy none -> quarantine (pct=10, after 30 days) -> reject (after 90 days)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from toolkit import validate
from toolkit.errors import ValidationError

Stage = Literal["none", "quarantine", "reject"]
STAGES: tuple[Stage, ...] = ("none", "quarantine", "reject")
QUARANTINE_AFTER_DAYS = 30
REJECT_AFTER_DAYS = 90
DEFAULT_PCT: dict[str, int] = {"none": 100, "quarantine": 10, "reject": 100}


def mailto(value: str, field: str = "dmarc_rua") -> str:
    """``mailto:<address>`` (the ``mailto:`` prefix is optional on input)."""
    address = value.strip().removeprefix("mailto:")
    local, at, host = address.partition("@")
    if not at or not local or any(ch.isspace() or ch in ",;!" for ch in local):
        raise ValidationError(field, f"{value!r} must be an e-mail address (mailto: optional)")
    return f"mailto:{local}@{validate.domain(host, field)}"


@dataclass(frozen=True)
class DmarcPolicy:
    stage: Stage = "none"
    pct: int | None = None  # None: the stage's default (10 for quarantine, 100 otherwise)
    rua: str | None = None

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValidationError("dmarc_stage", f"{self.stage!r} must be one of {', '.join(STAGES)}")
        if self.pct is not None and (isinstance(self.pct, bool) or not 0 <= self.pct <= 100):
            raise ValidationError("dmarc_pct", f"{self.pct!r} must be 0..100")
        if self.rua is not None:
            object.__setattr__(self, "rua", mailto(self.rua))

    @property
    def effective_pct(self) -> int:
        return DEFAULT_PCT[self.stage] if self.pct is None else self.pct

    def text(self) -> str:
        tags = ["v=DMARC1", f"p={self.stage}"]
        if self.effective_pct != 100:
            tags.append(f"pct={self.effective_pct}")
        if self.rua:
            tags.append(f"rua={self.rua}")
        return "; ".join(tags)


def stage_for_age(days: int) -> Stage:
    """The stage a domain should be at ``days`` after its DMARC record was first published."""
    if days >= REJECT_AFTER_DAYS:
        return "reject"
    if days >= QUARANTINE_AFTER_DAYS:
        return "quarantine"
    return "none"


def parse_dmarc(text: str, field: str = "dmarc") -> dict[str, str]:
    """The tags of a DMARC record; raises ``ValidationError`` on what a receiver would discard."""
    parts = [p.strip() for p in text.split(";") if p.strip()]
    tags: dict[str, str] = {}
    for part in parts:
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise ValidationError(field, f"{part!r} is not a tag=value pair")
        if key in tags:
            raise ValidationError(field, f"tag {key!r} given twice")
        tags[key] = value.strip()
    if not parts or parts[0].replace(" ", "") != "v=DMARC1":
        raise ValidationError(field, "must start with 'v=DMARC1'")
    if "p" not in tags or list(tags)[1] != "p":
        raise ValidationError(field, "the 'p' tag must follow 'v=DMARC1'")
    for key in ("p", "sp"):
        if key in tags and tags[key] not in STAGES:
            raise ValidationError(field, f"{key}={tags[key]!r} must be one of {', '.join(STAGES)}")
    if "pct" in tags and not (tags["pct"].isdigit() and int(tags["pct"]) <= 100):
        raise ValidationError(field, f"pct={tags['pct']!r} must be 0..100")
    for key in ("adkim", "aspf"):
        if key in tags and tags[key] not in ("r", "s"):
            raise ValidationError(field, f"{key}={tags[key]!r} must be r or s")
    for key in ("rua", "ruf"):
        for uri in filter(None, (u.strip() for u in tags.get(key, "").split(","))):
            if not uri.startswith("mailto:"):
                raise ValidationError(field, f"{key} URI {uri!r} must be a mailto: address")
            mailto(uri.split("!", 1)[0], field)
    return tags
