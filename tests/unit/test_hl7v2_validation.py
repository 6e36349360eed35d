"""HL7 v2 structure validation with hl7apy: standard structures, profiles, locations, config."""

from __future__ import annotations

import threading
from pathlib import Path

import pydantic
import pytest

from engine.errors import ConfigError, ValidationError
from protocols.hl7v2.ack import ERROR_CODES
from protocols.hl7v2.message import split_batch
from protocols.hl7v2.paths import error_location
from protocols.hl7v2.validation import (
    StructureError,
    StructureValidationConfig,
    StructureValidator,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "hl7v2"
PROFILE = DATA.parent / "hl7v2_profiles" / "adt_a01_v25_minimal_profile_authored.xml"
Z_MESSAGE = "authored/edge_z_segments_v25_authored.hl7"  # conforms to PROFILE
LEVELS = ["strict", "tolerant"]


def read(name: str) -> str:
    return (DATA / name).read_bytes().decode("utf-8")


def read_cr(name: str) -> str:
    """A corpus file with CR segment ends (some files use LF)."""
    return read(name).replace("\r\n", "\r").replace("\n", "\r")


def first(name: str) -> str:
    """The first message of a file holding several."""
    return split_batch(read(name))[0].encode()


def validator(level: str = "strict", **options: object) -> StructureValidator:
    return StructureValidator(StructureValidationConfig(level=level, **options))  # type: ignore


def failure(text: str, level: str = "strict", **options: object) -> StructureError:
    """The StructureError validate() raises for `text`."""
    with pytest.raises(ValidationError) as caught:
        validator(level, **options).validate(text)
    error = caught.value
    assert isinstance(error, StructureError)
    assert error.error_code in ERROR_CODES
    assert error.message and error.location != ""
    return error


def without(text: str, segment: str) -> str:
    """`text` (CR-separated) with every `segment` line removed."""
    return "\r".join(line for line in text.split("\r") if not line.startswith(segment + "|"))


# ---------------------------------------------------------------------- valid messages pass
VALID = {  # name -> what it exercises
    "adt_a01_v251_small_bom_fhirconv.hl7": "ADT^A01 v2.5.1 with a BOM",
    "authored/ack_ae_with_err_v251_authored.hl7": "ACK with ERR",
    "authored/ack_ar_v23_authored.hl7": "ACK^P03 v2.3 (no MSH-9.3)",
    "authored/ack_ca_commit_enhanced_mode_authored.hl7": "MSH-9 'ACK' alone",
    "edge_adt_a24_nonstandard_delimiters_hapi.hl7": "ADT_A24: PID twice in one structure",
    "omd_o03_diet_order_hapi.hl7": "OMD^O03 with groups",
    "ppr_pc1_v231_fhirconv.hl7": "PPR^PC1 v2.3.1 (no MSH-9.3)",
    Z_MESSAGE: "Z-segments, ignored by default",
}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_corpus_messages_pass(name: str, level: str) -> None:
    validator(level).validate(read(name))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", ["batch_no_header_2msgs_pyhl7.hl7",  # ADT^A04^ADT_A01 v2.5
                                  "multi_message_oml_o21_nhapi.hl7"])  # ORC OBR ORC OBR...
def test_first_message_of_multi_message_files_passes(name: str, level: str) -> None:
    validator(level).validate(first(name))


def fixed_oru() -> str:
    """oru_r01_lab_fhirconv_01 with OBR-22 where the sample put it (OBR-23, an NM field)."""
    text = read("oru_r01_lab_fhirconv_01.hl7")
    return (text.replace("|||||||20141006092900+0700||F|F", "||||||20141006092900+0700|||F|F")
            .replace("|||||||20141006092900+0700|||F", "||||||20141006092900+0700||||F"))


def fixed_dft() -> str:
    """The authored DFT^P03 with its unit cost in FT1-22, not FT1-23 (filler order, EI)."""
    return read("authored/dft_p03_supply_charges_v251_authored.hl7").replace(
        "||||||||||0.42&USD", "|||||||||0.42&USD")


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("make", [fixed_oru, fixed_dft], ids=["ORU^R01", "DFT^P03"])
def test_oru_and_dft_pass_once_their_sample_defects_are_fixed(make: object, level: str) -> None:
    validator(level).validate(make())  # type: ignore[operator]


