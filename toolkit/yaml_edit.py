"""Format-preserving edits of a YAML document (ruamel.yaml round-trip mode).

Only the values that are set or removed change: comments, key order, quoting and the types of untouched values stay
as they were. A value equal to the one already there keeps its node (so ``120`` stays ``120`` when ``120.0`` is set,
and setting the same value changes nothing). Comment lines that follow a removed or replaced block are handed to the
entry before it, so they are not lost with it. Strings are quoted when a YAML 1.1 reader (PyYAML, the toolkit's
reader) or a YAML 1.2 reader would otherwise take them for another type.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from toolkit.errors import ConfigError

# (mapping indent, sequence indent, dash offset): the first that reproduces a file exactly is kept for it. The first
# one is how Pulumi and stacks/*.yaml write block lists (``- item`` two spaces under its key).
STYLES: tuple[tuple[int, int, int], ...] = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4))
Path_ = Sequence[str]


class YamlEditError(ConfigError):
    """The document cannot be read or the edit does not fit its shape."""


def _yaml(style: tuple[int, int, int]) -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never fold long values (secure: blobs, URLs)
    rt.indent(mapping=style[0], sequence=style[1], offset=style[2])
    return rt


def _dump(rt: YAML, data: Any) -> str:
    out = io.StringIO()
    rt.dump(data, out)
    return out.getvalue()


class YamlDocument:
    """One YAML document held in round-trip form; ``text()`` renders it in the style it was read in."""

    def __init__(self, text: str, *, source: str = "document") -> None:
        self.source = source
        self.style = STYLES[0]
        try:
            data = _yaml(self.style).load(text) if text.strip() else None
            for style in STYLES:
                if data is not None and _dump(_yaml(style), data) == text:
                    self.style = style
                    break
        except YAMLError as exc:
            raise YamlEditError(source, f"is not valid YAML: {exc}") from None
        if data is None:
            data = CommentedMap()
        if not isinstance(data, CommentedMap):
            raise YamlEditError(source, "must be a YAML mapping at the top level")
        self.data: CommentedMap = data

    def text(self) -> str:
        return _dump(_yaml(self.style), self.data) if self.data else ""

    def get(self, path: Path_) -> Any:
        node: Any = self.data
        for key in path:
            if not isinstance(node, CommentedMap) or key not in node:
                return None
            node = node[key]
        return node

    def set(self, path: Path_, value: Any, *, after: str | None = None) -> None:
        """Set ``path`` to ``value`` (parents created as block maps); a new key goes after ``after`` (else last)."""
        parent = self._parent(path, create=True)
        assert parent is not None
        key, new = path[-1], to_node(value)
        if key not in parent:
            keys = list(parent)
            position = keys.index(after) + 1 if after in keys else len(keys)
            parent.insert(position, key, new)
            return
        old = parent[key]
        merged = merge(old, new)
        if merged is not old:
            tail = _take_tail(parent, key)
            parent[key] = merged
            _give_tail(parent, key, tail)

    def remove(self, path: Path_) -> None:
        parent = self._parent(path, create=False)
        if parent is not None and path[-1] in parent:
            delete(parent, path[-1])

    def _parent(self, path: Path_, *, create: bool) -> CommentedMap | None:
        node = self.data
        for depth, key in enumerate(path[:-1]):
            child = node.get(key)
            if child is None and create:
                child = CommentedMap()
                node[key] = child
            if child is None:
                return None
            if not isinstance(child, CommentedMap):
                raise YamlEditError(self.source, f"{'.'.join(path[: depth + 1])} is not a mapping")
            node = child
        return node


# ---------------------------------------------------------------------------------------------------- values
def to_node(value: Any) -> Any:
    """A plain Python value as a round-trip node: block maps/lists, strings quoted when needed to stay strings."""
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            out[str(key)] = to_node(item)
        return out
    if isinstance(value, list | tuple):
        return CommentedSeq(to_node(item) for item in value)
    if isinstance(value, str) and not _plain_stays_string(value):
        return SingleQuotedScalarString(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise YamlEditError("value", f"cannot write a {type(value).__name__} to a stack file")


def _plain_stays_string(text: str) -> bool:
    try:
        return bool(yaml.safe_load(text) == text)  # YAML 1.1 (``yes``, ``0777``, dates); ruamel quotes for 1.2 itself
    except yaml.YAMLError:
        return False


def _kind(value: Any) -> str:
    if isinstance(value, bool) or type(value).__name__ == "ScalarBoolean":
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__ if not isinstance(value, str) else "str"


def same(old: Any, new: Any) -> bool:
    """Equal as data, kinds included (``"3600"`` is not ``3600``; ``120`` is ``120.0``; ``1`` is not ``true``)."""
    if _kind(old) != _kind(new):
        return False
    if isinstance(old, Mapping):
        return old.keys() == new.keys() and all(same(old[k], new[k]) for k in old)
    if isinstance(old, list | tuple):
        return len(old) == len(new) and all(same(a, b) for a, b in zip(old, new, strict=True))
    return bool(old == new)


def merge(old: Any, new: Any) -> Any:
    """``new``, reusing ``old``'s nodes wherever they already hold the same data (maps are merged key by key)."""
    if isinstance(old, CommentedMap) and isinstance(new, CommentedMap) and len(old):
        for key in [k for k in old if k not in new]:
            delete(old, key)
        previous = None
        for key, value in new.items():
            if key in old:
                merged = merge(old[key], value)
                if merged is not old[key]:
                    tail = _take_tail(old, key)
                    old[key] = merged
                    _give_tail(old, key, tail)
            else:
                old.insert(list(old).index(previous) + 1 if previous in old else len(old), key, value)
            previous = key
        return old
    return old if same(old, new) else new


