"""Reference data of the demo company (Polder Machines B.V.) and the generator's scales."""

from __future__ import annotations

from dataclasses import dataclass

from salespulse.errors import UserError


@dataclass(frozen=True)
class Scale:
    """How much to generate. Leads are generated in chunks of ``leads_per_chunk``."""

    name: str
    teams_per_region: int
    reps_per_team: int
    accounts: int
    leads_per_chunk: int
    chunks: int
    #: Multiplier on deal activities (the 1m scale logs more per deal).
    activity_factor: float = 1.3


SCALES: dict[str, Scale] = {
    "demo": Scale("demo", 1, 5, 1_500, 12_000, 1),
    "large": Scale("large", 4, 12, 40_000, 140_000, 3),
    "1m": Scale("1m", 12, 25, 300_000, 200_000, 22),
}


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise UserError(
            f"unknown scale {name!r}", hint=f"choose one of: {', '.join(SCALES)}"
        ) from None


COMPANY = "Polder Machines B.V."
EMAIL_DOMAIN = "poldermachines.example"
YEARS_OF_HISTORY = 3
REGIONS = ("Noord", "Oost", "Zuid", "West")
REGION_WEIGHTS = (0.20, 0.25, 0.30, 0.25)

PIPELINE_ID = "sales"
PIPELINE_NAME = "Sales"

#: id, name, order, probability, is_closed, is_won, is_required
STAGES: tuple[tuple[str, str, int, float, bool, bool, bool], ...] = (
    ("qualification", "Qualification", 1, 0.10, False, False, True),
    ("needs_analysis", "Needs analysis", 2, 0.25, False, False, True),
    ("proposal", "Proposal", 3, 0.45, False, False, True),
    ("negotiation", "Negotiation", 4, 0.70, False, False, True),
    ("commitment", "Verbal commitment", 5, 0.90, False, False, False),
    ("won", "Closed won", 6, 1.00, True, True, False),
    ("lost", "Closed lost", 7, 0.00, True, False, False),
)
N_OPEN = 5
WON = 5
LOST = 6
#: Relative time spent in each open stage.
STAGE_WEIGHTS = (0.16, 0.20, 0.26, 0.24, 0.14)
#: Last open stage reached by lost deals (index 0-4), normal reps and the e-mail-only rep.
LOST_EXIT = (0.30, 0.25, 0.20, 0.15, 0.10)
LOST_EXIT_EMAIL_ONLY = (0.08, 0.08, 0.14, 0.40, 0.30)


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    line: str
    list_price: float | None
    cycle_days: tuple[int, int]
    amount_eur: tuple[float, float]
    base_win: float
    share: float
    share_trade_fair: float
    activities_per_day: float
    #: Service contracts: the amount is per year; the term is 1-3 years.
    per_year: bool = False


PRODUCTS: tuple[Product, ...] = (
    Product("MCH-CNC", "CNC machining centre VMC-800", "machines", 185_000.0,
            (180, 270), (80_000, 260_000), 0.34, 0.10, 0.22, 0.16),
    Product("MCH-LASER", "Fibre laser cutter FL-3015", "machines", 240_000.0,
            (180, 270), (120_000, 400_000), 0.30, 0.07, 0.18, 0.16),
    Product("MCH-PRESS", "Press brake PB-170", "machines", 95_000.0,
            (180, 270), (40_000, 160_000), 0.36, 0.09, 0.16, 0.16),
    Product("MCH-XL", "Automated production line XL", "machines", 650_000.0,
            (365, 545), (350_000, 900_000), 0.30, 0.04, 0.10, 0.11),
    Product("PRT-WEAR", "Wear parts", "parts", None,
            (60, 120), (2_000, 12_000), 0.50, 0.17, 0.10, 0.21),
    Product("PRT-DRIVE", "Drive and control parts", "parts", None,
            (60, 120), (5_000, 30_000), 0.46, 0.15, 0.09, 0.21),
    Product("SRV-BASIC", "Service contract Basic", "service", 3_500.0,
            (30, 60), (1_000, 6_000), 0.60, 0.21, 0.08, 0.30, per_year=True),
    Product("SRV-PREMIUM", "Service contract Premium", "service", 9_500.0,
            (30, 60), (5_000, 15_000), 0.55, 0.17, 0.07, 0.30, per_year=True),
)  # fmt: skip

