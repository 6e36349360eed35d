"""YAML loading that remembers where every value came from, with ${VAR} interpolation."""

from __future__ import annotations

import os
import re
from typing import Any

import yaml

from .errors import ConfigError

Path = tuple[Any, ...]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Located:
    """A loaded document plus the line/column of each value, keyed by its path."""

    def __init__(self, data: Any, positions: dict[Path, tuple[int, int]], file: str) -> None:
        self.data = data
        self.positions = positions
        self.file = file

    def where(self, path: Path) -> tuple[int, int]:
        """Line and column of the deepest known prefix of path (1-based)."""
        path = tuple(path)
        while path and path not in self.positions:
            path = path[:-1]
        return self.positions.get(path, (1, 1))

    def error(self, path: Path, message: str) -> ConfigError:
        """A ConfigError located at path."""
        line, col = self.where(path)
        return ConfigError(message, self.file, line, col)


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Replace ${VAR} and ${VAR:-default}; a missing VAR without default raises KeyError."""
    env = os.environ if env is None else env

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise KeyError(name)
            return default
        return value

    return _VAR.sub(sub, text)


# ${VAR} tokens are swapped for same-length runs of private-use characters before parsing, so
# that `{dir: ${OUT_DIR}}` parses in a flow mapping (whose plain scalars may not hold braces)
# and every column stays where it was; string values get the tokens back, then interpolation.
_MARK, _PAD, _DIGIT0 = "\ue000", "\ue001", 0xE100


def _shield(text: str) -> tuple[str, dict[str, str]]:
    tokens: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        n, digits = len(tokens), ""
        while True:
            n, digit = divmod(n, 0x1000)
            digits += chr(_DIGIT0 + digit)
            if not n:
                break
        holder = _MARK + digits
        if len(holder) > len(token):
            return token  # cannot keep the columns: leave it as written
        holder += _PAD * (len(token) - len(holder))
        tokens[holder] = token
        return holder

    return _VAR.sub(swap, text), tokens


def _unshield(value: str, tokens: dict[str, str]) -> str:
    for holder, token in tokens.items():
        if holder in value:
            value = value.replace(holder, token)
    return value


def load_yaml(text: str, file: str, env: dict[str, str] | None = None) -> Located:
    """Parse YAML, interpolating ${VAR} in string scalars, keeping positions."""
    text, tokens = _shield(text)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ConfigError(f"YAML syntax error: {exc.problem}", file, line, col) from None
    positions: dict[Path, tuple[int, int]] = {}
    errors: list[ConfigError] = []
    data = _construct(node, (), positions, file, env, errors, tokens) \
        if node is not None else None
    if errors:
        raise errors[0]
    return Located(data, positions, file)


def _construct(node: yaml.Node, path: Path, positions: dict[Path, tuple[int, int]], file: str,
               env: dict[str, str] | None, errors: list[ConfigError],
               tokens: dict[str, str]) -> Any:
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(key_node.value).construct_object(key_node) \
                if not isinstance(key_node, yaml.ScalarNode) else key_node.value
            if key in result:
                errors.append(ConfigError(f"duplicate key {key!r}", file,
                                          key_node.start_mark.line + 1,
                                          key_node.start_mark.column + 1))
            child = (*path, key)
            positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _construct(value_node, child, positions, file, env, errors, tokens)
            positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), positions, file, env, errors, tokens)
                for i, item in enumerate(node.value)]
    value = yaml.SafeLoader("").construct_object(node)
    if isinstance(value, str) and _MARK in value:
        value = _unshield(value, tokens)
    if isinstance(value, str) and "${" in value:
        try:
            value = interpolate(value, env)
        except KeyError as missing:
            errors.append(ConfigError(
                f"environment variable {missing.args[0]} is not set (use ${{{missing.args[0]}:-"
                f"default}} for a default)", file, node.start_mark.line + 1,
                node.start_mark.column + 1))
    return value
