"""HL7 v2 codec: parsing, escaping, set/encode, batches (corpus in tests/data/hl7v2); paths
are in test_hl7v2_paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ParseError
from engine.message import Message
from protocols.hl7v2.escaping import Separators, escape, unescape
from protocols.hl7v2.message import Hl7Message, split_batch

DATA = Path(__file__).resolve().parent.parent / "data" / "hl7v2"

ENVELOPES = {  # file -> control ids of the messages split_batch must return
    "batch_bhs_bts_2msgs_pyhl7.hl7": ["12334456778890", "12334456778891"],
    "batch_no_header_2msgs_pyhl7.hl7": ["12334456778890", "12334456778891"],
    "file_fhs_2batches_pyhl7.hl7": ["12334456778890", "12334456778891", "12334456778890"],
    "file_fhs_no_bhs_pyhl7.hl7": ["12334456778890", "12334456778891"],
}
NOT_A_MESSAGE = {"edge_escaped_field_value_uuencoded_hapi.txt", "malformed_hl7v2xml_xxe_hapi.xml"}


def _all_files() -> list[str]:
    return sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*")
                  if p.is_file() and p.name != "SOURCES.md")


def _is_bad(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return (base.startswith(("malformed_", "fuzz_")) or base == "batch_bts_without_bhs_pyhl7.hl7"
            or base in NOT_A_MESSAGE)


VALID = [n for n in _all_files() if not _is_bad(n) and n.rsplit("/", 1)[-1] not in ENVELOPES]
BAD = [n for n in _all_files() if _is_bad(n)]


def read(name: str) -> str:
    return (DATA / name).read_bytes().decode("utf-8")


def normalise(text: str) -> str:
    """Expected encode(): BOM/leading junk gone, CR segment ends, blank lines dropped."""
    text = text.lstrip("\ufeff\x00 \t\r\n")
    return "".join(line + "\r" for line in re.split(r"\r\n|\r|\n", text) if line.strip())


def test_corpus_selection_is_not_empty() -> None:
    assert len(VALID) >= 50
    assert len(BAD) >= 25
    assert "authored/edge_all_escape_sequences_v25_authored.hl7" in VALID
    assert "fuzz/fuzz_stackoverflow_2_nhapi.hl7" in BAD


# ------------------------------------------------------------------------------- corpus
@pytest.mark.parametrize("name", VALID)
def test_valid_corpus_round_trips(name: str) -> None:
    text = read(name)
    msg = Hl7Message.parse(text)
    assert msg.encode() == normalise(text)
    assert msg.modified is False
    assert msg.segment_ids[0] == "MSH"
    assert len(msg.segment_ids) == normalise(text).count("\r")
    assert re.fullmatch(r"[A-Z0-9]{3}", msg.message_code)
    assert msg.separators.field == normalise(text)[3]
    # a second pass over the output is stable
    assert Hl7Message.parse(msg.encode()).encode() == msg.encode()


@pytest.mark.parametrize("name", [n for n in VALID if "multi_message" not in n])
def test_valid_corpus_has_complete_header(name: str) -> None:
    msg = Hl7Message.parse(read(name))
    msg.validate_header()
    assert msg.control_id
    assert msg.version.startswith("2.")
    assert msg.processing_id in ("P", "T", "D")


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", _all_files())
def test_any_file_parses_or_raises_parse_error(name: str) -> None:
    text = (DATA / name).read_bytes().decode("utf-8", errors="replace")
    for parse in (Hl7Message.parse, split_batch):
        try:
            result = parse(text)
        except ParseError as exc:
            assert exc.message
        else:
            assert result is not None


@pytest.mark.parametrize(("name", "location"), [
    ("authored/malformed_bad_encoding_chars_authored.hl7", "MSH-2"),
    ("authored/malformed_duplicate_encoding_chars_authored.hl7", "MSH-2"),
    ("authored/malformed_no_msh_first_authored.hl7", "MSH"),
    ("fuzz/fuzz_msh2_is_digit_nhapi.hl7", "MSH-2"),
    ("fuzz/fuzz_msh_no_delimiters_nhapi.hl7", "MSH-1"),
    ("fuzz/fuzz_hang_short_encoding_chars_nhapi.hl7", "MSH-2"),
    ("fuzz/fuzz_stackoverflow_2_nhapi.hl7", "MSH-2"),
    ("fuzz/fuzz_msh_many_empty_fields_nhapi.hl7", "MSH-2"),
    ("fuzz/fuzz_control_chars_ack_nhapi.hl7", "MSH-2"),
    ("fuzz/fuzz_splice_000123_nhapi.hl7", "MSH-2"),
    ("fuzz/fuzz_empty_file_nhapi.hl7", "MSH"),
    ("fuzz/fuzz_leading_nul_bytes_nhapi.hl7", "MSH"),  # NULs stripped, STX is not
    ("malformed_adt_a01_lf_literal_backslash_r_lfh.hl7", "MSH-2"),  # MSH-2 '^~\\&'
    ("malformed_hl7v2xml_xxe_hapi.xml", "MSH"),
])
def test_malformed_files_raise_parse_error_with_location(name: str, location: str) -> None:
    with pytest.raises(ParseError) as info:
        Hl7Message.parse(read(name))
    assert info.value.location == location


def test_binary_segment_ids_are_rejected() -> None:
    with pytest.raises(ParseError) as info:
        Hl7Message.parse(read("fuzz/fuzz_binary_segment_ids_nhapi.hl7"))
    assert info.value.location == "segment 4"
    assert "segment id" in info.value.message


@pytest.mark.parametrize(("text", "location"), [
    ("", "MSH"), ("\r\n \x00", "MSH"), ("MSH", "MSH-1"), ("MSH|", "MSH-2"),
    ("MSH|^~\\", "MSH-2"), ("MSH|^~\\&#!|X", "MSH-2"), ("MSH|^~\\|", "MSH-2"),
    ("MSH|^~\\a|X", "MSH-2"), ("MSH^^~\\&", "MSH-2"), ("MSH|^~\\&\rpid|1", "segment 2"),
    ("MSH|^~\\&\rPI|1", "segment 2"), ("MSH|^~\\&\rPID^1", "segment 2"),
    ("BHS|^~\\&\rMSH|^~\\&", "MSH"),
])
def test_parse_errors(text: str, location: str) -> None:
    with pytest.raises(ParseError) as info:
        Hl7Message.parse(text)
    assert info.value.location == location


def test_parse_rejects_non_text() -> None:
    with pytest.raises(ParseError):
        Hl7Message.parse(b"MSH|^~\\&|A")  # type: ignore[arg-type]


def test_empty_required_fields_parse_but_fail_validation() -> None:
    msg = Hl7Message.parse(read("authored/malformed_empty_required_msh_fields_authored.hl7"))
    assert msg.segment_ids == ["MSH", "EVN"]
    assert (msg.message_type, msg.control_id, msg.version) == ("", "", "")
    with pytest.raises(ParseError) as info:
        msg.validate_header()
    assert info.value.location == "MSH-9"
    msg.set("MSH-9", "ADT^A01")  # now MSH-10 is the first missing one
    for location, value in (("MSH-10", "C1"), ("MSH-11", "P"), ("MSH-12", "2.5")):
        with pytest.raises(ParseError) as info:
            msg.validate_header()
        assert info.value.location == location
        msg.set(location, value)
    msg.validate_header()
    short = Hl7Message.parse(read("authored/malformed_missing_msh_fields_authored.hl7"))
    assert short.sending_facility == "GOODHEALTH"
    with pytest.raises(ParseError, match="message type"):
        short.validate_header()


def test_mixed_segment_terminators_and_leading_junk() -> None:
    msg = Hl7Message.parse(read("authored/malformed_mixed_separators_authored.hl7"))
    assert msg.segment_ids == ["MSH", "EVN", "PID", "PV1"]
    assert msg.get("PV1-3") == "CLINIC"
    text = "\ufeff\x00\x00\r\n  MSH|^~\\&|A|B\n\nPID|1 \r\n\r \t\rPV1|1\r\x1c\r\x00"
    msg = Hl7Message.parse(text)
    assert msg.encode() == "MSH|^~\\&|A|B\rPID|1 \rPV1|1\r"
    assert msg.segment_ids == ["MSH", "PID", "PV1"]
    assert msg.sending_application == "A"


def test_crlf_blank_lines_and_trailing_whitespace_line() -> None:
    text = read("edge_adt_o01_crlf_blank_lines_efferent.hl7")
    msg = Hl7Message.parse(text)
    assert msg.segment_ids == ["MSH", "PID", "NK1", "NK1", "PV1"]
    assert msg.message_type == "ADT^O01"
    assert "\n" not in msg.encode()


# ----------------------------------------------------------------------------- escaping
SEPS = Separators()


def test_escape_sequences_in_corpus() -> None:
    msg = Hl7Message.parse(read("authored/edge_all_escape_sequences_v25_authored.hl7"))
    assert msg.get("NTE[1]-3") == ("Field sep | component ^ subcomponent & repetition ~ "
                                   "escape \\ done")
    second = msg.get("NTE[2]-3")
    assert "Highlight \\H\\IMPORTANT\\N\\ normal" in second
    assert "line break\nsecond line" in second
    assert "hex ABCD;" in second
    assert "local \\Zabc\\;" in second
    assert second.endswith("unicode é ü 中")
    assert msg.get("NTE[3]-3") == "Trailing escape at end of field \\"
    assert msg.get("NTE[4]-3") == "Unterminated escape \\F here"
    assert msg.get("PID-5.1") == "O'TESTER&SONS"
    assert msg.get_raw("PID-5.1") == "O'TESTER\\T\\SONS"
    # the authored file puts the character set one field too far (MSH-19, not MSH-18)
    assert msg.get("MSH-19") == "UNICODE UTF-8" and msg.charset == ""


def test_formatting_and_hex_escapes() -> None:
    msg = Hl7Message.parse(read("edge_orm_o01_formatting_escapes_efferent.hl7"))
    assert msg.get("NTE[1]-3") == ("some text\nsome text after \\H\\new line\\N\\\n"
                                   "issue Efferent-Health#82")
    assert msg.get("NTE[2]-3") == ("some text\r\nsome text after new line\r\n"
                                   "issue Efferent-Health#81")


def test_uuencoded_escaped_value_round_trips() -> None:
    raw = read("edge_escaped_field_value_uuencoded_hapi.txt")
    value = unescape(raw, SEPS)
    assert value.startswith("begin 644 WAV.DAT\r\nM)5!$1BTQ")
    assert value.endswith("`\r\nend\r\n")
    assert "\\X0D\\" not in value and "\\T\\" not in value
    assert escape(value, SEPS) == raw
    assert unescape(escape(value, SEPS), SEPS) == value


@pytest.mark.parametrize(("plain", "escaped"), [
    ("a|b^c~d&e\\f", "a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f"),
    ("x\r\ny", "x\\X0D\\\\X0A\\y"),
    ("plain text", "plain text"),
    ("", ""),
    ("keep \\H\\bold\\N\\ \\.sp2\\ \\C2842\\", "keep \\H\\bold\\N\\ \\.sp2\\ \\C2842\\"),
    ("not \\X41\\ hex", "not \\E\\X41\\E\\ hex"),
    ("\\Z\\", "\\E\\Z\\E\\"),
])
def test_escape(plain: str, escaped: str) -> None:
    assert escape(plain, SEPS) == escaped
    assert unescape(escaped, SEPS) == plain


@pytest.mark.parametrize(("escaped", "plain"), [
    ("\\X41424344\\", "ABCD"),
    ("\\Xc3a9\\", "é"),
    ("\\XC3\\\\XA9\\", "é"),  # one UTF-8 character split over two hex escapes
    ("\\XE9\\", "é"),  # not UTF-8: latin-1
    ("a\\.br\\b", "a\nb"),
    ("\\XZZ\\", "\\XZZ\\"),
    ("\\X123\\", "\\X123\\"),
    ("\\Q\\", "\\Q\\"),
    ("\\Cxxyy\\", "\\Cxxyy\\"),
    ("\\M2842A4\\x", "\\M2842A4\\x"),
    ("unterminated \\F", "unterminated \\F"),
    ("\\\\F\\", "\\|"),
    ("\\P\\", "\\P\\"),  # no truncation character declared
])
def test_unescape(escaped: str, plain: str) -> None:
    assert unescape(escaped, SEPS) == plain


def test_truncation_character_v27() -> None:
    msg = Hl7Message.parse("MSH|^~\\&#|APP|FAC|||||ADT^A01|1|P|2.7\rPID|1||ID#1\r")
    seps = msg.separators
    assert seps.truncation == "#" and seps.encoding_characters == "^~\\&#"
    assert msg.get("MSH-2") == "^~\\&#"
    assert escape("a#b", seps) == "a\\P\\b"
    assert unescape("a\\P\\b", seps) == "a#b"
    msg.set("PID-5", "X#Y")
    assert msg.get_raw("PID-5") == "X\\P\\Y" and msg.get("PID-5") == "X#Y"
    assert msg.encode().startswith("MSH|^~\\&#|APP")


def test_separators_from_header() -> None:
    assert Separators.from_header("BHS|^~\\&|x") == Separators()
    assert Separators.from_header("FHS$%~!&") == Separators("$", "%", "~", "!", "&")
    assert hash(Separators()) == hash(Separators.from_header("MSH|^~\\&"))
    with pytest.raises(ParseError) as info:
        Separators.from_header("FHS|^~&")
    assert info.value.location == "FHS-2"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_escape_unescape_property(value: str) -> None:
    assert unescape(escape(value, SEPS), SEPS) == value
    odd = Separators("$", "%", "~", "!", "&", "#")
    assert unescape(escape(value, odd), odd) == value


_SAMPLE = read("adt_a01_v23_bom_fhirconv.hl7")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(), path=st.sampled_from([
    "PID-5.1", "PID-3(2).4.2", "NTE-3", "OBX[1]-5(3)", "ZPI-2.2", "MSH-3", "PID-5"]))
def test_set_get_round_trip_property(value: str, path: str) -> None:
    msg = Hl7Message.parse(_SAMPLE)
    msg.set(path, value)
    assert msg.get(path) == value
    again = Hl7Message.parse(msg.encode())
    assert again.get(path) == value
    assert again.segment_ids == msg.segment_ids


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("MSHPID|^~\\&\r\n\x00 ABC12\ufeff"), max_size=80))
def test_random_text_parses_or_raises_parse_error(text: str) -> None:
    try:
        msg = Hl7Message.parse(text)
    except ParseError:
        return
    msg.get("MSH-9")
    assert msg.encode().startswith("MSH")


# ------------------------------------------------------------------------- set / encode
@pytest.fixture()
def adt() -> Hl7Message:
    return Hl7Message.parse(_SAMPLE)


def test_set_only_changes_the_target_segment(adt: Hl7Message) -> None:
    before = [s.raw for s in adt.segments()]
    assert adt.modified is False
    adt.set("PID-5.1", "O'NEIL|JR")
    after = [s.raw for s in adt.segments()]
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [adt.segment_ids.index("PID")]
    assert adt.modified is True
    assert "O'NEIL\\F\\JR^DONALD^D" in after[changed[0]]
    assert adt.encode() == "\r".join(after) + "\r"
    assert adt.get("PID-5.1") == "O'NEIL|JR"
    assert adt.get("PID-5.2") == "DONALD"
    # trailing-space segments elsewhere are emitted verbatim
    assert adt.segments("EVN")[0].raw.endswith("||||| ")


def test_set_same_value_is_not_a_modification(adt: Hl7Message) -> None:
    adt.set("PID-5.1", "DUCK")
    adt.set("PID-99", "")
    adt.set("ZZZ-1", "")
    assert adt.modified is False
    assert adt.encode() == normalise(_SAMPLE)


def test_set_creates_missing_elements(adt: Hl7Message) -> None:
    adt.set("PID-40.2", "X")
    pid = adt.segments("PID")[0]
    assert len(pid) == 40
    assert adt.get("PID-40.2") == "X" and adt.get("PID-40.1") == ""
    assert pid.raw.endswith("|^X")
    adt.set("PID-3(3).1", "R3")
    assert adt.get_raw("PID-3") == "10006579^^^1^MR^1"
    assert adt.get("PID-3(3).1") == "R3"
    assert adt.segments("PID")[0].field(3) == "10006579^^^1^MR^1~~R3"
    adt.set("PID-3.4.2", "sub")
    assert adt.get("PID-3.4") == "1&sub"
    adt.set("ZZZ-2", "v")
    assert adt.segment_ids[-1] == "ZZZ"
    assert adt.encode().endswith("\rZZZ||v\r")
    adt.set("ZZZ[2]-1", "w")
    assert adt.get("ZZZ[2]-1") == "w"
    with pytest.raises(ValueError):
        adt.set("OBX[3]-1", "gap")


def test_set_whole_field_and_msh(adt: Hl7Message) -> None:
    adt.set("PID-3", "NEW")
    assert adt.get_raw("PID-3") == "NEW" and adt.get("PID-3(2)") == ""
    adt.set("MSH-3", "NEWAPP")
    adt.set("MSH-9.2", "A08")
    assert adt.encode().startswith("MSH|^~\\&|NEWAPP|1|||20050110045504+0700||ADT^A08|599102|")
    assert adt.message_type == "ADT^A08"
    for path in ("MSH-1", "MSH-2"):
        with pytest.raises(ValueError):
            adt.set(path, "x")
    with pytest.raises(TypeError):
        adt.set("PID-3", 5)  # type: ignore[arg-type]


def test_set_raw(adt: Hl7Message) -> None:
    adt.set_raw("PID-5", "DOE^JOHN~ALIAS^J")
    assert adt.get("PID-5.2") == "JOHN" and adt.get("PID-5(2).1") == "ALIAS"
    adt.set_raw("NK1-2.1", "A&B")
    assert adt.get("NK1-2.1.2") == "B"
    for path, raw in (("PID-5.1", "A^B"), ("PID-5", "A|B"), ("PID-5", "A\rB"),
                      ("PID-5(2)", "A~B"), ("PID-5.1.1", "A&B")):
        with pytest.raises(ValueError):
            adt.set_raw(path, raw)


def test_engine_message_reencodes_after_set(adt: Hl7Message) -> None:
    envelope = Message.from_hl7(adt)
    assert envelope.content.decode() == normalise(_SAMPLE)
    adt.set("PID-5.1", "MOUSE")
    assert adt.modified is True
    assert b"|MOUSE^DONALD^D|" in envelope.content
    assert adt.modified is False
    parsed = Message(normalise(_SAMPLE), "hl7v2")
    assert parsed.hl7.control_id == "599102"


def test_values_read_before_a_set_are_read_again_after_it(adt: Hl7Message) -> None:
    """Every set (a new segment too) shows in the reads that follow, of the message only."""
    assert adt.get("PID-5.1") == "DUCK" and adt.get_raw("MSH-9.2") == "A01"
    assert adt.get("ZZZ-1", "none") == "none" and adt.get("ZZZ-1", "none") == "none"
    adt.set("PID-5.1", "MOUSE")
    adt.set_raw("MSH-9.2", "A08")
    adt.set("ZZZ-1", "z")
    assert adt.get("PID-5.1") == "MOUSE" and adt.get_raw("PID-5.1") == "MOUSE"
    assert adt.get_raw("MSH-9.2") == "A08" and adt.message_type == "ADT^A08"
    assert adt.get("ZZZ-1", "none") == "z"
    copy = adt.copy()
    copy.set("PID-5.1", "GOOFY")
    assert adt.get("PID-5.1") == "MOUSE" and copy.get("PID-5.1") == "GOOFY"


def test_copy_is_independent(adt: Hl7Message) -> None:
    other = adt.copy()
    other.set("PID-5.1", "X")
    assert adt.get("PID-5.1") == "DUCK" and other.get("PID-5.1") == "X"
    assert "Hl7Message(type='ADT^A01'" in repr(adt)


# ------------------------------------------------------------------------------ batches
@pytest.mark.parametrize(("name", "control_ids"), sorted(ENVELOPES.items()))
def test_split_batch_envelopes(name: str, control_ids: list[str]) -> None:
    messages = split_batch(read(name))
    assert [m.control_id for m in messages] == control_ids
    for m in messages:
        assert m.segment_ids == ["MSH", "EVN", "PID", "PD1", "NK1", "PV1"]
        assert m.message_type == "ADT^A04"


@pytest.mark.parametrize(("name", "count"), [
    ("multi_message_oml_o21_nhapi.hl7", 7),
    ("multi_message_oml_o21_oul_r22_hapi.hl7", 13),
    ("adt_a01_v23_bom_fhirconv.hl7", 1),
])
def test_split_batch_back_to_back(name: str, count: int) -> None:
    text = read(name)
    messages = split_batch(text)
    assert len(messages) == count
    assert "".join(m.encode() for m in messages) == normalise(text)


@pytest.mark.parametrize(("name", "match"), [
    ("batch_bts_without_bhs_pyhl7.hl7", "BTS without a matching BHS"),
    ("malformed_batch_nested_bhs_pyhl7.hl7", "batches cannot be nested"),
    ("malformed_batch_no_messages_pyhl7.hl7", "EVN segment outside a message"),
    ("malformed_file_empty_fhs_fts_pyhl7.hl7", "EVN segment outside a message"),
    ("malformed_file_fts_without_fhs_pyhl7.hl7", "FTS without a matching FHS"),
    ("malformed_file_nested_bhs_pyhl7.hl7", "batches cannot be nested"),
    ("malformed_file_nested_fhs_pyhl7.hl7", "FHS inside a file"),
    ("fuzz/fuzz_empty_file_nhapi.hl7", "empty"),
])
def test_split_batch_malformed_envelopes(name: str, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        split_batch(read(name))


MSG = "MSH|^~\\&|A|B|||||ADT^A01|{}|P|2.5\rPID|1\r"


@pytest.mark.parametrize(("text", "location", "match"), [
    ("", "FHS", "empty"),
    (" \r\n\x00", "FHS", "empty"),
    ("BHS|^~\\&\r" + MSG.format(1) + "BTS|2\r", "BTS-1", "says 2 but the envelope holds 1"),
    ("BHS|^~\\&\rBTS|1\r", "BTS-1", "says 1 but the envelope holds 0"),
    ("FHS|^~\\&\rBHS|^~\\&\r" + MSG.format(1) + "BTS|1\rFTS|3\r", "FTS-1", "says 3"),
    ("FHS|^~\\&\r" + MSG.format(1) + "FTS|1\rPID|1\r", "segment 5", "after FTS"),
    ("FHS|^~\\&\rBHS|^~\\&\r" + MSG.format(1) + "FTS|1\r", "segment 5", "open batch"),
    ("BHS|^~\\&\rMSH|^~&|A\rBTS|1\r", "MSH-2", "message 1 of the batch"),
    ("PID|1\r", "MSH", "must start with"),
])
def test_split_batch_errors(text: str, location: str, match: str) -> None:
    with pytest.raises(ParseError, match=match) as info:
        split_batch(text)
    assert info.value.location == location


def test_split_batch_tolerances() -> None:
    assert split_batch("BHS|^~\\&\rBTS|0\r") == []
    assert split_batch("FHS|^~\\&\rFTS|0\r") == []
    mismatch = "BHS|^~\\&\r" + MSG.format(1) + "BTS|5\r"
    assert len(split_batch(mismatch, check_counts=False)) == 1
    unterminated = "FHS|^~\\&\rBHS|^~\\&\r" + MSG.format(1) + MSG.format(2)
    assert [m.control_id for m in split_batch(unterminated)] == ["1", "2"]
    two_batches = ("BHS|^~\\&\r" + MSG.format(1) + "BTS|1\r\n\r\nBHS|^~\\&\r" + MSG.format(2)
                   + MSG.format(3) + "BTS|2")
    assert [m.control_id for m in split_batch(two_batches)] == ["1", "2", "3"]
    assert split_batch("BHS|^~\\&\r" + MSG.format(1) + "BTS|x\r")[0].control_id == "1"
