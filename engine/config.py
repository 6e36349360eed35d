"""Channel and settings models, and loading them from YAML with file:line:col errors."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import pydantic
from pydantic import Field, create_model, field_validator, model_validator

from . import registry
from .connector import StepConfig, StrictModel, coerce_steps
from .errors import ConfigError
from .units import Duration
from .yaml_loader import Located, load_yaml


class RetentionConfig(StrictModel):
    """How long message content and metadata are kept; pruned in the background."""

    content: Duration = Field(default=30 * 86400.0, description="stage contents, e.g. 30d")
    metadata: Duration = Field(default=365 * 86400.0, description="message rows, e.g. 365d")


class ChannelBase(StrictModel):
    """A channel: one source, filters and transforms, one or more destinations."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="unique channel name")
    description: str = Field(default="", description="free text for people")
    enabled: bool = Field(default=True, description="false: loaded and validated, not run")
    filters: list[StepConfig] = Field(default_factory=list,
                                      description="all must pass, else FILTERED (ACK AA)")
    transforms: list[StepConfig] = Field(default_factory=list, description="run in order")
    retention: RetentionConfig = Field(default_factory=RetentionConfig,
                                       description="{content: 30d, metadata: 365d}")

    @field_validator("filters", "transforms", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> Any:
        return coerce_steps(value)


def _union(types: dict[str, str], loader: Any) -> Any:
    models = tuple(loader(name).Config for name in sorted(types))
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007


@cache
def channel_model() -> type[ChannelBase]:
    """The channel model with every registered source and destination type."""
    source = _union(registry.source_types(), registry.source_class)
    destination = _union(registry.destination_types(), registry.destination_class)
    return create_model(
        "Channel", __base__=ChannelBase,
        source=(source, Field(description="where messages come from")),
        destinations=(list[destination], Field(min_length=1, description="where they go")),
    )


class StoreSettings(StrictModel):
    """Where messages are kept."""

    backend: Literal["sqlite", "postgres"] = Field(
        default="sqlite", description="sqlite (embedded, one node) or postgres (several nodes)")
    path: str = Field(default="plexus.db", description="SQLite file, relative to data_dir")
    dsn: str | None = Field(default=None, description="PostgreSQL connection string "
                            "(e.g. ${PLEXUS_DSN}); required for postgres")
    schema_name: str = Field(default="plexus", alias="schema", pattern=r"^[a-z_][a-z0-9_]*$",
                             description="PostgreSQL schema that holds the tables")
    migrate: bool = Field(default=True, description="postgres: run `plexus db upgrade` "
                          "on start; off when a deployment step does it")
    node_id: str | None = Field(
        default=None, description="postgres: this node's name in leases (default "
        "host-pid); a fixed id lets a restarted node take its own leases back at once")
    max_batch: int = Field(default=1000, ge=1, description="max writes per group commit")
    writers: int = Field(default=2, ge=1, le=16, description="postgres: writer connections "
                         "committing group transactions side by side")
    commit_thread: bool = Field(
        default=False, description="sqlite: commit in a writer thread instead of the event "
        "loop (postgres always does)")

    @model_validator(mode="after")
    def _dsn_for_postgres(self) -> StoreSettings:
        if self.backend == "postgres" and not self.dsn:
            raise ValueError("store.dsn is required when store.backend is postgres")
        return self


class AdminSettings(StrictModel):
    """The admin HTTP server: /metrics, /healthz, /readyz."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class Settings(StrictModel):
    """Engine settings (configs/plexus.yaml)."""

    data_dir: str = Field(default="data", description="store and runtime files")
    channels: list[str] = Field(default_factory=lambda: ["channels"],
                                description="channel files or folders")
    transforms_dir: str | None = Field(default=None, description="extra transform files")
    store: StoreSettings = Field(default_factory=StoreSettings,
                                 description="where messages are kept (table below)")
    admin: AdminSettings = Field(default_factory=AdminSettings)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    poll_interval: Duration = Field(default=1.0, description="idle queue poll period")
    lease: Duration = Field(default=60.0, description="how long a claimed delivery is held")
    prune_interval: Duration = Field(default=300.0, description="retention pruning period")
    metrics_interval: Duration = Field(default=5.0, description="queue gauge refresh period")


def located_errors(doc: Located, exc: pydantic.ValidationError) -> list[ConfigError]:
    errors = []
    for err in exc.errors():
        path = _data_path(doc.data, err["loc"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            node = _node_at(doc.data, path)
            if isinstance(node, dict) and "type" in node:
                path = (*path, "type")
        where = ".".join(str(p) for p in path) or "(top)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {path[-1]!r}" if path else msg
        elif err["type"] == "missing":
            msg = f"missing required key {err['loc'][-1]!r}"
        errors.append(doc.error(path, f"{where}: {msg}"))
    return errors


def _node_at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Map a pydantic error location onto the document (dropping union tags)."""
    path: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and part == "with" and "with" in node:
            path.append("with")
            node = node["with"]
        elif not isinstance(node, dict | list):
            break
        elif isinstance(part, str) and isinstance(node, dict) and loc[-1] == part:
            path.append(part)  # a missing or unknown key: point at its parent, name it
            break
    return tuple(path)


def parse_channel(text: str, file: str, env: dict[str, str] | None = None,
                  resolver: Any = None) -> Any:
    """Validate one channel document; raises ConfigErrors with every problem found.

    With a step resolver (engine.steps.StepResolver), every filter and transform is also
    imported and its arguments checked, each error at the line of its `use`.
    """
    doc = load_yaml(text, file, env)
    if not isinstance(doc.data, dict):
        raise ConfigError("a channel file is a mapping with name, source, destinations",
                          file, 1, 1)
    try:
        channel = channel_model().model_validate(doc.data)
    except pydantic.ValidationError as exc:
        raise ConfigErrors(located_errors(doc, exc)) from None
    errors: list[ConfigError] = []
    seen: set[str] = set()
    for i, dest in enumerate(channel.destinations):
        if dest.name in seen:
            errors.append(doc.error(("destinations", i, "name"),
                                    f"destination name {dest.name!r} is used twice"))
        seen.add(dest.name)
    if resolver is not None:
        errors.extend(_step_errors(channel, doc, resolver))
    if errors:
        raise ConfigErrors(errors)
    channel.__dict__["_file"] = file
    channel.__dict__["_name_position"] = doc.where(("name",))
    return channel


def _step_errors(channel: Any, doc: Located, resolver: Any) -> list[ConfigError]:
    """Import every step and check its arguments; errors point at its `use` line."""
    groups: list[tuple[tuple[Any, ...], list[StepConfig]]] = [
        (("filters",), channel.filters), (("transforms",), channel.transforms)]
    for j, dest in enumerate(channel.destinations):
        groups += [(("destinations", j, "filters"), dest.filters),
                   (("destinations", j, "transforms"), dest.transforms)]
    errors = []
    for base, steps in groups:
        for i, step in enumerate(steps):
            try:
                resolver.check(step)
            except ConfigError as exc:
                errors.append(doc.error((*base, i, "use"), exc.message))
    return errors


class ConfigErrors(ConfigError):
    """Several config errors at once."""

    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors

    def __str__(self) -> str:
        return self.message


def channel_files(paths: list[str]) -> list[Path]:
    """Every channel file under the given files or folders (test sidecars excluded)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.y*ml") if p.suffix in (".yaml", ".yml")
                                and not p.stem.endswith("_test")))
        elif path.exists():
            found.append(path)
        else:
            raise ConfigError(f"no such channel file or folder: {raw}")
    return found


def load_channels(paths: list[str], env: dict[str, str] | None = None,
                  resolver: Any = None) -> list[Any]:
    """Load and validate channels; raises ConfigErrors with every problem found."""
    channels, errors = [], []
    names: dict[str, str] = {}
    for path in channel_files(paths):
        try:
            channel = parse_channel(path.read_text(encoding="utf-8"), str(path), env, resolver)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
            continue
        except ConfigError as exc:
            errors.append(exc)
            continue
        if channel.name in names:
            line, column = channel.__dict__["_name_position"]
            errors.append(ConfigError(f"channel name {channel.name!r} is also used in "
                                      f"{names[channel.name]}", str(path), line, column))
            continue
        names[channel.name] = str(path)
        channels.append(channel)
    if errors:
        raise ConfigErrors(errors)
    return channels


def load_settings(path: str | None, env: dict[str, str] | None = None) -> Settings:
    """Settings from a YAML file (defaults when the file is absent)."""
    if path is None or not os.path.exists(path):
        if path is not None and path != "configs/plexus.yaml":
            raise ConfigError(f"no such settings file: {path}")
        return Settings()
    doc = load_yaml(Path(path).read_text(encoding="utf-8"), path, env)
    try:
        return Settings.model_validate(doc.data or {})
    except pydantic.ValidationError as exc:
        raise ConfigErrors(located_errors(doc, exc)) from None
