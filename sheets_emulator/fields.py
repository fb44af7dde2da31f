"""Google field masks: ``fields=id,name,files(id,name)`` and update masks (``a/b,c.d``)."""

from __future__ import annotations

from typing import Any

Tree = dict[str, Any]  # name -> subtree, or None for "everything below"


def parse(mask: str) -> Tree:
    """Parse a field mask into a tree (``{"files": {"id": None}}``)."""
    tree, pos = _parse_list(mask.replace(" ", ""), 0)
    return tree


def _parse_list(text: str, pos: int) -> tuple[Tree, int]:
    tree: Tree = {}
    while pos < len(text):
        start = pos
        while pos < len(text) and text[pos] not in ",()":
            pos += 1
        path = [p for p in text[start:pos].replace("/", ".").split(".") if p]
        sub: Tree | None = None
        if pos < len(text) and text[pos] == "(":
            sub, pos = _parse_list(text, pos + 1)
            pos += 1  # ')'
        if path:
            _insert(tree, path, sub)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] == ")":
            return tree, pos
    return tree, pos


def _insert(tree: Tree, path: list[str], sub: Tree | None) -> None:
    node = tree
    for name in path[:-1]:
        nxt = node.get(name, {})
        if nxt is None:
            return
        node[name] = nxt
        node = nxt
    last = path[-1]
    if sub is None:
        node[last] = None
    elif node.get(last, {}) is not None:
        merged = node.get(last) or {}
        for k, v in sub.items():
            merged[k] = v
        node[last] = merged


def apply(value: Any, tree: Tree | None) -> Any:
    """Keep only the fields the mask selects (``None`` or ``*`` keeps everything)."""
    if tree is None or "*" in tree:
        return value
    if isinstance(value, list):
        return [apply(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, sub in tree.items():
        if key in value:
            out[key] = apply(value[key], sub)
    return out


def mentions(tree: Tree | None, *path: str) -> bool:
    """True when the mask selects something under ``path`` (e.g. ``sheets.data``)."""
    node: Any = tree
    for name in path:
        if node is None:
            return True
        if "*" in node:
            return True
        if name not in node:
            return False
        node = node[name]
    return True


def update_paths(mask: str) -> list[list[str]]:
    """An update mask (``gridProperties/rowCount,title``) as a list of paths."""
    out: list[list[str]] = []

    def walk(tree: Tree, prefix: list[str]) -> None:
        for key, sub in tree.items():
            if sub is None:
                out.append(prefix + [key])
            else:
                walk(sub, prefix + [key])

    walk(parse(mask), [])
    return out


def get_path(obj: dict[str, Any], path: list[str]) -> tuple[bool, Any]:
    """(present, value) at ``path`` in ``obj``."""
    node: Any = obj
    for name in path:
        if not isinstance(node, dict) or name not in node:
            return False, None
        node = node[name]
    return True, node


def set_path(obj: dict[str, Any], path: list[str], value: Any, present: bool) -> None:
    """Set (or delete when not ``present``) ``path`` in ``obj``."""
    node = obj
    for name in path[:-1]:
        nxt = node.get(name)
        if not isinstance(nxt, dict):
            if not present:
                return
            nxt = {}
            node[name] = nxt
        node = nxt
    if present and value is not None:
        node[path[-1]] = value
    else:
        node.pop(path[-1], None)
