"""The field catalogue: every column sheetsync knows, who owns it, and its type.

This is the single place that says which header maps to which field, which
fields are shared (one canonical value per customer), which are private to an
agent, and which belong to the sync or the admin. Parsing, merging, rendering
and the database model all read it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

_ARABIC = re.compile("[\u0600-\u06ff]")


class Owner(StrEnum):
    SYNC = "sync"
    SHARED = "shared"
    AGENT = "agent"
    ADMIN = "admin"


class Kind(StrEnum):
    TEXT = "text"
    PHONE = "phone"
    DATE = "date"
    ENUM = "enum"
    INT = "int"
    PERCENT = "percent"


@dataclass(frozen=True)
class Field:
    """One column of an agent's tab.

    Attributes:
        header: its English header; ``arabic`` is its Arabic one (the first Arabic alias):
            an agent whose sheet is in Arabic gets it. Both are read whatever the setting.
    """

    key: str
    header: str
    owner: Owner
    kind: Kind = Kind.TEXT
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def arabic(self) -> str:
        return next((a for a in self.aliases if _ARABIC.search(a)), self.header)


STATUSES = ("Prospect", "Contacted", "In progress", "Negotiating", "Completed", "Lost")
DEGREES = ("Bachelor", "Master", "PhD")
INTERESTS = ("Low", "Medium", "High")
GENDERS = ("Male", "Female", "Other")
FOLLOW_UP_TYPES = ("Call", "Meeting", "Email", "WhatsApp", "Visit", "Other")

CUSTOMERS_TAB = "Customers"
FOLLOW_UPS_TAB = "Follow-ups"
CHECK_TAB = "Check"
YES = "yes"

# Order here is the column order of a new agent tab (DESIGN.md "Default sheet layout").
CUSTOMER_FIELDS: tuple[Field, ...] = (
    Field(
        "customer_number",
        "Customer #",
        Owner.SYNC,
        aliases=("customer no", "customer id", "رقم العميل"),
    ),
    Field(
        "name", "Name", Owner.SHARED, aliases=("customer name", "full name", "الاسم", "اسم العميل")
    ),
    Field(
        "phone",
        "Phone",
        Owner.SHARED,
        Kind.PHONE,
        aliases=(
            "phone number",
            "mobile",
            "customer phone",
            "الهاتف",
            "رقم الهاتف",
            "الجوال",
            "الموبايل",
        ),
    ),
    Field(
        "email",
        "Email",
        Owner.SHARED,
        aliases=("e-mail", "customer email", "البريد الإلكتروني", "الايميل"),
    ),
    Field(
        "other_phone",
        "Other phone",
        Owner.SHARED,
        aliases=("another contact number", "other contact", "second phone", "هاتف آخر"),
    ),
    Field("nationality", "Nationality", Owner.SHARED, aliases=("الجنسية",)),
    Field("country", "Country", Owner.SHARED, aliases=("الدولة", "البلد")),
    Field(
        "city", "City/Region", Owner.SHARED, aliases=("city", "region", "city region", "المدينة")
    ),
    Field("gender", "Gender", Owner.SHARED, Kind.ENUM, GENDERS, aliases=("sex", "الجنس", "النوع")),
    Field(
        "date_of_birth",
        "Date of birth",
        Owner.SHARED,
        Kind.DATE,
        aliases=("dob", "birth date", "birthday", "تاريخ الميلاد"),
    ),
    Field(
        "desired_university",
        "Desired university",
        Owner.AGENT,
        aliases=("university", "الجامعة", "الجامعة المطلوبة"),
    ),
    Field(
        "desired_college", "Desired college", Owner.AGENT, aliases=("college", "faculty", "الكلية")
    ),
    Field(
        "desired_program",
        "Desired program",
        Owner.AGENT,
        aliases=("program", "major", "البرنامج", "التخصص"),
    ),
    Field("degree", "Degree", Owner.AGENT, Kind.ENUM, DEGREES, aliases=("degree type", "الدرجة")),
    Field("status", "Status", Owner.AGENT, Kind.ENUM, STATUSES, aliases=("sales status", "الحالة")),
    Field(
        "interest",
        "Interest",
        Owner.AGENT,
        Kind.ENUM,
        INTERESTS,
        aliases=("interest level", "مستوى الاهتمام", "الاهتمام"),
    ),
    Field("notes", "Notes", Owner.AGENT, aliases=("agent notes", "ملاحظات")),
    Field(
        "technical_opinion", "Technical opinion", Owner.AGENT, aliases=("opinion", "الرأي الفني")
    ),
    Field(
        "next_follow_up",
        "Next follow-up",
        Owner.AGENT,
        Kind.DATE,
        aliases=("next followup", "next follow up date", "next followup date", "المتابعة القادمة"),
    ),
    Field(
        "first_contact",
        "First contact",
        Owner.AGENT,
        Kind.DATE,
        aliases=("first contact date", "أول تواصل"),
    ),
    Field(
        "completed_on",
        "Completed on",
        Owner.AGENT,
        Kind.DATE,
        aliases=("completed date", "completion date", "تاريخ الإتمام"),
    ),
    Field("certificate", "Certificate", Owner.AGENT, aliases=("certificate name", "الشهادة")),
    Field("graduation_year", "Graduation year", Owner.AGENT, Kind.INT, aliases=("سنة التخرج",)),
    Field("grade", "Grade", Owner.AGENT, aliases=("gpa", "التقدير", "المعدل")),
    Field(
        "counselor_notes",
        "Counselor notes",
        Owner.AGENT,
        aliases=("counsellor notes", "ملاحظات المرشد"),
    ),
    Field("documents", "Documents", Owner.AGENT, aliases=("docs", "المستندات")),
    Field(
        "commission_pct",
        "Commission %",
        Owner.ADMIN,
        Kind.PERCENT,
        aliases=("commission", "العمولة"),
    ),
    Field("also_tracked_by", "Also tracked by", Owner.SYNC, aliases=("shared with", "يتابعه أيضا")),
    Field("sync_notes", "Sync notes", Owner.SYNC, aliases=("sync note", "ملاحظات المزامنة")),
)

FOLLOW_UP_FIELDS: tuple[Field, ...] = (
    Field(
        "follow_up_number",
        "Follow-up #",
        Owner.SYNC,
        aliases=("follow up #", "followup #", "follow-up id", "رقم المتابعة"),
    ),
    Field("customer_number", "Customer #", Owner.SYNC, aliases=("customer no", "رقم العميل")),
    Field("phone", "Phone", Owner.AGENT, Kind.PHONE, aliases=("phone number", "mobile", "الهاتف")),
    Field("date", "Date", Owner.AGENT, Kind.DATE, aliases=("follow-up date", "التاريخ")),
    Field(
        "type", "Type", Owner.AGENT, Kind.ENUM, FOLLOW_UP_TYPES, aliases=("follow-up type", "النوع")
    ),
    Field("method", "Method", Owner.AGENT, aliases=("contact method", "الطريقة")),
    Field("notes", "Notes", Owner.AGENT, aliases=("ملاحظات",)),
    Field("next_action", "Next action", Owner.AGENT, aliases=("الإجراء التالي",)),
    Field("sync_notes", "Sync notes", Owner.SYNC, aliases=("sync note", "ملاحظات المزامنة")),
)

CHECK_FIELDS: tuple[Field, ...] = (
    Field("phone", "Phone", Owner.AGENT, Kind.PHONE, aliases=("phone number", "mobile", "الهاتف")),
    Field("name", "Name", Owner.AGENT, aliases=("full name", "customer name", "الاسم")),
    Field("result", "Result", Owner.SYNC, aliases=("النتيجة",)),
    Field("tracked_by", "Tracked by", Owner.SYNC, aliases=("also tracked by", "يتابعه")),
    Field(
        "add",
        "Add my tracking",
        Owner.AGENT,
        Kind.ENUM,
        (YES,),
        aliases=("add", "add to my customers", "أضف متابعتي"),
    ),
    Field("sync_notes", "Sync notes", Owner.SYNC, aliases=("sync note", "ملاحظات المزامنة")),
)
"""The Check tab: an agent types a phone, the sync says whether the customer exists and who
tracks them, and adds the agent's tracking when asked (:mod:`sync.check`)."""

