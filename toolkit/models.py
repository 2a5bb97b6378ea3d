"""The base of every settings model built from operator input, and the one conversion of pydantic's errors.

Settings objects (the Hostwinds client's, Vault's connection, the DNS providers', the simulator's) are pydantic
models: frozen, unknown keys refused, each check a validator. A refusal leaves the constructor as the toolkit's
``ConfigError`` (or the subclass a model names), never as pydantic's own error, so callers keep catching one kind:
its ``field`` is the setting (``field_prefix`` + the path, or the name ``field_names`` gives it, such as the
environment variable it came from) and its ``problem`` what is wrong and the fix.

A field validator raises ``ValueError(problem)`` (``problem_of`` turns a toolkit check's ``ConfigError`` into
one); a check spanning several fields raises the ``ConfigError`` itself, naming the setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidatorFunctionWrapHandler, model_validator

from toolkit.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


def problems(exc: ValidationError, *, prefix: str = "", separator: str = ".", names: Mapping[str, str] | None = None,
             retired: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Each of pydantic's problems in ``exc`` as (setting, what is wrong): the setting is ``names[path]``, else
    ``prefix`` + ``separator`` + the dotted path; an unknown key says so (or what replaced it: ``retired[setting]``).
    Input values are never quoted (one may be a secret)."""
    found: list[tuple[str, str]] = []
    for error in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in error["loc"])
        field = (names or {}).get(path) or separator.join(part for part in (prefix, path) if part) or "settings"
        text = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            text = (retired or {}).get(field, "is not a known setting (typo?)")
        elif error["type"] == "missing":
            text = "is required"
        found.append((field, text))
    return found


def config_error(exc: ValidationError, *, prefix: str = "", names: Mapping[str, str] | None = None,
                 error_type: type[ConfigError] = ConfigError) -> ConfigError:
    """Pydantic's ``exc`` as one toolkit error naming each setting (``problems``), several joined."""
    found = problems(exc, prefix=prefix, names=names)
    if len(found) == 1:
        return error_type(*found[0])
    return error_type(", ".join(field for field, _ in found), "; ".join(f"{f}: {t}" for f, t in found))


def problem_of(check: Callable[[T], R], value: T) -> R:
    """``check(value)``, its ``ConfigError`` turned into the ``ValueError`` a field validator raises."""
    try:
        return check(value)
    except ConfigError as exc:
        raise ValueError(exc.problem) from exc


class SettingsModel(BaseModel):
    """Frozen, unknown keys refused; a refusal is ``error_type`` naming the setting (see the module)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field_prefix: ClassVar[str] = ""
    field_names: ClassVar[Mapping[str, str]] = {}
    error_type: ClassVar[type[ConfigError]] = ConfigError

    @model_validator(mode="wrap")
    @classmethod
    def _refusal_as_config_error(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise config_error(exc, prefix=cls.field_prefix, names=cls.field_names, error_type=cls.error_type) from None

    def replaced(self, **changes: Any) -> Self:
        """A copy with ``changes``, checked again (``dataclasses.replace`` for these models)."""
        return type(self)(**{**dict(self), **changes})