def test_the_sample_defects_are_what_strict_reports() -> None:
    oru = failure(read("oru_r01_lab_fhirconv_01.hl7"))
    assert (oru.location, oru.error_code) == ("OBR-23.1.1", "102")
    assert "'20141006092900+0700' is not a valid NM" in oru.message
    dft = failure(read("authored/dft_p03_supply_charges_v251_authored.hl7"))
    assert (dft.location, dft.error_code) == ("FT1-23.1", "102")
    assert "subcomponents" in dft.message and "ST" in dft.message
    tolerant = failure(read("authored/dft_p03_supply_charges_v251_authored.hl7"), "tolerant")
    assert tolerant.location == "FT1-23.1"


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_lf_and_crlf_segment_ends_are_normalised(ending: str) -> None:
    text = read_cr("adt_a01_v251_small_bom_fhirconv.hl7").replace("\r", ending)
    validator().validate(text)
    assert failure(without(read_cr("adt_a01_v251_small_bom_fhirconv.hl7"), "PID")
                   .replace("\r", ending)).location == "PID"


# ---------------------------------------------------------------------- structure problems
@pytest.mark.parametrize("level", LEVELS)
def test_missing_required_segment_names_it(level: str) -> None:
    error = failure(without(read_cr("adt_a01_v251_small_bom_fhirconv.hl7"), "PID"), level)
    assert (error.location, error.error_code) == ("PID", "100")
    assert error.message == "required segment PID is missing before NK1"
    assert error_location(error.location) == "PID^1"  # ERR-2 for the AE


def test_missing_last_required_segment() -> None:
    error = failure(without(read_cr("adt_a01_v251_small_bom_fhirconv.hl7"), "PV1"))
    assert (error.location, error.message) == (
        "PV1", "required segment PV1 is missing at the end of the message")


def test_missing_event_segment_after_structure_resolution() -> None:
    # ADT^A04 v2.3 has no MSH-9.3: the validator maps it to ADT_A01 and finds EVN missing
    error = failure(read("adt_a04_v23_bom_tz_fhirconv.hl7"), "tolerant")
    assert (error.location, error.message) == ("EVN", "required segment EVN is missing "
                                                      "before PID")


@pytest.mark.parametrize("level", LEVELS)
def test_required_segment_after_a_later_one_is_out_of_order(level: str) -> None:
    lines = read_cr("adt_a01_v251_small_bom_fhirconv.hl7").split("\r")
    pid = next(i for i, line in enumerate(lines) if line.startswith("PID"))
    lines.append(lines.pop(pid))  # PID moved to the end
    error = failure("\r".join(lines), level)
    assert (error.location, error.error_code) == ("PID", "100")
    assert error.message == "segment PID is out of order: ADT_A01 requires it before NK1"


def test_optional_segment_in_the_wrong_place() -> None:
    lines = read_cr("adt_a01_v251_small_bom_fhirconv.hl7").split("\r")
    nk1 = next(i for i, line in enumerate(lines) if line.startswith("NK1"))
    lines.insert(nk1 + 1, lines.pop(nk1))  # NK1 after PV1
    error = failure("\r".join(lines))
    assert (error.location, error.message) == (
        "NK1", "segment NK1 is out of order: ADT_A01 does not allow it after PV1")


def test_corpus_message_with_dg1_after_gt1() -> None:
    error = failure(read("adt_a01_v23_bom_fhirconv.hl7"))
    assert (error.location, error.error_code) == ("DG1", "100")
    assert "DG1 is out of order" in error.message and "after GT1" in error.message


def test_segment_not_in_the_structure() -> None:
    error = failure(read("authored/edge_all_escape_sequences_v25_authored.hl7"))
    assert (error.location, error.message) == ("NTE", "segment NTE is not part of ADT_A01 in "
                                                      "HL7 v2.5")