# -------------------------------------------------------------------------------------------------- comments
# ruamel keeps the comment lines that follow an entry in that entry's "post" token (map: slot 2, list: slot 0), or
# in the last entry of its block value; lines before a key that follows a flow value sit in the key's slot 1.
def _slot(container: Any) -> int:
    return 2 if isinstance(container, CommentedMap) else 0


def _last_entry(container: Any, key: Any) -> tuple[Any, Any]:
    """The entry whose post token holds the comment lines that follow ``container[key]``."""
    value = container[key]
    while isinstance(value, CommentedMap | CommentedSeq) and len(value) and not value.fa.flow_style():
        container, key = value, (list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1)
        value = container[key]
    return container, key


def _take_tail(container: Any, key: Any) -> str:
    """Detach (and return) the full comment lines after ``container[key]``; its end-of-line comment stays."""
    holder, entry = _last_entry(container, key)
    slots = holder.ca.items.get(entry)
    token = slots[_slot(holder)] if slots else None
    if not isinstance(token, CommentToken):
        return ""
    eol, newline, rest = token.value.partition("\n")
    if eol.strip():
        token.value = eol + newline
    else:
        slots[_slot(holder)] = None
    return rest


def _give_tail(container: Any, key: Any, text: str) -> None:
    if not text:
        return
    holder, entry = _last_entry(container, key)
    slots = holder.ca.items.setdefault(entry, [None, None, None, None])
    token = slots[_slot(holder)]
    if isinstance(token, CommentToken):
        token.value = token.value + text
    else:
        slots[_slot(holder)] = CommentToken("\n" + text, CommentMark(0))


def _pre_text(container: CommentedMap, key: str) -> str:
    slots = container.ca.items.get(key)
    tokens = slots[1] if slots and isinstance(slots[1], list) else []
    return "".join(" " * token.column + token.value for token in tokens if isinstance(token, CommentToken))


def delete(container: CommentedMap, key: str) -> None:
    """Remove ``key``; the comment lines around it move to its neighbour instead of disappearing."""
    keys = list(container)
    index = keys.index(key)
    moved = _pre_text(container, key) + _take_tail(container, key)
    del container[key]
    container.ca.items.pop(key, None)
    if not moved:
        return
    if index > 0:
        _give_tail(container, keys[index - 1], moved)
    elif len(keys) > 1:
        slots = container.ca.items.setdefault(keys[1], [None, None, None, None])
        before = [CommentToken(line.lstrip() + "\n", CommentMark(len(line) - len(line.lstrip())))
                  for line in moved.splitlines() if line.strip()]
        slots[1] = before + (slots[1] if isinstance(slots[1], list) else [])
