"""What sheetsync says in an agent's sheet, in English and in Arabic: one catalogue.

An agent's ``language`` (``en``, the default, or ``ar``) decides the headers ``init`` makes,
the dropdowns' values, the header notes, the Check tab's answers and the values of choices
the sync writes (a Status, a Gender); reading stays bilingual whatever the setting
(:mod:`sync.fields` and :mod:`sync.values` know both spellings). A text is looked up by
its key; a key missing from a language falls back to English. Why a cell's value is
refused is a :class:`Problem`: English where no language is known (logs, the command
line), in the sheet's language in its Sync notes.
"""

from __future__ import annotations

from typing import Any, Literal

from sync.fields import Field

Language = Literal["en", "ar"]
LANGUAGES: tuple[Language, ...] = ("en", "ar")
OTHER: dict[Language, Language] = {"en": "ar", "ar": "en"}
"""The other language (a dropdown offers both spellings of yes)."""

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
    "check_phone_unreadable": {"en": "Phone: {problem}", "ar": "الهاتف: {problem}"},
    "possible_phone": {
        "en": "{shown} is possible but not a valid number for {where}",
        "ar": "{shown} رقم ممكن لكنه ليس رقمًا صحيحًا في {where}",
    },
    # -- why a typed value is refused (sync.values, sync.cells) ------------------------------
    "formula_error": {
        "en": "shows the formula error {value}: fix the formula or type the value",
        "ar": "تعرض خطأ الصيغة {value}: صحّح الصيغة أو اكتب القيمة",
    },
    "formula_unsaved": {
        "en": (
            "is a formula saved without its value ({formula}): open and save the file in "
            "Excel or LibreOffice, or type the value"
        ),
        "ar": (
            "صيغة حُفظت بلا قيمتها ({formula}): افتح الملف واحفظه في Excel أو LibreOffice، "
            "أو اكتب القيمة"
        ),
    },
    "too_long_to_store": {
        "en": (
            "{length:,} characters, more than sheetsync keeps of one cell ({limit:,}): "
            "shorten it, or keep the text in a document and link it"
        ),
        "ar": (
            "{length} حرفًا، أكثر مما تحفظه المزامنة من خلية واحدة ({limit}): اختصره، أو "
            "احفظ النص في مستند وضع رابطه"
        ),
    },
    "not_a_choice": {
        "en": "{shown} is not one of {choices}",
        "ar": "{shown} ليست من الخيارات: {choices_ar}",
    },
    "not_a_number": {
        "en": "could not read {shown} as a whole number",
        "ar": "تعذرت قراءة {shown} عددًا صحيحًا",
    },
    "not_whole": {"en": "{shown} is not a whole number", "ar": "{shown} ليس عددًا صحيحًا"},
    "out_of_range": {
        "en": "{header} must be between {low} and {high}, not {number}",
        "ar": "{header_ar} يجب أن يكون بين {low} و{high}، لا {number}",
    },
    "not_a_percentage": {
        "en": "could not read {shown} as a percentage",
        "ar": "تعذرت قراءة {shown} نسبةً مئوية",
    },
    "percentage_range": {
        "en": "{shown} is not a percentage from 0 to 100",
        "ar": "{shown} ليست نسبة مئوية من 0 إلى 100",
    },
    "not_a_date": {"en": "could not read {shown} as a date", "ar": "تعذرت قراءة {shown} تاريخًا"},
    "not_a_date_because": {
        "en": "could not read {shown} as a date: {why}",
        "ar": "تعذرت قراءة {shown} تاريخًا: {why}",
    },
    "date_serial": {
        "en": "numbers are read as spreadsheet date serials, from 1 to {top}",
        "ar": "الأرقام تُقرأ أرقامًا تسلسلية للتواريخ، من 1 إلى {top}",
    },
    "date_no_month_in": {
        "en": "neither {first} nor {second} can be a month",
        "ar": "لا {first} ولا {second} يصلح شهرًا",
    },
    "date_incomplete": {
        "en": "it needs a day, a month and a year",
        "ar": "يلزمه يوم وشهر وسنة",
    },
    "date_time": {"en": "the time is not a time", "ar": "الوقت ليس وقتًا صحيحًا"},
    "date_year": {
        "en": "the year {year} is not between {low} and {high}",
        "ar": "السنة {year} ليست بين {low} و{high}",
    },
    "date_month": {"en": "there is no month {month}", "ar": "لا يوجد شهر {month}"},
    "date_day": {
        "en": "{month_name} {year} has no day {day}",
        "ar": "ليس في الشهر {month}/{year} يوم {day}",
    },
    # -- the master (``[master] language``) -------------------------------------------------
    "master_resolution_help": {
        "en": (
            "Type one of these words, then sync:\n"
            "keep - the current value stays\n"
            "accept - take the proposed value (a phone change: the new phone; a mass removal: "
            "apply it)\n"
            "value: TEXT - set this instead (a completion race: the agent who gets the "
            "commission)\n"
            "merge into CUS-... - one person, two customers: merge the other into this one\n"
            "dismiss - close it, change nothing\n"
            "Each row's How to resolve column lists the words it takes. Words that cannot be "
            "applied stay, with the reason in Resolution note."
        ),
        "ar": (
            "اكتب إحدى هذه الكلمات ثم زامن:\n"
            "أبقِ - تبقى القيمة الحالية\n"
            "اقبل - تؤخذ القيمة المقترحة (تغيير هاتف: الهاتف الجديد؛ حذف جماعي: يُطبَّق)\n"
            "قيمة: نص - تُضبط هذه القيمة بدلًا منهما (سباق إتمام: الوكيل الذي يأخذ العمولة)\n"
            "ادمج في CUS-... - شخص واحد وعميلان: يُدمج الآخر في هذا\n"
            "تجاهل - يُغلق دون تغيير شيء\n"
            "عمود طريقة الحل في كل صف يذكر الكلمات التي يقبلها. الكلمات التي يتعذر تطبيقها "
            "تبقى، والسبب في ملاحظة القرار. (الكلمات الإنجليزية مفهومة أيضًا.)"
        ),
    },
    "master_edit_note": {
        "en": (
            "Yours to correct: what you type here goes to every agent who tracks this "
            "customer (audited as yours; `sheetsync undo` takes it back)."
        ),
        "ar": (
            "لك أن تصححه: ما تكتبه هنا يصل إلى كل وكيل يتابع هذا العميل (يُسجَّل باسمك؛ "
            "`sheetsync undo` يتراجع عنه)."
        ),
    },
    "master_commission_note": {
        "en": (
            "Yours to set: this agent's share, in percent, of the customer's commission (the "
            "Commission tab and the agent's sheet show it)."
        ),
        "ar": (
            "لك أن تضبطها: نصيب هذا الوكيل، بالنسبة المئوية، من عمولة العميل (يعرضها تبويب "
            "العمولة وورقة الوكيل)."
        ),
    },
    "master_delete_note": {
        "en": (
            "Type  delete: REASON  to delete this customer (every record is kept; it moves "
            "to the Deleted tab and agents' rows for it stop syncing), then sync."
        ),
        "ar": (
            "اكتب  حذف: السبب  لحذف هذا العميل (تُحفظ كل سجلاته؛ ينتقل إلى تبويب Deleted "
            "وتتوقف مزامنة صفوف الوكلاء له)، ثم زامن."
        ),
    },
    "master_restore_note": {
        "en": "Type  restore  to bring this customer back everywhere, then sync.",
        "ar": "اكتب  استعادة  لإعادة هذا العميل في كل مكان، ثم زامن.",
    },
    "hint_shared_field": {
        "en": "keep | accept | value: … | dismiss",
        "ar": "أبقِ | اقبل | قيمة: … | تجاهل",
    },
    "hint_possible_duplicate": {
        "en": "merge into CUS-… | dismiss",
        "ar": "ادمج في CUS-… | تجاهل",
    },
    "hint_identity_mismatch": {
        "en": "accept (the new phone) | dismiss; or fix the agent's row",
        "ar": "اقبل (الهاتف الجديد) | تجاهل؛ أو صحّح صف الوكيل",
    },
    "hint_completion_race": {
        "en": "value: <agent> | dismiss (each completion counts)",
        "ar": "قيمة: <الوكيل> | تجاهل (يُحسب كل إتمام)",
    },
    "hint_split_over_100": {
        "en": "fix Commission % in the Tracking tab | dismiss",
        "ar": "صحّح العمولة في تبويب Tracking | تجاهل",
    },
    "hint_quarantine": {
        "en": "accept (a mass removal) | dismiss (a tab missing or broken); or fix the agent's tab",
        "ar": "اقبل (الحذف الجماعي) | تجاهل (تبويب مفقود أو معطوب)؛ أو صحّح تبويب الوكيل",
    },
    "hint_invalid_phone": {
        "en": "fix the agent's row | dismiss",
        "ar": "صحّح صف الوكيل | تجاهل",
    },
    "hint_duplicate_row": {
        "en": "fix the agent's rows | dismiss",
        "ar": "صحّح صفوف الوكيل | تجاهل",
    },
    "hint_deleted_customer": {
        "en": "accept (restore the customer) | dismiss; or the agent removes the row",
        "ar": "اقبل (استعادة العميل) | تجاهل؛ أو يحذف الوكيل الصف",
    },
    "hint_other": {"en": "dismiss", "ar": "تجاهل"},
    "yes": {"en": "yes", "ar": "نعم"},
    "restore_word": {"en": "restore", "ar": "استعادة"},
    "no": {"en": "no", "ar": "لا"},
    "no_status": {"en": "no status", "ar": "بلا حالة"},
    "no_customer_for_follow_up": {
        "en": "no customer with this Customer # or phone in your Customers tab; not synced",
        "ar": "لا عميل بهذا الرقم أو الهاتف في تبويب العملاء؛ لم يُزامَن",
    },
}


def say(key: str, language: Language = "en", **values: object) -> str:
    """The text ``key`` in ``language`` (English when it has none), filled with ``values``
    (a value that is a :class:`Problem` said in ``language`` too)."""
    texts = TEXTS[key]
    shown = {k: said_in(v, language) if isinstance(v, Problem) else v for k, v in values.items()}
    return texts.get(language, texts["en"]).format(**shown)


class Problem(str):
    """Why a value is refused, in words: the text is English; :func:`said_in` says it in
    another language. A ``str``, so messages built from it stay plain text."""

    key: str
    values: dict[str, Any]

    def __new__(cls, key: str, **values: Any) -> Problem:
        problem = super().__new__(cls, say(key, "en", **values))
        problem.key, problem.values = key, values
        return problem

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, Any]]:
        return (self.key,), self.values


def said_in(text: str, language: Language) -> str:
    """A message in ``language``: a :class:`Problem` said again in it, other text as is."""
    if isinstance(text, Problem) and language != "en":
        return say(text.key, language, **text.values)
    return text


def header(field: Field, language: Language = "en") -> str:
    """A field's header in ``language``."""
    return field.arabic if language == "ar" else field.header
