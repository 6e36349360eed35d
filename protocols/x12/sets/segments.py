"""Segment definitions shared by the 004010 supply-chain sets (one definition per segment id).

Element types and lengths follow the X12 004010 data element dictionary as we know it; syntax
rules are the standard's relational conditions for the elements that matter. Where we are not
sure of a rarely used trailing element, it is typed AN with the widest sensible length, so that
data is never rejected because of our uncertainty.
"""

from __future__ import annotations

from .codes import (
    ALLOWANCE_CHARGE,
    COMM_QUALIFIER,
    CONTACT_FUNCTION,
    CURRENCY,
    DATE_QUALIFIER,
    DESCRIPTION_TYPE,
    ENTITY,
    ID_QUALIFIER,
    PRICE_BASIS,
    PRODUCT_ID,
    REF_QUALIFIER,
    TERMS_TYPE,
    UOM,
    YES_NO,
)
from .dsl import AN, DT, ID, N0, NUM2, TM, ElementDef, R, comp, el, seg

__all__ = [
    "AMT", "C001", "C040", "CSH", "CTB", "CTP", "CTT", "CUR", "DTM", "DTP", "FOB", "ITD", "LIN",
    "MAN", "MEA", "MSG", "N1", "N2", "N3", "N4", "N9", "NTE", "PER", "PID", "PKG", "PO3", "PO4",
    "PWK", "QTY", "REF", "SAC", "SCH", "SDQ", "SLN", "TAX", "TC2", "TD1", "TD3", "TD4", "TD5",
    "TXI", "pair_rules", "product_pairs",
]


def product_pairs(count: int) -> list[ElementDef]:
    """`count` (qualifier 235, id 234) pairs, as in PO106/PO107...PO124/PO125."""
    out: list[ElementDef] = []
    for _ in range(count):
        out += [el("235", ID, 2, 2, codes=PRODUCT_ID), el("234", AN, 1, 48)]
    return out


def pair_rules(first: int, count: int) -> str:
    """"P0607 P0809 ..." for `count` qualifier/id pairs starting at element `first`."""
    return " ".join(f"P{p:02d}{p + 1:02d}" for p in range(first, first + 2 * count, 2))


C001 = comp("C001", el("355", ID, 2, 2, True, UOM), el("1018", R, 1, 15), el("649", R, 1, 10),
            el("355", ID, 2, 2, codes=UOM), el("1018", R, 1, 15), el("649", R, 1, 10))
C040 = comp("C040", el("128", ID, 2, 3, True, REF_QUALIFIER), el("127", AN, 1, 30, True),
            el("128", ID, 2, 3, codes=REF_QUALIFIER), el("127", AN, 1, 30),
            el("128", ID, 2, 3, codes=REF_QUALIFIER), el("127", AN, 1, 30))

REF = seg("REF", "Reference Identification",
          el("128", ID, 2, 3, True, REF_QUALIFIER), el("127", AN, 1, 30), el("352", AN, 1, 80),
          C040, rules="R0203")
PER = seg("PER", "Administrative Communications Contact",
          el("366", ID, 2, 2, True, CONTACT_FUNCTION), el("93", AN, 1, 60),
          el("365", ID, 2, 2, codes=COMM_QUALIFIER), el("364", AN, 1, 80),
          el("365", ID, 2, 2, codes=COMM_QUALIFIER), el("364", AN, 1, 80),
          el("365", ID, 2, 2, codes=COMM_QUALIFIER), el("364", AN, 1, 80), el("443", AN, 1, 20),
          rules="P0304 P0506 P0708")
DTM = seg("DTM", "Date/Time Reference",
          el("374", ID, 3, 3, True, DATE_QUALIFIER), el("373", DT, 8, 8), el("337", TM, 4, 8),
          el("623", ID, 2, 2), el("1250", ID, 2, 3), el("1251", AN, 1, 35),
          rules="R020305 C0403 P0506")
DTP = seg("DTP", "Date or Time or Period",
          el("374", ID, 3, 3, True, DATE_QUALIFIER), el("1250", ID, 2, 3, True),
          el("1251", AN, 1, 35, True))
N1 = seg("N1", "Name",
         el("98", ID, 2, 3, True, ENTITY), el("93", AN, 1, 60),
         el("66", ID, 1, 2, codes=ID_QUALIFIER), el("67", AN, 2, 80), el("706", ID, 2, 2),
         el("98", ID, 2, 3, codes=ENTITY), rules="R0203 P0304")
