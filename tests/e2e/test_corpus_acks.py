"""Every file of the HL7 v2 test corpus, sent whole as one MLLP frame to a real `plexus run`.

Each file gets the answer HL7 v2 prescribes for what it is (the table below, one line per file,
with the reason): a valid message AA (CA in enhanced mode, nothing when MSH-15 says NE, or ER and
it was accepted); an acknowledgment or other response (a message with MSA) is stored and never
answered; malformed, fuzzed and non-message input, batch/file envelopes and frames holding more
than one message get a negative acknowledgment and are stored as errors. After every file a good
message on the same connection must still get AA, and the engine must still be running at the end.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from protocols.mllp.client import MllpClient
from protocols.mllp.framing import frame

from .engine_process import ROOT, EngineProcess, free_port
from .hl7 import ack_fields, adt

CORPUS = ROOT / "tests" / "data" / "hl7v2"
SUFFIXES = (".hl7", ".txt", ".xml")
NEGATIVE = ("AR", "AE", "CR", "CE")  # CR/CE: the same answers in enhanced mode

CHANNEL = """\
name: corpus
source:
  type: mllp
  host: 127.0.0.1
  port: {port}
  idle_timeout: 30s
  duplicate_window: 0s
destinations:
  - name: archive
    type: file
    directory: {out}
    filename: "{{message_id}}.hl7"
