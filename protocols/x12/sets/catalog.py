"""004010 832 price/sales catalog (SC) and 846 inventory inquiry/advice (IB).

The 832 item loop follows the standard's order as far as hospital catalogs use it and the HIBCC
medical/surgical 832 guideline's layout: LIN, DTM, REF, CTB, PID, MEA, PKG, PO4, TD4, CUR, DTM
(price-effective), the CTP price loop (CTP, CUR, DTM), the PKL packaging-level loop (PKL with its
own CTP prices), SLN sublines, N1 parties.
"""

from __future__ import annotations

from .codes import PRODUCT_ID, PURPOSE, UOM, YES_NO
from .dsl import AN, DT, ID, MANY, TM, M, O, R, codelist, el, loop, seg, transaction_set
from .segments import (
    C001,
    CTB,
    CTP,
    CTT,
    CUR,
    DTM,
    LIN,
    MEA,
    N1,
    N2,
    N3,
    N4,
    PER,
    PID,
    PKG,
    PO4,
    QTY,
    REF,
    SCH,
    SLN,
    TD4,
)

__all__ = ["CATALOG_832", "INVENTORY_846"]

CATALOG_PURPOSE = codelist("683 catalog purpose", (
    "PC=Price catalog;SC=Sales catalog;PS=Price/sales catalog;CC=Change catalog;"
    "CP=Catalog price change"), closed=False)
REPORT_TYPE = codelist("755 report type", (
    "CM=Cumulative inventory;DD=Distributor inventory report;MB=Manufacturer or buyer"
    " inventory;MM=Material management;SI=Seller inventory report;ZZ=Mutually defined"),
    closed=False)

BCT = seg("BCT", "Beginning Segment for Price/Sales Catalog",
          el("683", ID, 2, 2, True, CATALOG_PURPOSE), el("684", AN, 1, 15), el("685", AN, 1, 15),
          el("686", AN, 1, 15), el("367", AN, 1, 30), el("352", AN, 1, 80), el("352", AN, 1, 80),
          el("352", AN, 1, 80), el("352", AN, 1, 80), el("353", ID, 2, 2, codes=PURPOSE))
PKL = seg("PKL", "Packaging Level",
          el("235", ID, 2, 2, True, PRODUCT_ID), el("234", AN, 1, 48, True),
          el("355", ID, 2, 2, True, UOM), el("380", R, 1, 15, True), el("65", R, 1, 8),
          el("189", R, 1, 8), el("677", R, 1, 6), el("355", ID, 2, 2, codes=UOM),
          el("384", R, 1, 9), el("355", ID, 2, 2, codes=UOM), el("385", R, 1, 9),
          el("355", ID, 2, 2, codes=UOM), el("1073", ID, 1, 1, codes=YES_NO))
BIA = seg("BIA", "Beginning Segment for Inventory Inquiry/Advice",
          el("353", ID, 2, 2, True, PURPOSE), el("755", ID, 2, 2, True, REPORT_TYPE),
          el("127", AN, 1, 30, True), el("373", DT, 8, 8, True), el("337", TM, 4, 8),
          el("306", ID, 1, 2))
UIT = seg("UIT", "Unit Detail", C001, el("212", R, 1, 17), el("639", ID, 2, 2),
          rules="C0302")

_PARTIES = loop("N1", MANY, O(N1), O(N2, 2), O(N3, 2), O(N4, MANY), O(REF, 12), O(PER, 3))

CATALOG_832 = transaction_set(
    "832", "Price/Sales Catalog", "SC",
    M(BCT), O(CTP, 100), O(REF, MANY), O(PER, MANY), O(DTM, 10), O(CTB, 25), O(CUR, 5),
    _PARTIES,
    loop("LIN", MANY, O(LIN), O(DTM, 10), O(REF, MANY), O(PER, MANY), O(CTB, 25),
         O(PID, 200), O(MEA, 40), O(PKG, 25), O(PO4), O(TD4, 5), O(CUR, 5), O(DTM, 10),
         loop("CTP", MANY, O(CTP), O(CUR), O(DTM, 10)),
         loop("PKL", MANY, O(PKL), O(CTP, 25), O(DTM, 10)),
         loop("SLN", MANY, O(SLN), O(PID, 200), O(CTP, 25), O(DTM, 10)),
         loop("N1", 200, O(N1), O(N2, 2), O(N3, 2), O(N4), O(REF, 12), O(PER, 3))),
    O(CTT))

INVENTORY_846 = transaction_set(
    "846", "Inventory Inquiry/Advice", "IB",
    M(BIA), O(CUR), O(REF, MANY), O(PER, 3), O(DTM, 10), _PARTIES,
    loop("LIN", 10000, M(LIN), O(PID, 200), O(DTM, 10), O(REF, MANY), O(PER, 3),
         O(MEA, 40), O(CTP, 25), O(PO4, MANY), O(CUR),
         loop("QTY", MANY, O(QTY), O(UIT), O(SCH, 25), O(DTM, 10), O(REF, MANY)),
         loop("N1", 200, O(N1), O(N2, 2), O(N3, 2), O(N4), O(REF, 12), O(PER, 3),
              loop("QTY", MANY, O(QTY), O(UIT), O(DTM, 10)))),
    O(CTT))