N2 = seg("N2", "Additional Name Information", el("93", AN, 1, 60, True), el("93", AN, 1, 60))
N3 = seg("N3", "Address Information", el("166", AN, 1, 55, True), el("166", AN, 1, 55))
N4 = seg("N4", "Geographic Location",
         el("19", AN, 2, 30), el("156", ID, 2, 2), el("116", ID, 3, 15), el("26", ID, 2, 3),
         el("309", ID, 1, 2), el("310", AN, 1, 30), rules="C0605")
N9 = seg("N9", "Reference Identification",
         el("128", ID, 2, 3, True, REF_QUALIFIER), el("127", AN, 1, 30), el("369", AN, 1, 45),
         el("373", DT, 8, 8), el("337", TM, 4, 8), el("623", ID, 2, 2), C040, rules="R0203")
MSG = seg("MSG", "Message Text", el("933", AN, 1, 264, True), el("934", ID, 2, 2),
          el("1470", N0, 1, 9), rules="C0302")
NTE = seg("NTE", "Note/Special Instruction", el("363", ID, 3, 3), el("352", AN, 1, 80, True))
CUR = seg("CUR", "Currency",
          el("98", ID, 2, 3, True, ENTITY), el("100", ID, 3, 3, True, CURRENCY),
          el("280", R, 4, 10), el("98", ID, 2, 3, codes=ENTITY), el("100", ID, 3, 3),
          el("669", ID, 3, 3), el("374", ID, 3, 3), el("373", DT, 8, 8), el("337", TM, 4, 8),
          rules="C0807 C0907")
ITD = seg("ITD", "Terms of Sale/Deferred Terms of Sale",
          el("336", ID, 2, 2, codes=TERMS_TYPE), el("333", ID, 1, 2), el("338", R, 1, 6),
          el("370", DT, 8, 8), el("351", N0, 1, 3), el("446", DT, 8, 8), el("386", N0, 1, 3),
          el("362", NUM2, 1, 10), el("388", DT, 8, 8), el("389", NUM2, 1, 10), el("342", R, 1, 5),
          el("352", AN, 1, 80), el("765", N0, 1, 2), el("107", ID, 1, 2), el("954", R, 1, 10))
FOB = seg("FOB", "F.O.B. Related Instructions",
          el("146", ID, 2, 2, True), el("309", ID, 1, 2), el("352", AN, 1, 80),
          el("334", ID, 2, 2), el("335", ID, 3, 3), el("309", ID, 1, 2), el("352", AN, 1, 80),
          el("54", ID, 2, 2), el("352", AN, 1, 80), rules="C0302 C0405 C0706 C0809")
TAX = seg("TAX", "Tax Reference",
          el("325", AN, 1, 20), el("309", ID, 1, 2), el("310", AN, 1, 30), el("309", ID, 1, 2),
          el("310", AN, 1, 30), el("309", ID, 1, 2), el("310", AN, 1, 30), el("309", ID, 1, 2),
          el("310", AN, 1, 30), el("309", ID, 1, 2), el("310", AN, 1, 30),
          el("441", ID, 1, 1), el("1179", AN, 1, 80))
TD1 = seg("TD1", "Carrier Details (Quantity and Weight)",
          el("103", AN, 3, 5), el("80", N0, 1, 7), el("23", ID, 1, 1), el("22", AN, 1, 30),
          el("79", AN, 1, 50), el("187", ID, 1, 2), el("81", R, 1, 10),
          el("355", ID, 2, 2, codes=UOM), el("183", R, 1, 8), el("355", ID, 2, 2, codes=UOM),
          rules="C0102 C0304 C0607 C0708 C0910")
TD3 = seg("TD3", "Carrier Details (Equipment)",
          el("40", ID, 2, 2), el("206", AN, 1, 4), el("207", AN, 1, 10), el("187", ID, 1, 2),
          el("81", R, 1, 10), el("355", ID, 2, 2, codes=UOM), el("102", ID, 2, 2),
          el("407", ID, 1, 2), el("225", AN, 2, 15), el("24", ID, 2, 5))
TD4 = seg("TD4", "Carrier Details (Special Handling, or Hazardous Materials, or Both)",
          el("152", ID, 2, 3), el("208", ID, 1, 3), el("209", AN, 2, 10), el("352", AN, 1, 80),
          el("1073", ID, 1, 1, codes=YES_NO))