FIELDS_BY_KEY: dict[str, Field] = {f.key: f for f in CUSTOMER_FIELDS}
CHECK_FIELDS_BY_KEY: dict[str, Field] = {f.key: f for f in CHECK_FIELDS}
FOLLOW_UP_FIELDS_BY_KEY: dict[str, Field] = {f.key: f for f in FOLLOW_UP_FIELDS}
SHARED_KEYS: tuple[str, ...] = tuple(f.key for f in CUSTOMER_FIELDS if f.owner is Owner.SHARED)
AGENT_KEYS: tuple[str, ...] = tuple(f.key for f in CUSTOMER_FIELDS if f.owner is Owner.AGENT)
FOLLOW_UP_KEYS: tuple[str, ...] = ("date", "type", "method", "notes", "next_action")

# Tabs and their fields, in the order init creates them.
AGENT_TABS: dict[str, tuple[Field, ...]] = {
    CUSTOMERS_TAB: CUSTOMER_FIELDS,
    FOLLOW_UPS_TAB: FOLLOW_UP_FIELDS,
}

_SPACES = re.compile(r"[\s_\-./]+")
_MARKS = dict.fromkeys(
    map(ord, "\u200e\u200f\u200b\u200c\u200d\u2066\u2067\u2068\u2069\u061c\ufeff"), None
)


def header_key(text: object) -> str:
    """Fold a header for matching: case, spaces, `_`, `-`, `.`, `/` and bidi marks don't matter.

    >>> header_key(" Date_of-Birth ")
    'dateofbirth'
    """
    if text is None:
        return ""
    folded = unicodedata.normalize("NFKC", str(text)).translate(_MARKS).casefold()
    return _SPACES.sub("", folded).strip()


def header_index(
    fields: tuple[Field, ...], extra_aliases: dict[str, list[str]] | None = None
) -> dict[str, str]:
    """Map every folded header and alias to its field key.

    Args:
        fields: the fields of one tab.
        extra_aliases: field key -> more headers, from the configuration.
    """
    index: dict[str, str] = {}
    for f in fields:
        for name in (f.header, f.key, *f.aliases, *(extra_aliases or {}).get(f.key, [])):
            index.setdefault(header_key(name), f.key)
    return index