#: name, share of leads, P(MQL), P(SQL), win factor
CHANNELS: tuple[tuple[str, float, float, float, float], ...] = (
    ("trade_fair", 0.14, 0.90, 0.35, 1.10),
    ("web_form", 0.36, 0.50, 0.03, 0.55),
    ("phone", 0.10, 0.90, 0.45, 1.05),
    ("email", 0.12, 0.85, 0.33, 1.00),
    ("referral", 0.08, 0.95, 0.60, 1.30),
    ("outbound", 0.20, 0.80, 0.28, 0.85),
)
#: Trade fairs (month, day) each year; fair leads arrive in the three weeks after.
TRADE_FAIRS = ((3, 10), (10, 1))

INDUSTRIES = (
    "Metalworking", "Food & beverage", "Plastics", "Agriculture", "Construction",
    "Automotive", "Packaging", "Chemicals", "Logistics", "Machine building",
)  # fmt: skip
COUNTRIES = ("NL", "BE", "DE", "GB", "US")
COUNTRY_WEIGHTS = (0.86, 0.07, 0.04, 0.02, 0.01)
#: Currency of deals with accounts in each country.
COUNTRY_CURRENCY = ("EUR", "EUR", "EUR", "GBP", "USD")
#: EUR per unit, around which the monthly rates move.
RATES = (("USD", 0.92), ("GBP", 1.16))

FIRST_NAMES = (
    "Jan", "Pieter", "Sanne", "Lotte", "Daan", "Emma", "Bram", "Femke", "Thijs", "Anouk",
    "Ruben", "Iris", "Joris", "Eva", "Sem", "Lisa", "Koen", "Noor", "Tim", "Fleur",
    "Lars", "Maud", "Gijs", "Roos", "Niels", "Esther", "Wouter", "Marloes", "Henk", "Ingrid",
)  # fmt: skip
LAST_NAMES = (
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen",
    "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters",
    "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "Kok",
)  # fmt: skip
COMPANY_PREFIXES = (
    "Noorder", "Ooster", "Zuider", "Wester", "Hollandse", "Brabantse", "Friese", "Twentse",
    "Limburgse", "Zeeuwse", "Gelderse", "Rijn", "Maas", "IJssel", "Delta", "Polder",
    "Vecht", "Kempen", "Veluwe", "Waal",
)  # fmt: skip
COMPANY_CORES = (
    "Metaal", "Staal", "Kunststof", "Voeding", "Verpakking", "Machinebouw", "Techniek",
    "Agri", "Bouw", "Logistiek", "Precisie", "Las", "Plaatwerk", "Draaierij", "Chemie",
)  # fmt: skip
COMPANY_SUFFIXES = ("B.V.", "Groep B.V.", "Industrie B.V.", "& Zonen B.V.", "N.V.", "Holland B.V.")
JOB_TITLES = (
    "Operations manager", "Purchasing manager", "Plant manager", "Technical director",
    "Maintenance engineer", "Owner", "Production manager", "CFO", "Buyer", "Engineer",
)  # fmt: skip
DISQUALIFIED_REASONS = ("no_budget", "not_a_fit", "spam", "duplicate", "no_response", "student")
LOST_REASONS = ("price", "competitor", "no_budget", "timing", "no_decision", "lost_contact")

SUBJECTS = {
    "call": ("Belafspraak", "Telefonisch contact", "Terugbellen", "Kennismakingsgesprek"),
    "email": ("Informatie toegestuurd", "Offerte", "Follow-up", "Vraag over levertijd"),
    "meeting": ("Bezoek op locatie", "Demo", "Onderhandelingsgesprek", "Videogesprek"),
    "task": ("Offerte maken", "Terugbellen", "Contract voorbereiden", "CRM bijwerken"),
    "note": ("Notitie gesprek", "Verslag bezoek", "Interne notitie", "Concurrent genoemd"),
}