def test_segment_repeated_beyond_its_maximum() -> None:
    text = read_cr("adt_a01_v251_small_bom_fhirconv.hl7")
    pid = next(line for line in text.split("\r") if line.startswith("PID"))
    error = failure(text.replace(pid, pid + "\r" + pid))
    assert (error.location, error.message) == ("PID[2]", "segment PID repeats more often "
                                                         "than ADT_A01 allows")


@pytest.mark.parametrize("level", LEVELS)
def test_z_segments_are_errors_when_not_allowed(level: str) -> None:
    error = failure(read(Z_MESSAGE), level, allow_z_segments=False)
    assert (error.location, error.error_code) == ("ZPI", "100")
    assert error.message == "Z-segment ZPI is not part of ADT_A01 in HL7 v2.5"


@pytest.mark.parametrize(("version", "shown"), [("2.9", "'2.9'"), ("3.0", "'3.0'")])
def test_unsupported_version(version: str, shown: str) -> None:
    text = read("adt_a01_v251_small_bom_fhirconv.hl7").replace("|P|2.5.1|", f"|P|{version}|")
    error = failure(text)
    assert (error.location, error.error_code) == ("MSH-12", "203")
    assert f"HL7 version {shown} cannot be validated" in error.message
    assert "2.8.2" in error.message  # names what is supported


def test_empty_version() -> None:
    error = failure(read("authored/malformed_empty_required_msh_fields_authored.hl7"))
    assert (error.location, error.message) == ("MSH-12", "MSH-12 (version id) is empty")


def test_unknown_structure_hints_at_the_right_one() -> None:
    error = failure(read("adt_a04_fhirconv_01.hl7"))  # ADT^A04^ADT_A04, v2.8
    assert (error.location, error.error_code) == ("MSH-9", "200")
    assert "ADT_A04" in error.message and "ADT^A04 uses ADT_A01" in error.message


@pytest.mark.parametrize(("name", "location", "words"), [
    ("authored/malformed_duplicate_encoding_chars_authored.hl7", "MSH-2", "duplicate"),
    ("authored/malformed_no_msh_first_authored.hl7", "MSH", "does not start with an MSH"),
    ("batch_no_header_2msgs_pyhl7.hl7", "MSH", "one message at a time"),
])
def test_envelope_problems(name: str, location: str, words: str) -> None:
    error = failure(read(name))
    assert error.location == location and words in error.message


# ---------------------------------------------------------------------- field-level problems
@pytest.mark.parametrize("level", LEVELS)
def test_too_long_value_only_under_strict(level: str) -> None:
    text = read("adt_a03_v25_hapi.hl7")  # PV1-3.11.1: a 25-character facility name, IS max 20
    if level == "tolerant":
        validator(level).validate(text)
        return
    error = failure(text, level)
    assert (error.location, error.error_code) == ("PV1-3.11.1", "104")
    assert error.message == "PV1-3.11.1 is 25 characters long; at most 20 are allowed"


def test_too_long_value_in_a_repetition() -> None:
    text = read("adt_a01_v251_small_bom_fhirconv.hl7").replace(
        "~123456789^^^USSSA^SS", "~" + "9" * 250 + "^^^USSSA^SS")
    error = failure(text)
    assert error.location == "PID-3(2).1" and error.error_code == "104"
    assert error_location(error.location) == "PID^1^3^2^1"


@pytest.mark.parametrize("level", LEVELS)
def test_required_field_empty(level: str) -> None:
    error = failure(read("oru_r01_multiline_tx_lfh.hl7"), level)
    assert (error.location, error.error_code) == ("OBX-3", "101")
    assert error.message == "required field OBX-3 (observation identifier) is empty"
    second = failure(read("oru_r01_multiline_mixed_lfh.hl7"), level)
    assert second.location == "OBX[2]-3"
    assert error_location(second.location) == "OBX^2^3"


@pytest.mark.parametrize("level", LEVELS)
def test_field_withdrawn_in_the_version(level: str) -> None:
    error = failure(read("adt_a01_v28_fhirconv_01.hl7"), level)  # EVN-1 is withdrawn in v2.8
    assert (error.location, error.error_code) == ("EVN-1", "102")
    assert error.message.startswith("field EVN-1 is not defined for EVN in HL7 v2.8")


