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


def load_yaml(text: str, file: str, env: dict[str, str] | None = None) -> Located:
    """Parse YAML, interpolating ${VAR} in string scalars, keeping positions."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ConfigError(f"YAML syntax error: {exc.problem}", file, line, col) from None
    positions: dict[Path, tuple[int, int]] = {}
    errors: list[ConfigError] = []
    data = _construct(node, (), positions, file, env, errors) if node is not None else None
    if errors:
        raise errors[0]
    return Located(data, positions, file)


def _construct(node: yaml.Node, path: Path, positions: dict[Path, tuple[int, int]], file: str,
               env: dict[str, str] | None, errors: list[ConfigError]) -> Any:
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
            result[key] = _construct(value_node, child, positions, file, env, errors)
            positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), positions, file, env, errors)
                for i, item in enumerate(node.value)]
    value = yaml.SafeLoader("").construct_object(node)
    if isinstance(value, str) and "${" in value:
        try:
            value = interpolate(value, env)
        except KeyError as missing:
            errors.append(ConfigError(
                f"environment variable {missing.args[0]} is not set (use ${{{missing.args[0]}:-"
                f"default}} for a default)", file, node.start_mark.line + 1,
                node.start_mark.column + 1))
    return value
