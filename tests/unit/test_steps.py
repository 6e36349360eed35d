"""Filters and transforms: resolving `use:` references, checking arguments, running them."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from engine.connector import StepConfig
from engine.errors import ConfigError, TransformError, ValidationError
from engine.message import Message
from engine.steps import (
    Step,
    StepContext,
    StepResolver,
    build_steps,
    run_filters,
    run_transforms,
)

USER_TRANSFORMS = '''\
from engine.message import Message

calls = []


def shout(message, context, suffix="!"):
    calls.append(context.channel)
    return message.text.upper() + suffix


def tag(message, context, *, key, value):
    message.metadata[key] = value
    return message


NOT_A_FUNCTION = 42
'''


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def transforms_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "transforms"
    write(folder / "mine.py", USER_TRANSFORMS)
    return folder


@pytest.fixture
def context() -> StepContext:
    return StepContext("adt-in")


def msg(content: str = "MSH|^~\\&|A", **kwargs: Any) -> Message:
    return Message(content, "hl7v2", correlation_id="corr-1", channel="adt-in",
                   metadata={"peer": "10.0.0.1"}, **kwargs)


def step(fn: Any, label: str = "step", **args: Any) -> Step:
    return Step(label, fn, args)


# -- resolving -------------------------------------------------------------------------


def test_resolve_module_function() -> None:
    resolver = StepResolver()
    fn = resolver.resolve("json:dumps")
    assert fn is json.dumps
    assert resolver.resolve("json:dumps") is fn
    from transforms import hl7v2

    assert resolver.resolve("transforms.hl7v2:set_field") is hl7v2.set_field


def test_resolve_module_on_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"plexus_test_mod_{uuid.uuid4().hex}"
    write(tmp_path / "lib" / f"{name}.py", "def double(message, context):\n    return 2\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    assert StepResolver().resolve(f"{name}:double")(None, None) == 2


def test_resolve_file_function(transforms_dir: Path, context: StepContext) -> None:
    resolver = StepResolver(str(transforms_dir))
    shout = resolver.resolve("mine.py:shout")
    assert shout(msg("abc"), context) == "ABC!"
    assert resolver.resolve("mine.py:tag").__name__ == "tag"
    assert resolver.resolve("mine.py:shout") is shout


def test_resolve_file_in_a_subfolder(transforms_dir: Path) -> None:
    write(transforms_dir / "hl7" / "fix.py", "def fix(message, context):\n    return 'hl7'\n")
    write(transforms_dir / "fhir" / "fix.py", "def fix(message, context):\n    return 'fhir'\n")
    resolver = StepResolver(str(transforms_dir))
    assert resolver.resolve("hl7/fix.py:fix")(None, None) == "hl7"
    # a file with the same name in another folder is another module
    assert resolver.resolve("fhir/fix.py:fix")(None, None) == "fhir"


def test_same_file_name_in_two_transform_dirs(tmp_path: Path) -> None:
    one = write(tmp_path / "one" / "same.py", "def which(message, context):\n    return 1\n")
    two = write(tmp_path / "two" / "same.py", "def which(message, context):\n    return 2\n")
    assert StepResolver(str(one.parent)).resolve("same.py:which")(None, None) == 1
    assert StepResolver(str(two.parent)).resolve("same.py:which")(None, None) == 2


@pytest.mark.parametrize("use,words", [
    ("no_such_module_q:fn", ["cannot import", "no_such_module_q"]),
    ("json:no_such_function", ["no function", "no_such_function"]),
    ("json:", ["no function"]),
    ("transforms.hl7v2:json", ["no function", "json"]),  # a module, not callable
    ("missing.py:fn", ["missing.py", "not found"]),
    ("mine.py:nope", ["no function", "nope"]),
    ("mine.py:NOT_A_FUNCTION", ["no function", "NOT_A_FUNCTION"]),
])
def test_unresolvable_steps(transforms_dir: Path, use: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        StepResolver(str(transforms_dir)).resolve(use)
    for word in words:
        assert word in info.value.message


def test_file_failing_at_import_is_a_config_error_and_can_be_fixed(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.py", "raise RuntimeError('half written')\n")
    with pytest.raises(ConfigError, match="half written"):
        StepResolver(str(tmp_path)).resolve("broken.py:fn")
    write(path, "def fn(message, context):\n    return 'fixed'\n")
    assert StepResolver(str(tmp_path)).resolve("broken.py:fn")(None, None) == "fixed"


def test_file_with_a_syntax_error(tmp_path: Path) -> None:
    write(tmp_path / "bad.py", "def fn(:\n")
    with pytest.raises(ConfigError, match="bad.py"):
        StepResolver(str(tmp_path)).resolve("bad.py:fn")


# -- build_steps -----------------------------------------------------------------------


def test_build_steps_labels_and_args(transforms_dir: Path) -> None:
    configs = [StepConfig(use="mine.py:shout"),
               StepConfig(use="mine.py:shout", with_={"suffix": "?"}, name="ask"),
               StepConfig.model_validate({"use": "mine.py:tag",
                                          "with": {"key": "k", "value": "v"}})]
    steps = build_steps(configs, StepResolver(str(transforms_dir)))
    assert [(s.label, s.args) for s in steps] == [
        ("mine.py:shout", {}), ("ask", {"suffix": "?"}),
        ("mine.py:tag", {"key": "k", "value": "v"})]
    assert steps[1](msg("hi"), StepContext("adt-in")) == "HI?"


@pytest.mark.parametrize("use,args,word", [
    ("mine.py:shout", {"colour": "red"}, "colour"),  # unexpected keyword
    ("mine.py:tag", {"key": "k"}, "value"),  # a required keyword missing
    ("transforms.hl7v2:set_field", {"path": "PID-3"}, "value"),
])
def test_build_steps_rejects_bad_args(transforms_dir: Path, use: str, args: dict[str, Any],
                                      word: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_steps([StepConfig(use=use, with_=args)], StepResolver(str(transforms_dir)))
    assert use in info.value.message
    assert word in info.value.message


def test_build_steps_propagates_resolution_errors() -> None:
    with pytest.raises(ConfigError, match="no_such_module_q"):
        build_steps([StepConfig(use="no_such_module_q:fn")], StepResolver())


# -- run_transforms --------------------------------------------------------------------


def test_transform_returning_a_message(context: StepContext) -> None:
    replacement = Message("other", "text")
    (out,) = run_transforms([step(lambda m, c: replacement)], msg(), context)
    assert out is replacement


def test_transform_returning_str_bytes_and_dict_keeps_the_envelope(
        context: StepContext) -> None:
    source = msg("abc", business_key="MSG1")
    (as_str,) = run_transforms([step(lambda m, c: m.text.upper())], source, context)
    assert (as_str.content, as_str.content_type) == (b"ABC", "hl7v2")
    assert (as_str.correlation_id, as_str.business_key) == ("corr-1", "MSG1")
    assert as_str.metadata == {"peer": "10.0.0.1"}
    (as_bytes,) = run_transforms([step(lambda m, c: b"\x00raw")], source, context)
    assert as_bytes.content == b"\x00raw"
    (as_dict,) = run_transforms([step(lambda m, c: {"id": 1, "name": "Doe"})], source, context)
    assert as_dict.content_type == "json"
    assert json.loads(as_dict.content) == {"id": 1, "name": "Doe"}
    assert as_dict.correlation_id == "corr-1"
    assert source.content == b"abc"  # the input is not changed


def test_transform_list_splits_and_later_steps_see_each_part(context: StepContext) -> None:
    seen: list[bytes] = []

    def split(message: Message, ctx: StepContext) -> list[Any]:
        return ["a", b"b", ("c", {"d": 4})]

    def record(message: Message, ctx: StepContext, suffix: str) -> str:
        seen.append(message.content)
        return message.text + suffix

    parts = run_transforms([step(split), step(record, suffix="!")], msg(), context)
    assert [p.content for p in parts] == [b"a!", b"b!", b"c!", b'{"d":4}!']
    assert seen == [b"a", b"b", b"c", b'{"d":4}']
    assert all(p.correlation_id == "corr-1" for p in parts)


def test_transform_none_drops_and_stops(context: StepContext) -> None:
    called: list[str] = []

    def later(message: Message, ctx: StepContext) -> Message:
        called.append("later")
        return message

    assert run_transforms([step(lambda m, c: None), step(later)], msg(), context) == []
    assert run_transforms([step(lambda m, c: [])], msg(), context) == []
    assert called == []


def test_no_transforms_pass_the_message_through(context: StepContext) -> None:
    source = msg()
    assert run_transforms([], source, context) == [source]


def test_transform_exception_is_a_transform_error_naming_the_step(
        context: StepContext) -> None:
    def boom(message: Message, ctx: StepContext) -> None:
        raise KeyError("PID")

    with pytest.raises(TransformError) as info:
        run_transforms([step(lambda m, c: m, "first"), step(boom, "normalise-pid")], msg(),
                       context)
    assert "normalise-pid" in str(info.value)
    assert "KeyError" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.reason == "transform"


def test_transform_message_error_passes_through(context: StepContext) -> None:
    def invalid(message: Message, ctx: StepContext) -> None:
        raise ValidationError("MRN missing", "PID-3")

    with pytest.raises(ValidationError) as info:
        run_transforms([step(invalid)], msg(), context)
    assert info.value.location == "PID-3"


def test_transform_bad_return_type(context: StepContext) -> None:
    with pytest.raises(TransformError, match="counter.*int"):
        run_transforms([step(lambda m, c: 42, "counter")], msg(), context)


def test_transforms_get_context_and_args_from_a_file(transforms_dir: Path) -> None:
    resolver = StepResolver(str(transforms_dir))
    steps = build_steps([StepConfig(use="mine.py:tag", with_={"key": "site", "value": "n"}),
                         StepConfig(use="mine.py:shout", with_={"suffix": "."})], resolver)
    context = StepContext("lab-in", destination="ehr")
    (out,) = run_transforms(steps, msg("obx"), context)
    assert out.content == b"OBX."
    assert out.metadata == {"peer": "10.0.0.1", "site": "n"}
    module = resolver.resolve("mine.py:shout").__globals__
    assert module["calls"][-1] == "lab-in"


# -- run_filters -----------------------------------------------------------------------


def test_filters_all_pass(context: StepContext) -> None:
    assert run_filters([step(lambda m, c: True), step(lambda m, c: 1)], msg(), context) is None
    assert run_filters([], msg(), context) is None


def test_first_rejecting_filter_is_named_and_later_ones_do_not_run(
        context: StepContext) -> None:
    ran: list[str] = []

    def check(message: Message, ctx: StepContext, name: str, result: bool) -> bool:
        ran.append(name)
        return result

    steps = [step(check, "a", name="a", result=True), step(check, "only-adt", name="b",
                                                           result=False),
             step(check, "c", name="c", result=True)]
    assert run_filters(steps, msg(), context) == "only-adt"
    assert ran == ["a", "b"]
    assert run_filters([step(lambda m, c: None, "none")], msg(), context) == "none"


def test_filter_exception_is_a_transform_error(context: StepContext) -> None:
    def boom(message: Message, ctx: StepContext) -> bool:
        raise ValueError("no MSH-9")

    with pytest.raises(TransformError) as info:
        run_filters([step(boom, "type-check")], msg(), context)
    assert "filter type-check failed" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_filter_message_error_passes_through(context: StepContext) -> None:
    def invalid(message: Message, ctx: StepContext) -> bool:
        raise ValidationError("bad", "MSH-9")

    with pytest.raises(ValidationError):
        run_filters([step(invalid)], msg(), context)


def test_hl7_filter_from_the_library(context: StepContext) -> None:
    steps = build_steps([StepConfig(use="transforms.hl7v2:message_type_in",
                                    with_={"types": ["ADT^A01"]}, name="adt-only")],
                        StepResolver())
    adt = msg("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||123\r")
    orm = msg("MSH|^~\\&|A|B|C|D|20240101||ORM^O01|2|P|2.5\rPID|1||123\r")
    assert run_filters(steps, adt, context) is None
    assert run_filters(steps, orm, context) == "adt-only"
