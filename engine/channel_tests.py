"""`plexus test`: run <channel>_test.yaml sidecars offline and diff the outputs."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import Field

from .config import ConfigErrors, located_errors, parse_channel
from .connector import StrictModel
from .errors import ConfigError
from .offline import CaseResult, normalise_hl7, run_offline, source_content_type
from .steps import StepResolver
from .yaml_loader import load_yaml


class ExpectedOutput(StrictModel):
    """What one destination should receive."""

    file: str | None = Field(default=None, description="exact expected content, a file")
    equals: str | None = Field(default=None, description="exact expected content, inline")
    contains: list[str] = Field(default_factory=list, description="substrings to find")
    status: Literal["sent", "filtered"] | None = None


class Expectation(StrictModel):
    """What the channel should do with the input."""

    status: Literal["accepted", "filtered", "error"] = "accepted"
    error_contains: str | None = None
    destinations: dict[str, ExpectedOutput] = Field(default_factory=dict)


class Case(StrictModel):
    """One input and its expectation."""

    name: str
    input: str | None = Field(default=None, description="input file, relative to the sidecar")
    message: str | None = Field(default=None, description="inline input")
    expect: Expectation = Field(default_factory=Expectation)


class Sidecar(StrictModel):
    """A <channel>_test.yaml file."""

    channel: str | None = Field(default=None, description="channel file (default: sibling)")
    cases: list[Case] = Field(min_length=1)


def sidecar_files(paths: list[str]) -> list[Path]:
    """The _test.yaml files under paths (a channel file finds its sidecar)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(path.rglob("*_test.yaml")))
        elif path.name.endswith("_test.yaml"):
            found.append(path)
        else:
            sidecar = path.with_name(f"{path.stem}_test.yaml")
            if sidecar.exists():
                found.append(sidecar)
    return found


def _load_sidecar(path: Path) -> Sidecar:
    doc = load_yaml(path.read_text(encoding="utf-8"), str(path))
    try:
        return Sidecar.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        raise ConfigErrors(located_errors(doc, exc)) from None


def run_sidecars(paths: list[str], transforms_dir: str | None,
                 echo: Callable[[str], Any]) -> tuple[int, int]:
    """Run every case; return (failures, total)."""
    files = sidecar_files(paths)
    if not files:
        raise ConfigError(f"no *_test.yaml found in {' '.join(paths)}")
    resolver = StepResolver(transforms_dir)
    failures = total = 0
    for path in files:
        sidecar = _load_sidecar(path)
        channel_path = path.parent / (sidecar.channel or path.name.replace("_test.yaml", ".yaml"))
        channel = parse_channel(channel_path.read_text(encoding="utf-8"), str(channel_path))
        hl7 = source_content_type(channel.source.type) == "hl7v2"
        for case in sidecar.cases:
            total += 1
            if case.input:
                data = (path.parent / case.input).read_bytes()
            else:
                data = (case.message or "").encode()
            result = run_offline(channel, resolver, data)
            problems = _check(case, result, path.parent, hl7)
            if problems:
                failures += 1
                echo(f"FAIL {path}: {case.name}")
                for problem in problems:
                    echo("  " + problem.replace("\n", "\n  "))
            else:
                echo(f"ok   {path}: {case.name}")
    return failures, total


def _check(case: Case, result: CaseResult, base: Path, hl7: bool) -> list[str]:
    expect = case.expect
    problems = []
    if result.status != expect.status:
        problems.append(f"status: expected {expect.status}, got {result.status}"
                        + (f" ({result.error})" if result.error else ""))
        return problems
    if expect.error_contains and expect.error_contains not in (result.error or ""):
        problems.append(f"error {result.error!r} does not contain {expect.error_contains!r}")
    for name, expected in expect.destinations.items():
        if name not in result.outputs:
            problems.append(f"no destination named {name!r}")
            continue
        actual = b"".join(result.outputs[name])
        status = result.destination_status[name]
        if expected.status and expected.status != status:
            problems.append(f"{name}: expected {expected.status}, got {status}")
        want: bytes | None = None
        if expected.file:
            want = (base / expected.file).read_bytes()
        elif expected.equals is not None:
            want = expected.equals.encode()
        if want is not None:
            if hl7 and actual.lstrip().startswith(b"MSH"):
                want, actual = normalise_hl7(want), normalise_hl7(actual)
            if want != actual:
                problems.append(f"{name}: output differs\n" + _diff(want, actual))
        for needle in expected.contains:
            if needle.encode() not in actual:
                problems.append(f"{name}: output does not contain {needle!r}")
    return problems


def _diff(want: bytes, got: bytes) -> str:
    def lines(data: bytes) -> list[str]:
        return data.decode("utf-8", errors="replace").replace("\r", "\n").splitlines()

    return "\n".join(difflib.unified_diff(lines(want), lines(got), "expected", "actual",
                                          lineterm=""))
