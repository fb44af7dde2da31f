"""What sheetsync says in an agent's sheet, in English and in Arabic: one catalogue.

An agent's ``language`` (``en``, the default, or ``ar``) decides the headers ``init`` makes,
the dropdowns' values, the header notes, the Check tab's answers and the values of choices
the sync writes (a Status, a Gender); reading stays bilingual whatever the setting
(:mod:`sync.fields` and :mod:`sync.values` know both spellings). A text is looked up by
its key; a key missing from a language falls back to English.
"""

from __future__ import annotations

import re
from typing import Literal

from sync.fields import Field
from sync.values import spellings

Language = Literal["en", "ar"]
LANGUAGES: tuple[Language, ...] = ("en", "ar")
OTHER: dict[Language, Language] = {"en": "ar", "ar": "en"}
"""The other language (a dropdown offers both spellings of yes)."""

_ARABIC = re.compile("[\u0600-\u06ff]")

TEXTS: dict[str, dict[Language, str]] = {
    "shared_note": {
        "en": (
            "Shared with every colleague who tracks this customer. Fill it in freely; a "
            "change to a value already filled goes to an admin, who decides."
        ),
        "ar": (
            "مشترك مع كل زميل يتابع هذا العميل. املأه بحرية؛ أما تغيير قيمة مملوءة فيذهب "
            "إلى المشرف ليقرر."
        ),
    },
    "admin_note": {
        "en": "Set by your admin; your edits are reverted.",
        "ar": "يحددها المشرف؛ تعديلاتك تُعاد كما كانت.",
    },
    "protected_note": {
        "en": "Filled by sheetsync; edits are reverted",
        "ar": "تملؤه المزامنة؛ التعديلات تُعاد كما كانت",
    },
    "check_phone_note": {
        "en": (
            "Type a phone in any format to check whether the customer exists and who tracks "
            "them: the next sync answers in Result. Checking creates nothing."
        ),
        "ar": (
            "اكتب رقم هاتف بأي صيغة لتعرف هل العميل موجود ومن يتابعه: ترد المزامنة "
            "التالية في عمود النتيجة. التحقق لا يُنشئ شيئًا."
        ),
    },
    "check_add_note": {
        "en": (
            "Type yes (or نعم) to add this customer to your Customers tab at the next sync "
            "(created with the Name typed here when new)."
        ),
        "ar": (
            "اكتب نعم (أو yes) لإضافة هذا العميل إلى تبويب العملاء في المزامنة التالية "
            "(ويُنشأ بالاسم المكتوب هنا إن كان جديدًا)."
        ),
    },
    "new_customer": {"en": "New customer", "ar": "عميل جديد"},
    "exists": {"en": "Exists: {who}", "ar": "موجود: {who}"},
    "already_mine": {"en": "Already in your Customers: {who}", "ar": "موجود في عملائك: {who}"},
    "added_mine": {"en": "Added to your Customers: {who}", "ar": "أُضيف إلى عملائك: {who}"},
    "deleted": {"en": "Deleted by the admin: {who}", "ar": "حذفه المشرف: {who}"},
    "not_added_deleted": {
        "en": "not added: ask an admin to restore it",
        "ar": "لم يُضف: اطلب من المشرف استعادته",
    },
    "waiting": {
        "en": (
            "not added yet: your Customers tab could not be synced (see its Sync notes); "
            "it is added once it can be"
        ),
        "ar": (
            "لم يُضف بعد: تعذرت مزامنة تبويب العملاء (انظر ملاحظات المزامنة فيه)؛ يُضاف حين يمكن ذلك"
        ),
    },
    "removed_since": {
        "en": (
            "removed from your Customers since it was added; to track this customer again, "
            "type the phone in Customers"
        ),
        "ar": ("حُذف من عملائك بعد إضافته؛ لمتابعة هذا العميل مجددًا اكتب الهاتف في تبويب العملاء"),
    },
    "not_a_phone": {
        "en": "'{text}' is not a valid phone number",
        "ar": "'{text}' ليس رقم هاتف صحيحًا",
    },
    "type_a_phone": {
        "en": "type the customer's phone to check it",
        "ar": "اكتب هاتف العميل للتحقق منه",
    },
    "add_not_understood": {
        "en": "Add my tracking: {problem} (type yes or نعم)",
        "ar": "أضف متابعتي: {problem} (اكتب نعم أو yes)",
    },
    "since": {"en": "{name} (since {date})", "ar": "{name} (منذ {date})"},
    # -- Sync notes of an agent's rows ------------------------------------------------------
    "cell_not_synced": {
        "en": "{title}: {problem}; not synced",
        "ar": "{title}: {problem}؛ لم تُزامَن",
    },
    "cut_changed": {
        "en": (
            "{title} shows a text cut to fit this sheet, changed since; not synced, so that "
            "the rest of it is not lost (the whole text: sheetsync history {number}): to "
            "change it, replace the whole cell"
        ),
        "ar": (
            "{title} يعرض نصًا قُصّ ليتسع في هذه الورقة ثم تغيّر؛ لم يُزامَن حتى لا يضيع باقيه "
            "(النص كاملًا: sheetsync history {number}): لتغييره استبدل الخلية كلها"
        ),
    },
    "too_long": {
        "en": (
            "{title} has {length} characters, more than a cell of this sheet holds "
            "({limit}): where it shows cut, the whole text is kept (sheetsync history {number})"
        ),
        "ar": (
            "{title} فيه {length} حرفًا، أكثر مما تتسع له خلية في هذه الورقة ({limit}): حيث "
            "يظهر مقصوصًا يُحفظ النص كاملًا (sheetsync history {number})"
        ),
    },
    "shared_clear": {
        "en": "{title} is shared: clearing it is not applied (ask an admin)",
        "ar": "{title} مشترك: مسحه لا يُطبَّق (اسأل المشرف)",
    },
    "awaits_admin": {
        "en": "{title}: your change to '{mine}' awaits an admin (shared value: '{current}')",
        "ar": "{title}: تغييرك إلى '{mine}' ينتظر المشرف (القيمة المشتركة: '{current}')",
    },
    "phone_empty": {"en": "Phone is empty", "ar": "الهاتف فارغ"},
    "row_not_synced": {
        "en": "{what}; this row is not synced until it is fixed",
        "ar": "{what}؛ هذا الصف لا يُزامَن حتى يُصحَّح",
    },
    "phone_unreadable": {
        "en": "Phone: {problem}; this row is not synced until it is fixed",
        "ar": "الهاتف: {problem}؛ هذا الصف لا يُزامَن حتى يُصحَّح",
    },
    "number_mismatch": {
        "en": (
            "Customer # {number} belongs to another phone, not {phone}; not synced: fix the "
            "phone, or clear Customer # if this is another customer"
        ),
        "ar": (
            "رقم العميل {number} لهاتف آخر غير {phone}؛ لم يُزامَن: صحّح الهاتف، أو امسح رقم "
            "العميل إن كان عميلًا آخر"
        ),
    },
    "number_unknown": {
        "en": "Customer # '{number}' is not known; replaced",
        "ar": "رقم العميل '{number}' غير معروف؛ استُبدل",
    },
    "same_phone": {
        "en": "same phone as row {row}; only that row is synced: merge the two rows into one",
        "ar": "الهاتف نفسه في الصف {row}؛ ذلك الصف وحده يُزامَن: ادمج الصفين في صف واحد",
    },
    "same_customer": {
        "en": (
            "same customer as row {row} (an admin merged them); only that row is synced: "
            "move what you need there and delete this row"
        ),
        "ar": (
            "العميل نفسه في الصف {row} (دمجهما المشرف)؛ ذلك الصف وحده يُزامَن: انقل ما تحتاجه "
            "إليه واحذف هذا الصف"
        ),
    },
    "deleted_row": {
        "en": "{number} was deleted by the admin; not synced: ask an admin to restore it",
        "ar": "{number} حذفه المشرف؛ لم يُزامَن: اطلب من المشرف استعادته",
    },
    "removed_by_admin": {
        "en": "removed by the admin on {date}",
        "ar": "حذفه المشرف في {date}",
    },
    "no_longer_synced": {"en": "{words}; no longer synced", "ar": "{words}؛ لم يعد يُزامَن"},
    "lost_to_colleague": {
        "en": "lost to colleague: another agent completed this customer first",
        "ar": "ذهب لزميل: أتمّ وكيل آخر هذا العميل أولًا",
    },
    "completion_race": {
        "en": "completed in the same cycle as a colleague: an admin decides the commission",
        "ar": "اكتمل في الدورة نفسها مع زميل: المشرف يقرر العمولة",
    },
    "no_customer_for_follow_up": {
        "en": "no customer with this Customer # or phone in your Customers tab; not synced",
        "ar": "لا عميل بهذا الرقم أو الهاتف في تبويب العملاء؛ لم يُزامَن",
    },
}


def say(key: str, language: Language = "en", **values: object) -> str:
    """The text ``key`` in ``language`` (English when it has none), filled with ``values``."""
    texts = TEXTS[key]
    return texts.get(language, texts["en"]).format(**values)


def header(field: Field, language: Language = "en") -> str:
    """A field's header in ``language``."""
    return field.arabic if language == "ar" else field.header


def choice(value: str, language: Language = "en") -> str:
    """A canonical choice (``Completed``) as written in ``language`` (``مكتمل``)."""
    if language != "ar":
        return value
    return next((s for s in spellings(value) if _ARABIC.search(s)), value)