"""


@dataclass(frozen=True)
class Expect:
    """The answer a file must get and whether it is stored as an error."""

    answer: str  # "AA", "CA", "none", "reject" (one of NEGATIVE) or "reject-or-none"
    stored_as_error: bool
    why: str


def aa(why: str = "valid message, original mode") -> Expect:
    return Expect("AA", False, why)


def ca(why: str) -> Expect:
    return Expect("CA", False, why)


def silent_accept(why: str) -> Expect:
    return Expect("none", False, why)


def response(why: str) -> Expect:
    return Expect("none", True, why)


def reject(why: str) -> Expect:
    return Expect("reject", True, why)


EXPECTED: dict[str, Expect] = {
    # --- valid single messages (LF, CRLF or CR segment ends, some with a UTF-8 BOM)
    "adt_a01_v23_bom_fhirconv.hl7": aa(),
    "adt_a01_v251_small_bom_fhirconv.hl7": aa(),
    "adt_a01_v28_fhirconv_01.hl7": aa(),
    "adt_a01_v28_fhirconv_02.hl7": aa(),
    "adt_a03_fhirconv_01.hl7": aa(),
    "adt_a03_v25_hapi.hl7": aa(),
    "adt_a04_fhirconv_01.hl7": aa(),
    "adt_a04_v23_bom_tz_fhirconv.hl7": aa("valid, MSH-11 T (training) is accepted"),
    "adt_a04_v23_fhirconv.hl7": aa("valid; the text 'MSH' inside PID is data, not a segment"),
    "adt_a08_fhirconv_01.hl7": aa(),
    "adt_a40_merge_fhirconv.hl7": silent_accept("MSH-15 NE: never send an accept ack"),
    "authored/dft_p03_supply_charges_v251_authored.hl7": ca("enhanced mode, MSH-15 AL"),
    "authored/edge_all_escape_sequences_v25_authored.hl7": aa(),
    "authored/edge_z_segments_v25_authored.hl7": aa(),
    "authored/malformed_mixed_separators_authored.hl7": aa(
        "corpus: MALFORMED/EDGE; CR, LF and CRLF segment ends are all accepted and every line "
        "is a valid segment, so the message is unambiguous"),
    "authored/mfn_m04_charge_master_v251_authored.hl7": ca("enhanced mode, MSH-15 AL"),
    "authored/mfn_m16_item_master_v26_authored.hl7": ca("enhanced mode, MSH-15 AL"),
    "authored/omn_o07_nonstock_requisition_v26_authored.hl7": ca("enhanced mode, MSH-15 AL"),
    "authored/oms_o05_stock_requisition_v26_authored.hl7": ca("enhanced mode, MSH-15 AL"),
    "bar_p01_fhirconv_01.hl7": aa(),
    "bar_p02_fhirconv_01.hl7": aa(),
    "bar_p12_fhirconv_01.hl7": aa(),
    "dft_p03_fhirconv_01.hl7": aa(),
    "dft_p03_fhirconv_02.hl7": aa(),
    "dft_p11_fhirconv_01.hl7": aa(),
    "dft_p11_fhirconv_02.hl7": aa(),
    "edge_adt_a24_nonstandard_delimiters_hapi.hl7": ca(
        "field separator '^', MSH-15 AL: enhanced mode"),
    "edge_adt_o01_crlf_blank_lines_efferent.hl7": aa("CRLF and blank lines are tolerated"),
    "edge_orm_o01_formatting_escapes_efferent.hl7": ca(
        "MSH-16 NE valued, MSH-15 empty: enhanced mode, accept ack by default"),
    "edge_repetitions_subcomponents_pyhl7.hl7": aa(),
    "mdm_t02_fhirconv_01.hl7": aa(),
    "omd_o03_diet_order_hapi.hl7": silent_accept("MSH-15 ER: accept ack only on error"),
    "omd_o03_repetitions_hapi.hl7": silent_accept("MSH-15 ER: accept ack only on error"),
    "omg_o19_fhirconv_01.hl7": aa(),
    "oml_o21_fhirconv_01.hl7": aa(),
    "orm_o01_fhirconv_01.hl7": aa(),
    "orm_o01_lab_fhirconv.hl7": aa(),
    "oru_r01_fhirconv_01.hl7": ca("enhanced mode, MSH-15 AL"),
    "oru_r01_lab_fhirconv_01.hl7": aa(),
    "oru_r01_lri_cbc_fhirconv.hl7": ca("enhanced mode, MSH-15 AL"),
    "oru_r01_minimal_fhirconv.hl7": aa(),
    "oru_r01_multiline_mixed_lfh.hl7": aa(),
    "oru_r01_multiline_tx_lfh.hl7": aa(),
    "oru_r01_v24_glucose_pyhl7.hl7": aa(),
    "oul_r22_fhirconv_01.hl7": silent_accept("MSH-15 NE: never send an accept ack"),
    "ppr_pc1_v231_fhirconv.hl7": aa(),
    "rde_o11_fhirconv_01.hl7": aa(),
    "rde_o25_fhirconv_01.hl7": aa(),
    "rds_o13_fhirconv_01.hl7": aa(),
    "rds_o13_fhirconv_02.hl7": aa(),
    "ref_i12_fhirconv_01.hl7": aa(),
    "siu_s12_fhirconv_01.hl7": aa(),
    "vxu_v04_fhirconv_01.hl7": aa(),
    "vxu_v04_nist_bom_fhirconv.hl7": silent_accept("MSH-15 ER: accept ack only on error"),
    # --- acknowledgments and application responses: stored, never acknowledged
    "authored/ack_aa_original_mode_v251_authored.hl7": response("inbound ACK"),
    "authored/ack_ae_with_err_v251_authored.hl7": response("inbound ACK"),
    "authored/ack_ar_v23_authored.hl7": response("inbound ACK"),
    "authored/ack_ca_commit_enhanced_mode_authored.hl7": response("inbound commit ACK"),
    "authored/ors_o06_stock_requisition_ack_v26_authored.hl7": response(
        "ORS^O06 with MSA is the application response to an OMS^O05; original mode (no "
        "MSH-15/16), so it is not acknowledged"),
    "erp_r09_olis_query_response_hapi.hl7": response(
        "ERP^R09 query response with MSA; original mode, so it is not acknowledged"),
    # --- not one message: batch/file envelopes and several messages in one frame
    "batch_bhs_bts_2msgs_pyhl7.hl7": reject("BHS batch over MLLP"),
    "batch_bts_without_bhs_pyhl7.hl7": reject(
        "a batch trailer (BTS) in the frame: not a single message; the frame is refused as a "
        "whole, so MSH-15 NE of the message inside does not silence the AR"),
    "batch_no_header_2msgs_pyhl7.hl7": reject(
        "two MSH in one frame; refused as a whole (AR), whatever MSH-15 of the first says"),
    "file_fhs_2batches_pyhl7.hl7": reject("FHS file over MLLP"),
    "file_fhs_no_bhs_pyhl7.hl7": reject("FHS file over MLLP"),
    "malformed_batch_nested_bhs_pyhl7.hl7": reject("BHS batch over MLLP"),
    "malformed_batch_no_messages_pyhl7.hl7": reject("BHS batch over MLLP, no MSH at all"),
    "malformed_file_empty_fhs_fts_pyhl7.hl7": reject("FHS file over MLLP"),
    "malformed_file_fts_without_fhs_pyhl7.hl7": reject("BHS batch over MLLP"),
    "malformed_file_nested_bhs_pyhl7.hl7": reject("FHS file over MLLP"),
    "malformed_file_nested_fhs_pyhl7.hl7": reject("FHS file over MLLP"),
    "multi_message_oml_o21_nhapi.hl7": reject("7 MSH in one frame"),
    "multi_message_oml_o21_oul_r22_hapi.hl7": reject("13 MSH in one frame"),
    # --- malformed or not HL7 v2 ER7 at all
    "authored/malformed_bad_encoding_chars_authored.hl7": reject("MSH-2 has 3 characters"),
    "authored/malformed_duplicate_encoding_chars_authored.hl7": reject("MSH-2 repeats '^'"),
    "authored/malformed_empty_required_msh_fields_authored.hl7": reject("MSH-9..12 empty"),
    "authored/malformed_missing_msh_fields_authored.hl7": reject("MSH ends after MSH-4"),
    "authored/malformed_no_msh_first_authored.hl7": reject("first segment is PID"),
    "malformed_adt_a01_crlf_literal_backslash_r_lfh.hl7": reject("MSH-2 '^~\\\\&' duplicates"),
    "malformed_adt_a01_lf_literal_backslash_r_lfh.hl7": reject("MSH-2 '^~\\\\&' duplicates"),
    "edge_escaped_field_value_uuencoded_hapi.txt": reject(
        "a single escaped field value, not a message (no MSH)"),
    "malformed_hl7v2xml_xxe_hapi.xml": reject(
        "HL7 v2 XML encoding with an XXE entity: not ER7, never parsed as XML"),
    # --- nHapi fuzzer crashers: a negative answer, never AA, and the listener survives
    "fuzz/fuzz_binary_segment_ids_nhapi.hl7": reject("segment ids with NUL/0x10 bytes"),
    "fuzz/fuzz_control_chars_ack_nhapi.hl7": Expect(
        "reject-or-none", True, "an ACK (MSH-9) with a control char in MSH-2: AR for the "
        "broken header or silence for the ACK are both acceptable"),
    "fuzz/fuzz_empty_file_nhapi.hl7": reject("empty frame"),
    "fuzz/fuzz_hang_short_encoding_chars_nhapi.hl7": reject("MSH-2 is '^'"),
    "fuzz/fuzz_index_out_of_range_nhapi.hl7": reject("MSH-2 is '0'"),
    "fuzz/fuzz_leading_nul_bytes_nhapi.hl7": reject("STX before MSH, no valid MSH-2"),
    "fuzz/fuzz_long_version_id_nhapi.hl7": reject("bad MSH-2, absurd MSH-12"),
    "fuzz/fuzz_msh2_is_digit_nhapi.hl7": reject("MSH-2 is '0'"),
    "fuzz/fuzz_msh_many_empty_fields_nhapi.hl7": reject("no encoding characters"),
    "fuzz/fuzz_msh_no_delimiters_nhapi.hl7": reject("'MSHH0': no field separator"),
    "fuzz/fuzz_so1_nhapi.hl7": reject("MSH-2 '0000'"),
    "fuzz/fuzz_splice_000123_nhapi.hl7": reject("MSH-2 with a space, spliced garbage"),
    "fuzz/fuzz_stackoverflow_2_nhapi.hl7": reject("MSH-2 is '^'"),
    "fuzz/fuzz_stackoverflow_in2_nhapi.hl7": reject("MSH-2 is '^'"),
    "fuzz/fuzz_sys2_nhapi.hl7": reject("MSH-2 is '0', DEL in a field"),
}


def corpus_files() -> list[str]:
    """Every message file of the corpus, relative to it (SOURCES.md excluded)."""
    return sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*")
                  if p.is_file() and p.suffix in SUFFIXES)


def msh_field(data: bytes, number: int) -> str:
    """MSH-`number` of a file's first segment, split on its own field separator."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    fields = first.split(first[3])  # fields[n - 1] is MSH-n (MSH-1 is the separator)
    return fields[number - 1] if len(fields) >= number else ""