TD5 = seg("TD5", "Carrier Details (Routing Sequence/Transit Time)",
          el("133", ID, 1, 2), el("66", ID, 1, 2, codes=ID_QUALIFIER), el("67", AN, 2, 80),
          el("91", ID, 1, 2), el("387", AN, 1, 35), el("368", ID, 2, 2), el("309", ID, 1, 2),
          el("310", AN, 1, 30), el("731", ID, 2, 2), el("732", ID, 2, 2), el("733", R, 1, 4),
          el("284", ID, 2, 2), el("284", ID, 2, 2), el("284", ID, 2, 2), el("26", ID, 2, 3),
          rules="R0204050612 C0203 C0708 C1011")
PID = seg("PID", "Product/Item Description",
          el("349", ID, 1, 1, True, DESCRIPTION_TYPE), el("750", ID, 2, 3), el("559", ID, 2, 2),
          el("751", AN, 1, 12), el("352", AN, 1, 80), el("752", ID, 2, 2), el("822", AN, 1, 15),
          el("1073", ID, 1, 1, codes=YES_NO), el("819", ID, 2, 3),
          rules="C0403 R0405 C0703 C0804 C0905")
MEA = seg("MEA", "Measurements",
          el("737", ID, 2, 2), el("738", ID, 1, 3), el("739", R, 1, 20), C001,
          el("740", R, 1, 20), el("741", R, 1, 20), el("935", ID, 1, 2), el("936", R, 1, 20),
          el("752", ID, 2, 2), el("1373", ID, 1, 2), rules="R03050608 C0504 C0604")
PO3 = seg("PO3", "Additional Item Detail",
          el("371", ID, 2, 2, True), el("373", DT, 8, 8), el("236", ID, 3, 3),
          el("212", R, 1, 17), el("639", ID, 2, 2, codes=PRICE_BASIS), el("380", R, 1, 15, True),
          el("355", ID, 2, 2, True, UOM), el("352", AN, 1, 80))
PO4 = seg("PO4", "Item Physical Details",
          el("356", N0, 1, 6), el("357", R, 1, 8), el("355", ID, 2, 2, codes=UOM),
          el("103", AN, 3, 5), el("187", ID, 1, 2), el("384", R, 1, 9),
          el("355", ID, 2, 2, codes=UOM), el("385", R, 1, 9), el("355", ID, 2, 2, codes=UOM),
          el("82", R, 1, 8), el("189", R, 1, 8), el("65", R, 1, 8),
          el("355", ID, 2, 2, codes=UOM), el("810", N0, 1, 6), el("752", ID, 2, 2),
          el("350", AN, 1, 20), el("350", AN, 1, 20), el("1470", N0, 1, 9),
          rules="P0203 C0506 P0607 P0809 C1013 C1113 C1213 L13101112")
SAC = seg("SAC", "Service, Promotion, Allowance, or Charge Information",
          el("248", ID, 1, 1, True, ALLOWANCE_CHARGE), el("1300", ID, 4, 4), el("559", ID, 2, 2),
          el("1301", AN, 1, 10), el("610", NUM2, 1, 15), el("378", ID, 1, 1), el("332", R, 1, 6),
          el("118", R, 1, 9), el("355", ID, 2, 2, codes=UOM), el("380", R, 1, 15),
          el("380", R, 1, 15), el("331", ID, 2, 2), el("127", AN, 1, 30), el("770", AN, 1, 20),
          el("352", AN, 1, 80), el("819", ID, 2, 3), rules="R0203 P0304 P0607 C0907")
CTT = seg("CTT", "Transaction Totals",
          el("354", N0, 1, 6, True), el("347", R, 1, 10), el("81", R, 1, 10),
          el("355", ID, 2, 2, codes=UOM), el("183", R, 1, 8), el("355", ID, 2, 2, codes=UOM),
          el("352", AN, 1, 80), rules="P0304 P0506")
AMT = seg("AMT", "Monetary Amount", el("522", ID, 1, 3, True), el("782", R, 1, 18, True),
          el("478", ID, 1, 1))
PKG = seg("PKG", "Marking, Packaging, Loading",
          el("349", ID, 1, 1, codes=DESCRIPTION_TYPE), el("753", ID, 2, 2), el("559", ID, 2, 2),
          el("754", AN, 1, 7), el("352", AN, 1, 80), el("400", ID, 1, 2),
          rules="R0405 C0403 C0501")
