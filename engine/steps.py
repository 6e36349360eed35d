"""Filters and transforms: resolving `use:` references and running them on messages."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .connector import StepConfig
from .errors import ConfigError, MessageError, TransformError
from .message import Message

StepFn = Callable[..., Any]


@dataclass
class StepContext:
    """What a filter or transform gets besides the message."""

    channel: str
    destination: str | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("plexus.transform"))
    state: dict[str, Any] = field(default_factory=dict)


class StepResolver:
    """Imports `module:function` or `file.py:function` (from the transforms folder)."""

    def __init__(self, transforms_dir: str | None = None) -> None:
        self.transforms_dir = Path(transforms_dir) if transforms_dir else None
        self._cache: dict[str, StepFn] = {}

    def resolve(self, use: str) -> StepFn:
        """The callable named by `use`; raises ConfigError if it cannot be found."""
        if use in self._cache:
            return self._cache[use]
        target, _, name = use.rpartition(":")
        try:
            if target.endswith(".py"):
                module = self._load_file(target)
            else:
                module = importlib.import_module(target)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"cannot import {target!r} for step {use!r}: {exc}") from exc
        fn = getattr(module, name, None)
        if not callable(fn):
            raise ConfigError(f"{target!r} has no function {name!r}")
        self._cache[use] = fn
        return fn

    def check(self, step: StepConfig) -> None:
        """Resolve one step and check its arguments; raises ConfigError."""
        build_steps([step], self)

    def _load_file(self, filename: str) -> Any:
        base = self.transforms_dir or Path(".")
        path = (base / filename).resolve()
        if not path.exists():
            raise ConfigError(f"transform file {filename!r} not found in {base}")
        # named after the full path: a.py in two folders must not share one module
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
        module_name = f"plexus_user_transforms.{path.stem}_{digest}"
        if module_name in sys.modules:
            return sys.modules[module_name]
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot load transform file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]  # not a half-imported module next time
            raise
        return module


@dataclass
class Step:
    """A resolved filter or transform with its arguments."""

    label: str
    fn: StepFn
    args: dict[str, Any]

    def __call__(self, message: Message, context: StepContext) -> Any:
        return self.fn(message, context, **self.args)


def build_steps(configs: list[StepConfig], resolver: StepResolver) -> list[Step]:
    """Resolve every step and check its arguments against the function's signature."""
    steps = []
    for cfg in configs:
        fn = resolver.resolve(cfg.use)
        try:
            inspect.signature(fn).bind(None, None, **cfg.with_)
        except TypeError as exc:
            raise ConfigError(f"step {cfg.use}: bad arguments {cfg.with_}: {exc}") from None
        except ValueError:  # builtins without a signature
            pass
        steps.append(Step(cfg.name or cfg.use, fn, cfg.with_))
    return steps


def _call(step: Step, message: Message, context: StepContext, kind: str) -> Any:
    """Run one step; an unexpected exception becomes a TransformError naming the step."""
    try:
        return step(message, context)
    except MessageError:
        raise
    except Exception as exc:
        raise TransformError(f"{kind} {step.label} failed: {exc!r}") from exc


def run_filters(steps: list[Step], message: Message, context: StepContext) -> str | None:
    """None if every filter passes, else the label of the first that rejected."""
    for step in steps:
        if not _call(step, message, context, "filter"):
            return step.label
    return None


def run_transforms(steps: list[Step], message: Message, context: StepContext) -> list[Message]:
    """Apply transforms in order; each may return a message, a list (split) or None (drop)."""
    current = [message]
    for step in steps:
        produced: list[Message] = []
        for item in current:
            result = _call(step, item, context, "transform")
            produced.extend(_as_messages(result, item, step.label))
        current = produced
        if not current:
            break
    return current


def _as_messages(result: Any, source: Message, label: str) -> list[Message]:
    if result is None:
        return []
    if isinstance(result, Message):
        return [result]
    if isinstance(result, bytes | str):
        return [source.replace(result)]
    if isinstance(result, dict):
        return [source.replace(json.dumps(result, separators=(",", ":")), "json")]
    if isinstance(result, list | tuple):
        out: list[Message] = []
        for item in result:
            out.extend(_as_messages(item, source, label))
        return out
    raise TransformError(f"transform {label} returned {type(result).__name__}; expected a "
                         "Message, str, bytes, dict, list or None")