_good_ids = itertools.count(1)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    work = tmp_path_factory.mktemp("corpus")
    port = free_port()
    proc = EngineProcess(work, {"corpus": CHANNEL.format(port=port, out=work / "out")})
    proc.mllp_port = port  # type: ignore[attr-defined]
    with proc:
        yield proc
        assert proc.proc is not None and proc.proc.poll() is None, \
            f"the engine died during the corpus run:\n{proc.log()[-4000:]}"
        assert proc.stop() == 0


def _client(engine: EngineProcess) -> MllpClient:
    return MllpClient("127.0.0.1", engine.mllp_port, timeout=10)  # type: ignore[attr-defined]


def _counters(engine: EngineProcess) -> tuple[float, float]:
    return (engine.metric("plexus_messages_received_total", channel="corpus"),
            engine.metric("plexus_messages_errored_total", channel="corpus", destination=""))


def _send_then_good(engine: EngineProcess, data: bytes) -> list[bytes]:
    """Send `data` as one frame, then a good message on the same connection.

    Answers leave in arrival order, so the frames before the good message's ACK are the
    answers to `data`; returns them after checking that the good message got AA.
    """
    good = f"CORPUS-GOOD-{next(_good_ids)}"
    answers: list[bytes] = []
    with _client(engine) as c:
        c.send_raw(frame(data) + frame(adt(good)))
        while ack_fields(reply := c.read_frame())[1] != good:
            answers.append(reply)
    assert ack_fields(reply)[0] == "AA", "the listener stopped accepting good messages"
    return answers