def test_component_withdrawn_in_the_version() -> None:
    error = failure(read("ref_i12_fhirconv_01.hl7"), "tolerant")
    assert (error.location, error.message) == ("RF1-20.7", "RF1-20.7 must be empty: it is "
                                                           "withdrawn in HL7 v2.8")
    assert failure(read("rde_o11_fhirconv_01.hl7")).location == "PID-5.6"


def test_invalid_date_strict() -> None:
    error = failure(read("authored/oms_o05_stock_requisition_v26_authored.hl7"))
    assert (error.location, error.message) == ("ORC-15", "ORC-15 value 'ED' is not a valid date")


def test_components_in_a_single_value_field_tolerant() -> None:
    error = failure(read("authored/mfn_m16_item_master_v26_authored.hl7"), "tolerant")
    assert (error.location, error.error_code) == ("ITM-20", "102")
    assert "data type NM" in error.message


# ---------------------------------------------------------------------- robustness
def _every_file() -> list[str]:
    return sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*")
                  if p.is_file() and p.name != "SOURCES.md")


@pytest.mark.parametrize("level", LEVELS)
def test_no_input_raises_anything_but_validation_error(level: str) -> None:
    checker = validator(level)
    samples = [(DATA / name).read_bytes().decode("utf-8", "replace") for name in _every_file()]
    samples += ["", "MSH", "MSH|", "MSH|^~\\&|" + "|" * 20, "\x0bMSH|^~\\&\x1c\r", "PID|1\r"]
    outcomes = {"valid": 0, "invalid": 0}
    for text in samples:
        try:
            checker.validate(text)
            outcomes["valid"] += 1
        except StructureError as error:
            assert error.error_code in ERROR_CODES and error.message
            outcomes["invalid"] += 1
    assert outcomes["valid"] >= 8 and outcomes["invalid"] >= 50


def test_non_text_input_is_a_validation_error() -> None:
    with pytest.raises(StructureError) as caught:
        validator().validate(b"MSH|^~\\&|")  # type: ignore[arg-type]
    assert caught.value.error_code == "207"


def test_one_validator_is_safe_across_threads() -> None:
    checker = validator()
    texts = [read(name) for name in ("adt_a01_v251_small_bom_fhirconv.hl7",
                                     "oru_r01_multiline_tx_lfh.hl7", "adt_a03_v25_hapi.hl7")]

    def outcome(text: str) -> str:
        try:
            checker.validate(text)
            return "ok"
        except StructureError as error:
            return f"{error.location}|{error.message}"

    expected = [outcome(text) for text in texts]
    seen: list[list[str]] = []

    def work() -> None:
        for _ in range(3):
            seen.append([outcome(text) for text in texts])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [expected] * 12
    assert expected[0] == "ok" and expected[1].startswith("OBX-3|")


# ---------------------------------------------------------------------- conformance profile
def profiled(text: str, level: str = "strict", **options: object) -> StructureError:
    return failure(text, level, profile=str(PROFILE), **options)


@pytest.mark.parametrize("level", LEVELS)
def test_message_conforming_to_the_profile_passes(level: str) -> None:
    validator(level, profile=str(PROFILE)).validate(read(Z_MESSAGE))  # ZBL, ZZZ ignored


def test_profile_requires_what_the_standard_leaves_optional() -> None:
    text = read(Z_MESSAGE).replace("ADT^A01^ADT_A01", "ADT^A01")
    validator().validate(text)  # v2.5 allows an empty MSH-9.3
    error = profiled(text)  # the profile does not
    assert (error.location, error.error_code) == ("MSH-9.3", "101")
    assert error.message == "required component MSH-9.3 (message structure) is empty"