TC2 = seg("TC2", "Commodity", el("23", ID, 1, 1, True), el("22", AN, 1, 30, True))
TXI = seg("TXI", "Tax Information",
          el("963", ID, 2, 2, True), el("782", R, 1, 18), el("954", R, 1, 10), el("955", ID, 2, 2),
          el("956", AN, 1, 30), el("441", ID, 1, 1), el("1325", ID, 1, 1), el("828", R, 1, 9),
          el("325", AN, 1, 20), el("350", AN, 1, 20), rules="R020306 P0405")
CSH = seg("CSH", "Sales Requirements",
          el("563", ID, 1, 2), el("306", ID, 1, 2), el("610", NUM2, 1, 15), el("508", AN, 1, 35),
          el("373", DT, 8, 8), el("324", AN, 1, 22), el("338", R, 1, 6), el("954", R, 1, 10),
          el("337", TM, 4, 8), el("1373", ID, 1, 1))
CTP = seg("CTP", "Pricing Information",
          el("687", ID, 2, 2), el("236", ID, 3, 3), el("212", R, 1, 17), el("380", R, 1, 15),
          C001, el("648", ID, 3, 3), el("649", R, 1, 10), el("782", R, 1, 18),
          el("639", ID, 2, 2, codes=PRICE_BASIS), el("499", AN, 1, 10), el("289", N0, 1, 2),
          rules="P0405 C0607")
CTB = seg("CTB", "Restrictions/Conditions",
          el("688", ID, 2, 2, True), el("352", AN, 1, 80), el("673", ID, 2, 2),
          el("380", R, 1, 15), el("522", ID, 1, 3), el("610", NUM2, 1, 15),
          rules="R020406 P0304 P0506")
QTY = seg("QTY", "Quantity", el("673", ID, 2, 2, True), el("380", R, 1, 15), C001,
          el("61", AN, 1, 30), rules="R0204 E0204")
SCH = seg("SCH", "Line Item Schedule",
          el("380", R, 1, 15, True), el("355", ID, 2, 2, True, UOM),
          el("98", ID, 2, 3, codes=ENTITY), el("93", AN, 1, 60),
          el("374", ID, 3, 3, True, DATE_QUALIFIER), el("373", DT, 8, 8, True),
          el("337", TM, 4, 8), el("374", ID, 3, 3, codes=DATE_QUALIFIER), el("373", DT, 8, 8),
          el("337", TM, 4, 8), el("326", AN, 1, 30), el("350", AN, 1, 20), rules="C0304")
LIN = seg("LIN", "Item Identification",
          el("350", AN, 1, 20), el("235", ID, 2, 2, True, PRODUCT_ID), el("234", AN, 1, 48, True),
          *product_pairs(14), rules=pair_rules(4, 14))
SLN = seg("SLN", "Subline Item Detail",
          el("350", AN, 1, 20, True), el("350", AN, 1, 20), el("662", ID, 1, 1, True),
          el("380", R, 1, 15), C001, el("212", R, 1, 17), el("639", ID, 2, 2, codes=PRICE_BASIS),
          el("662", ID, 1, 1), *product_pairs(10), rules="P0405 C0706 " + pair_rules(9, 10))
SDQ = seg("SDQ", "Destination Quantity",
          el("355", ID, 2, 2, True, UOM), el("66", ID, 1, 2, codes=ID_QUALIFIER),
          *[el("67", AN, 2, 80) if i % 2 == 0 else el("380", R, 1, 15) for i in range(20)],
          el("310", AN, 1, 30))
MAN = seg("MAN", "Marks and Numbers",
          el("88", ID, 1, 2, True), el("87", AN, 1, 48, True), el("87", AN, 1, 48),
          el("88", ID, 1, 2), el("87", AN, 1, 48), el("87", AN, 1, 48), rules="P0405 C0605")
PWK = seg("PWK", "Paperwork",
          el("755", ID, 2, 2, True), el("756", ID, 1, 2), el("757", N0, 1, 2),
          el("98", ID, 2, 3, codes=ENTITY), el("66", ID, 1, 2, codes=ID_QUALIFIER),
          el("67", AN, 2, 80), el("352", AN, 1, 80), el("C002", AN, 1, 80), el("1525", ID, 1, 2),
          rules="P0506")