def test_every_corpus_file_has_an_expectation() -> None:
    files = corpus_files()
    assert set(files) == set(EXPECTED), (
        f"no expectation for {sorted(set(files) - set(EXPECTED))}; "
        f"expectation without a file: {sorted(set(EXPECTED) - set(files))}")


@pytest.mark.parametrize("name", corpus_files())
def test_corpus_file_gets_the_right_answer(engine: EngineProcess, name: str) -> None:
    expect = EXPECTED.get(name)
    assert expect is not None, f"add {name} to EXPECTED"
    data = (CORPUS / name).read_bytes()
    received, errored = _counters(engine)
    answers = _send_then_good(engine, data)
    assert len(answers) <= 1, f"{name}: more than one answer to one frame: {answers!r}"

    codes = [ack_fields(a)[0] for a in answers]
    detail = f"{name}: expected {expect.answer} ({expect.why}), got {answers!r}"
    if expect.answer in ("AA", "CA"):
        assert codes == [expect.answer], detail
        assert ack_fields(answers[0])[1] == msh_field(data, 10), "MSA-2 must echo MSH-10"
    elif expect.answer == "none":
        assert codes == [], detail
    elif expect.answer == "reject":
        assert len(codes) == 1 and codes[0] in NEGATIVE, detail
        assert b"ERR" in answers[0], f"{name}: a negative ACK carries an ERR segment"
    else:  # reject-or-none
        assert codes == [] or codes[0] in NEGATIVE, detail

    # the file and the good message were each taken as exactly one message; a refused or
    # unanswered file is stored with an error, an accepted one is not
    received_after, errored_after = _counters(engine)
    assert received_after - received == 2, f"{name}: not received as exactly one frame"
    assert errored_after - errored == (1 if expect.stored_as_error else 0), (
        f"{name}: expected it stored {'with' if expect.stored_as_error else 'without'} an error")


def test_refused_frames_are_listed_with_their_error(engine: EngineProcess) -> None:
    # send some refused input here too, so this holds whichever worker runs the test
    refused = ["batch_bhs_bts_2msgs_pyhl7.hl7", "authored/malformed_no_msh_first_authored.hl7",
               "authored/ack_ar_v23_authored.hl7"]
    for name in refused:
        _send_then_good(engine, (CORPUS / name).read_bytes())
    result = engine.cli("messages", "list", "--status", "error", "--limit", "100000", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert len(listed) >= len(refused)
    assert all(m["status"] == "error" and m["error"] for m in listed)
    assert all(m["channel"] == "corpus" for m in listed)
    # every error the engine counted is in the store
    errored = engine.metric("plexus_messages_errored_total", channel="corpus", destination="")
    assert len(listed) == errored
    shown = json.loads(engine.cli("messages", "show", str(listed[0]["message_id"])).stdout)
    assert [s["stage"] for s in shown["stages"]] == ["raw"]  # kept as received, never routed
    assert shown["deliveries"] == []


def test_engine_survived_the_corpus(engine: EngineProcess) -> None:
    assert engine.proc is not None and engine.proc.poll() is None
    assert engine.get("/healthz")[0] == 200
    with _client(engine) as c:
        assert ack_fields(c.send(adt(f"CORPUS-GOOD-{next(_good_ids)}")))[0] == "AA"
