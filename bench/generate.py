"""Realistic agent sheets for the cycle benchmark (pure data; no I/O except ``write_xlsx``).

Every agent gets ``rows`` customers and ``rows // 10`` follow-ups. A fraction
``overlap`` of each agent's rows carries a phone that 1-2 other agents also typed
(so each shared phone is in 2-3 sheets), each time in that agent's own format.
All phones are valid Egyptian mobiles, so the expected number of customers is
exactly the number of distinct phones generated.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

from sync.cells import CellValue, Grid
from sync.fields import FOLLOW_UP_FIELDS

FIRST_LATIN = [
    "Ahmed",
    "Mohamed",
    "Mahmoud",
    "Omar",
    "Youssef",
    "Mostafa",
    "Karim",
    "Hassan",
    "Ali",
    "Tarek",
    "Amr",
    "Khaled",
    "Ibrahim",
    "Hany",
    "Sherif",
    "Fatma",
    "Mariam",
    "Nour",
    "Sara",
    "Aya",
    "Salma",
    "Hana",
    "Yasmin",
    "Dina",
    "Rana",
    "Mona",
    "Heba",
    "Laila",
    "Reem",
    "Esraa",
]
LAST_LATIN = [
    "Hassan",
    "Mohamed",
    "Ali",
    "Ibrahim",
    "Mahmoud",
    "Abdelrahman",
    "Sayed",
    "Farouk",
    "El-Masry",
    "Shawky",
    "Naguib",
    "Fahmy",
    "Soliman",
    "Gaber",
    "Zaki",
    "Mansour",
    "Adel",
    "Hegazy",
    "Ramadan",
    "Kamel",
]
FIRST_ARABIC = [
    "أحمد",
    "محمد",
    "محمود",
    "عمر",
    "يوسف",
    "مصطفى",
    "كريم",
    "حسن",
    "علي",
    "طارق",
    "فاطمة",
    "مريم",
    "نور",
    "سارة",
    "آية",
    "سلمى",
    "هناء",
    "ياسمين",
    "دينا",
    "منى",
]
LAST_ARABIC = [
    "حسن",
    "محمد",
    "علي",
    "إبراهيم",
    "محمود",
    "عبد الرحمن",
    "السيد",
    "فاروق",
    "المصري",
    "شوقي",
    "نجيب",
    "فهمي",
    "سليمان",
    "جابر",
    "زكي",
    "منصور",
]
NATIONALITIES = ["Egyptian"] * 12 + ["Sudanese", "Saudi", "Jordanian", "Libyan", "Syrian", "مصري"]
CITIES = [
    "Cairo",
    "Giza",
    "Alexandria",
    "Mansoura",
    "Tanta",
    "Asyut",
    "Zagazig",
    "Ismailia",
    "القاهرة",
    "الإسكندرية",
    "Nasr City",
    "6th of October",
]
UNIVERSITIES = [
    "Cairo University",
    "Ain Shams University",
    "Alexandria University",
    "Helwan University",
    "Mansoura University",
    "The American University in Cairo",
    "German University in Cairo",
    "British University in Egypt",
    "جامعة القاهرة",
    "جامعة عين شمس",
    "Nile University",
    "Misr International University",
]
COLLEGES = [
    "Engineering",
    "Medicine",
    "Pharmacy",
    "Commerce",
    "Arts",
    "Law",
    "Dentistry",
    "Computer Science",
    "Mass Communication",
    "الهندسة",
    "الطب",
    "التجارة",
]
PROGRAMS = [
    "Computer Science",
    "Civil Engineering",
    "General Medicine",
    "Accounting",
    "English",
    "Architecture",
    "Business Administration",
    "Data Science",
    "Mechatronics",
    "Pharmacy",
    "Marketing",
    "Dentistry",
]
DEGREES = ["Bachelor", "Bachelor", "Bachelor", "Master", "master", "PhD"]
STATUSES = [
    "Prospect",
    "Contacted",
    "In progress",
    "Negotiating",
    "Completed",
    "Lost",
    "prospect",
    "contacted",
    "in progress",
    "completed",
    "CONTACTED",
]
INTERESTS = ["Low", "Medium", "High", "high", "medium"]
NOTES = [
    "Customer interested in scholarship",
    "Asked about tuition fees",
    "Call back after exams",
    "Wants a program in English",
    "Parents will decide",
    "Sent brochure on WhatsApp",
    "Met at the education fair",
    "Prefers evening calls",
    "Needs visa information",
    "مهتم بالمنحة",
    "سأل عن المصاريف",
    "يتصل بعد الامتحانات",
    "ولي الأمر سيقرر",
    "أرسلت له الكتيب على واتساب",
    "Interested in dorms; budget is tight",
    "",
]
FOLLOW_UP_TYPES = ["Call", "Meeting", "Email", "WhatsApp", "Visit", "call", "whatsapp"]
METHODS = ["Phone", "Office", "Email", "WhatsApp", "Zoom", "هاتف"]
NEXT_ACTIONS = [
    "Send application requirements",
    "Call again next week",
    "Send fee structure",
    "Wait for documents",
    "إرسال المتطلبات",
    "Book campus visit",
    "",
]
MAIL_DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"]
MOBILE_PREFIXES = ["10", "11", "12", "15"]
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

# Header sets: (field key, header as the agent typed it). Order is the agent's column order.
LAYOUTS: dict[str, list[tuple[str, str]]] = {
    "default": [
        ("customer_number", "Customer #"),
        ("name", "Name"),
        ("phone", "Phone"),
        ("email", "Email"),
        ("nationality", "Nationality"),
        ("city", "City/Region"),
        ("desired_university", "Desired university"),
        ("desired_college", "Desired college"),
        ("desired_program", "Desired program"),
        ("degree", "Degree"),
        ("status", "Status"),
        ("interest", "Interest"),
        ("notes", "Notes"),
        ("next_follow_up", "Next follow-up"),
        ("first_contact", "First contact"),
    ],
    "arabic": [
        ("name", "الاسم"),
        ("phone", "الهاتف"),
        ("email", "البريد الإلكتروني"),
        ("desired_university", "الجامعة"),
        ("desired_college", "الكلية"),
        ("desired_program", "التخصص"),
        ("status", "الحالة"),
        ("interest", "مستوى الاهتمام"),
        ("notes", "ملاحظات"),
        ("next_follow_up", "المتابعة القادمة"),
        ("first_contact", "أول تواصل"),
    ],
    "minimal": [
        ("name", "Customer name"),
        ("phone", "Mobile"),
        ("status", "Status"),
        ("desired_university", "University"),
        ("notes", "Notes"),
        ("email", "E-mail"),
        ("first_contact", "First contact date"),
    ],
}
FOLLOW_UP_HEADERS = [f.header for f in FOLLOW_UP_FIELDS]


@dataclass
class Person:
    e164: str
    name: str
    email: str | None


@dataclass
class AgentData:
    key: str
    name: str
    layout: str
    customers: Grid
    follow_ups: Grid
    phones: list[str] = field(default_factory=list)  # E.164 of each customer row, in order


@dataclass
class Dataset:
    agents: list[AgentData]
    distinct_phones: int
    shared_phones: int  # phones typed by more than one agent
    raw_phones: list[tuple[CellValue, str]]  # (cell value, expected E.164) of every phone cell

    @property
    def rows(self) -> int:
        return sum(len(a.customers) - 1 for a in self.agents)

    @property
    def follow_up_rows(self) -> int:
        return sum(len(a.follow_ups) - 1 for a in self.agents)


def _phone_number(rng: random.Random, taken: set[str]) -> str:
    while True:
        national = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        e164 = "+20" + national
        if e164 not in taken:
            taken.add(e164)
            return e164


def phone_cell(rng: random.Random, e164: str) -> CellValue:
    """The phone as some agent would type it (or as the spreadsheet kept it)."""
    national = e164[3:]  # "1001234567"
    local = "0" + national  # "01001234567"
    pick = rng.random()
    if pick < 0.25:
        return local
    if pick < 0.40:
        return f"+20 {national[:3]} {national[3:6]} {national[6:]}"
    if pick < 0.50:
        return "0020" + national
    if pick < 0.60:
        return f"0020 {national[:3]} {national[3:6]} {national[6:]}"
    if pick < 0.72:
        return int(national)  # numeric cell: the leading 0 is lost
    if pick < 0.78:
        return int("20" + national)  # numeric cell, typed with the country code
    if pick < 0.86:
        return local.translate(ARABIC_DIGITS)  # Arabic-Indic digits
    if pick < 0.93:
        return f"{local[:4]}-{local[4:7]}-{local[7:]}"
    return f"{local[:4]} {local[4:7]} {local[7:]}"


def _date_cell(rng: random.Random, day: dt.date) -> CellValue:
    pick = rng.random()
    if pick < 0.30:
        return day  # a real date cell
    if pick < 0.50:
        return day.strftime("%d/%m/%Y")
    if pick < 0.60:
        return day.isoformat()
    if pick < 0.68:
        return day.strftime("%d-%m-%Y")
    if pick < 0.76:
        return f"{MONTHS[day.month - 1][:3]} {day.day}, {day.year}"
    if pick < 0.84:
        return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    if pick < 0.92:
        return day.strftime("%d/%m/%Y").translate(ARABIC_DIGITS)
    return day.strftime("%d.%m.%Y")


def _random_day(rng: random.Random, start: dt.date, span_days: int) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(span_days))


def _person(rng: random.Random, e164: str, serial: int) -> Person:
    if rng.random() < 0.3:
        name = f"{rng.choice(FIRST_ARABIC)} {rng.choice(LAST_ARABIC)}"
        latin = f"user{serial}"
    else:
        first, last = rng.choice(FIRST_LATIN), rng.choice(LAST_LATIN)
        name = f"{first} {last}"
        latin = f"{first}.{last}".lower().replace("-", "")
    email = None if rng.random() < 0.35 else f"{latin}{serial}@{rng.choice(MAIL_DOMAINS)}"
    return Person(e164, name, email)


def _shared_groups(rng: random.Random, agents: int, per_agent: int) -> list[list[int]]:
    """Groups of 2-3 distinct agents, one per shared phone, giving each agent ~per_agent slots."""
    if agents < 2 or per_agent <= 0:
        return []
    remaining = [per_agent] * agents
    groups: list[list[int]] = []
    while True:
        open_agents = [i for i in range(agents) if remaining[i] > 0]
        if not open_agents:
            break
        size = 3 if rng.random() < 0.35 and agents >= 3 else 2
        rng.shuffle(open_agents)
        open_agents.sort(key=lambda i: -remaining[i])
        chosen = open_agents[:size]
        if len(chosen) < 2:  # the last agent with slots left: pair it with any other agent
            others = [i for i in range(agents) if i not in chosen]
            chosen.append(rng.choice(others))
        for i in chosen:
            remaining[i] -= 1
        groups.append(chosen)
    return groups


def generate(agents: int, rows: int, overlap: float, seed: int) -> Dataset:
    rng = random.Random(seed)
    taken: set[str] = set()
    per_agent_shared = round(overlap * rows) if agents > 1 else 0
    groups = _shared_groups(rng, agents, per_agent_shared)
    people: list[list[Person]] = [[] for _ in range(agents)]
    serial = 0
    for group in groups:
        serial += 1
        person = _person(rng, _phone_number(rng, taken), serial)
        for i in group:
            people[i].append(person)
    shared = len(groups)
    for i in range(agents):
        del people[i][rows:]  # (only if overlap was asked above 1)
        while len(people[i]) < rows:
            serial += 1
            people[i].append(_person(rng, _phone_number(rng, taken), serial))
        rng.shuffle(people[i])

    layouts = ["default"] * 6 + ["arabic"] * 2 + ["minimal"] * 2
    out: list[AgentData] = []
    raw_phones: list[tuple[CellValue, str]] = []
    for i in range(agents):
        key = f"agent{i + 1:03d}"
        layout = layouts[rng.randrange(len(layouts))] if i else "default"
        columns = LAYOUTS[layout]
        grid: Grid = [[h for _, h in columns]]
        phones: list[str] = []
        for person in people[i]:
            phone = phone_cell(rng, person.e164)
            raw_phones.append((phone, person.e164))
            phones.append(person.e164)
            grid.append([_customer_value(rng, k, person, phone) for k, _ in columns])
        follow_ups: Grid = [list(FOLLOW_UP_HEADERS)]
        for person in rng.sample(people[i], k=min(rows // 10, len(people[i]))):
            phone = phone_cell(rng, person.e164)  # not necessarily the Customers tab's format
            raw_phones.append((phone, person.e164))
            follow_ups.append(
                [
                    None,
                    None,
                    phone,
                    _date_cell(rng, _random_day(rng, dt.date(2025, 9, 1), 150)),
                    rng.choice(FOLLOW_UP_TYPES),
                    rng.choice(METHODS),
                    rng.choice(NOTES) or None,
                    rng.choice(NEXT_ACTIONS) or None,
                    None,
                ]
            )
        out.append(AgentData(key, f"Agent {i + 1}", layout, grid, follow_ups, phones))
    distinct = len({p.e164 for ps in people for p in ps})
    return Dataset(out, distinct, shared, raw_phones)


def _customer_value(rng: random.Random, key: str, person: Person, phone: CellValue) -> CellValue:
    if key == "customer_number":
        return None
    if key == "phone":
        return phone
    if key == "name":
        # now and then an agent types a shared name differently (an admin conflict)
        return person.name if rng.random() < 0.97 else person.name.upper()
    if key == "email":
        # a co-tracking agent sometimes doesn't have the email (the shared value fills it)
        return person.email if rng.random() < 0.85 else None
    if key == "nationality":
        return rng.choice(NATIONALITIES) if rng.random() < 0.7 else None
    if key == "city":
        return rng.choice(CITIES) if rng.random() < 0.6 else None
    if key == "desired_university":
        return rng.choice(UNIVERSITIES)
    if key == "desired_college":
        return rng.choice(COLLEGES) if rng.random() < 0.8 else None
    if key == "desired_program":
        return rng.choice(PROGRAMS) if rng.random() < 0.7 else None
    if key == "degree":
        return rng.choice(DEGREES) if rng.random() < 0.6 else None
    if key == "status":
        return rng.choice(STATUSES)
    if key == "interest":
        return rng.choice(INTERESTS) if rng.random() < 0.75 else None
    if key == "notes":
        return rng.choice(NOTES) or None
    if key == "next_follow_up":
        return (
            _date_cell(rng, _random_day(rng, dt.date(2026, 1, 1), 120))
            if rng.random() < 0.5
            else None
        )
    if key == "first_contact":
        return (
            _date_cell(rng, _random_day(rng, dt.date(2025, 6, 1), 200))
            if rng.random() < 0.8
            else None
        )
    raise KeyError(key)


def write_xlsx(path: Path, tabs: dict[str, Grid]) -> None:
    """Write one agent workbook as ``sync.demo.write_workbook`` does (phones may be numbers;
    text starting with "=" stays text), without its per-row ``max_row`` scan, which makes
    writing 2,000 rows quadratic (about 5 s per workbook instead of 0.3 s)."""
    import openpyxl

    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in tabs.items():
        sheet = book.create_sheet(title)
        for number, row in enumerate(rows, start=1):
            sheet.append(row)
            for col, value in enumerate(row, start=1):
                if isinstance(value, str) and value.startswith("="):
                    sheet.cell(row=number, column=col).data_type = "s"
    book.save(path)
