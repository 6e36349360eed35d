"""004010 820 payment order/remittance advice (functional group RA), the supply-chain/AP use.

The HIPAA premium-payment 820 (004010X061A1, 005010X218) is validated by pyx12 instead
(protocols/x12/hipaa.py); this table is used for plain 004010 (and, as the nearest definition we
have, later non-HIPAA) 820s.
"""

from __future__ import annotations

from .codes import ENTITY, ID_QUALIFIER, REF_QUALIFIER
from .dsl import AN, DT, ID, MANY, N0, M, O, R, codelist, el, loop, seg, transaction_set
from .segments import CUR, DTM, N1, N2, N3, N4, NTE, PER, REF

__all__ = ["REMITTANCE_820"]

HANDLING = codelist("305 transaction handling", (
    "C=Payment accompanies remittance advice;D=Make payment only;I=Remittance information"
    " only;P=Prenotification of future transfers;U=Split payment and remittance;"
    "X=Handling party's option to split payment and remittance;H=Notification only;"
    "Z=Mutually defined"))
CREDIT_DEBIT = codelist("478 credit/debit flag", "C=Credit;D=Debit")

BPR = seg("BPR", "Beginning Segment for Payment Order/Remittance Advice",
          el("305", ID, 1, 2, True, HANDLING), el("782", R, 1, 18, True),
          el("478", ID, 1, 1, True, CREDIT_DEBIT), el("591", ID, 3, 3, True),
          el("812", ID, 1, 10), el("506", ID, 2, 2), el("507", AN, 3, 12), el("569", ID, 1, 3),
          el("508", AN, 1, 35), el("509", AN, 10, 10), el("510", AN, 9, 9), el("506", ID, 2, 2),
          el("507", AN, 3, 12), el("569", ID, 1, 3), el("508", AN, 1, 35), el("373", DT, 8, 8),
          el("1048", ID, 3, 3), el("506", ID, 2, 2), el("507", AN, 3, 12), el("569", ID, 1, 3),
          el("508", AN, 1, 35), rules="P0607 C0809 P1213 C1415 P1819 C2021")
TRN = seg("TRN", "Trace", el("481", ID, 1, 2, True), el("127", AN, 1, 30, True),
          el("509", AN, 10, 10), el("127", AN, 1, 30))
ENT = seg("ENT", "Entity",
          el("554", N0, 1, 6), el("98", ID, 2, 3, codes=ENTITY),
          el("66", ID, 1, 2, codes=ID_QUALIFIER), el("67", AN, 2, 80),
          el("98", ID, 2, 3, codes=ENTITY), el("66", ID, 1, 2, codes=ID_QUALIFIER),
          el("67", AN, 2, 80), el("128", ID, 2, 3, codes=REF_QUALIFIER), el("127", AN, 1, 30),
          rules="P020304 P050607 P0809")
NM1 = seg("NM1", "Individual or Organizational Name",
          el("98", ID, 2, 3, True, ENTITY), el("1065", ID, 1, 1, True), el("1035", AN, 1, 35),
          el("1036", AN, 1, 25), el("1037", AN, 1, 25), el("1038", AN, 1, 10),
          el("1039", AN, 1, 10), el("66", ID, 1, 2, codes=ID_QUALIFIER), el("67", AN, 2, 80),
          el("706", ID, 2, 2), el("98", ID, 2, 3, codes=ENTITY), rules="P0809 C1110")
ADX = seg("ADX", "Adjustment", el("782", R, 1, 18, True), el("426", ID, 2, 2, True),
          el("128", ID, 2, 3, codes=REF_QUALIFIER), el("127", AN, 1, 30), rules="P0304")
RMR = seg("RMR", "Remittance Advice Accounts Receivable Open Item Reference",
          el("128", ID, 2, 3, codes=REF_QUALIFIER), el("127", AN, 1, 30), el("482", ID, 2, 2),
          el("782", R, 1, 18), el("782", R, 1, 18), el("782", R, 1, 18), el("426", ID, 2, 2),
          el("782", R, 1, 18), rules="P0102 P0708")

_REF_LOOP = loop("REF", MANY, O(REF), O(DTM, MANY))
_ADX_LOOP = loop("ADX", MANY, O(ADX), O(NTE, MANY), O(PER, MANY), _REF_LOOP)

REMITTANCE_820 = transaction_set(
    "820", "Payment Order/Remittance Advice", "RA",
    M(BPR), O(NTE, MANY), O(TRN), O(CUR), O(REF, MANY), O(DTM, MANY),
    loop("N1", MANY, O(N1), O(N2, MANY), O(N3, MANY), O(N4), O(REF, MANY), O(PER, MANY),
         O(DTM, MANY)),
    loop("ENT", MANY, O(ENT),
         loop("NM1", MANY, O(NM1), O(N2, MANY), O(N3, MANY), O(N4), O(REF, MANY),
              O(PER, MANY)),
         _ADX_LOOP,
         loop("RMR", MANY, O(RMR), O(NTE, MANY), O(REF, MANY), O(DTM, MANY), _ADX_LOOP)))