@pytest.mark.parametrize(("change", "location", "code", "message"), [
    (("TESTPATIENT^ZED", ""), "PID-5", "101", "required field PID-5 (patient name) is empty"),
    (("PID|1||", "PID|1|X|"), "PID-2", "102", "PID-2 must be empty: the profile does not use it"),
    (("19900101|M", "19900101|M|X"), "PID-9", "102",
     "field PID-9 is not defined for PID in the profile"),
    (("TEST0003^^^", "TEST0003^7^^"), "PID-3.2", "102",
     "PID-3.2 must be empty: the profile does not use it"),
    (("ZPI|1|VIP^Very Important^L", "ZPI|1|"), "ZPI-2", "101",
     "required field ZPI-2 (vip indicator) is empty"),
    (("ZPI|1|VIP^Very Important^L|Y|20240115", "ZPI|1|VIP\rZPI|2|VIP"), "ZPI[2]", "100",
     "segment ZPI repeats more often than ADT_A01 allows"),
    (("ZPI|", "NK1|1|DOE^JANE\rZPI|"), "NK1", "100",
     "segment NK1 is not part of ADT_A01 in the profile"),
    (("|P|2.5", "|P|2.4"), "MSH-12", "203", "the message is HL7 v2.4 but the profile is for v2.5"),
    (("ADT^A01^ADT_A01", "ORU^R01^ORU_R01"), "MSH-9", "200",
     "the profile describes ADT_A01 messages, not ORU_R01 (MSH-9 is 'ORU^R01^ORU_R01')"),
])
@pytest.mark.parametrize("level", LEVELS)
def test_message_breaking_the_profile_fails(change: tuple[str, str], location: str, code: str,
                                            message: str, level: str) -> None:
    text = read(Z_MESSAGE)
    assert change[0] in text
    error = profiled(text.replace(*change), level)
    assert (error.location, error.error_code, error.message) == (location, code, message)


def test_profile_lengths_apply_under_strict_only() -> None:
    text = read(Z_MESSAGE).replace("TEST0003^", "TEST0003456789012345^")  # PID-3.1 Length 15
    error = profiled(text)
    assert (error.location, error.message) == ("PID-3.1", "PID-3.1 is 20 characters long; at "
                                                          "most 15 are allowed")
    validator("tolerant", profile=str(PROFILE)).validate(text)


def test_profile_z_segments_not_in_it_fail_when_not_allowed() -> None:
    error = profiled(read(Z_MESSAGE), allow_z_segments=False)
    assert (error.location, error.message) == ("ZBL", "Z-segment ZBL is not part of ADT_A01 in "
                                                      "the profile")


# ---------------------------------------------------------------------- configuration
def test_missing_profile_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    path = str(tmp_path / "nowhere.xml")
    with pytest.raises(ConfigError) as caught:
        validator(profile=path)
    assert caught.value.file == path
    assert str(caught.value).startswith(path + ": cannot read the message profile")


@pytest.mark.parametrize(("content", "words"), [
    ("<HL7v2xConformanceProfile", "not well-formed XML"),
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>', "DOCTYPE"),
    ("<HL7v2xConformanceProfile HL7Version='2.5'/>", "no HL7v2xStaticDef"),
    ("<HL7v2xConformanceProfile HL7Version='2.5'><HL7v2xStaticDef MsgStructID='ADT_A01'>"
     "<Segment Name='MSH'><Field Name='F' Datatype='QQ'/></Segment>"
     "</HL7v2xStaticDef></HL7v2xConformanceProfile>", "unknown data type QQ"),
    ("<HL7v2xConformanceProfile HL7Version='9.9'><HL7v2xStaticDef MsgStructID='ADT_A01'/>"
     "</HL7v2xConformanceProfile>", "HL7Version '9.9' is not supported"),
    ("<HL7v2xConformanceProfile HL7Version='2.5'><HL7v2xStaticDef MsgStructID='ADT_A01'>"
     "<Segment Name='PID'><Field Name='F' Datatype='ST'/></Segment>"
     "</HL7v2xStaticDef></HL7v2xConformanceProfile>", "first segment must be MSH"),
])
def test_invalid_profile_is_a_config_error(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "profile.xml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        validator(profile=str(path))
    assert caught.value.file == str(path) and words in caught.value.message


def test_config_defaults_and_strictness() -> None:
    config = StructureValidationConfig()
    assert (config.profile, config.level, config.allow_z_segments) == (None, "strict", True)
    assert all(field.description for field in StructureValidationConfig.model_fields.values())
    with pytest.raises(pydantic.ValidationError):
        StructureValidationConfig(level="lenient")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        StructureValidationConfig.model_validate({"profile": None, "strictness": "high"})
