"""A tiny, hand-made CRM data set whose KPI values are worked out by hand in the tests.

Time zone Europe/Amsterdam; all timestamps below are UTC as the model stores them.
Reps: R1 (team T1, Noord), R2 (T1), R3 (T2, Zuid; left 2024-06-30), R4 (T2, hired
2024-04-01). Pipeline P with stages S1 Qualify (p=.1) → S2 Proposal (.4) → S3 Negotiate
(.8) → WON / LOST.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from salespulse.warehouse.store import Store

T = datetime


def frames() -> dict[str, pd.DataFrame]:
    teams = pd.DataFrame(
        {"team_id": ["T1", "T2"], "name": ["Noord-team", "Zuid-team"], "region": ["Noord", "Zuid"]}
    )
    reps = pd.DataFrame(
        {
            "rep_id": ["R1", "R2", "R3", "R4"],
            "name": ["Anna", "Bram", "Cor", "Dirk"],
            "team_id": ["T1", "T1", "T2", "T2"],
            "hired_on": [date(2020, 1, 1), date(2021, 5, 1), date(2019, 3, 1), date(2024, 4, 1)],
            "left_on": [None, None, date(2024, 6, 30), None],
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "name": ["Acme", "Bolt", "Cogs"],
            "industry": ["food", "metal", "metal"],
            "owner_rep_id": ["R1", "R2", "R1"],
        }
    )
    products = pd.DataFrame(
        {
            "product_id": ["M", "S"],
            "name": ["Machine", "Service"],
            "product_line": ["machines", "service"],
        }
    )
    pipelines = pd.DataFrame({"pipeline_id": ["P"], "name": ["Sales"]})
    stages = pd.DataFrame(
        {
            "stage_id": ["S1", "S2", "S3", "WON", "LOST"],
            "pipeline_id": ["P"] * 5,
            "name": ["Qualify", "Proposal", "Negotiate", "Won", "Lost"],
            "stage_order": [1, 2, 3, 4, 5],
            "probability": [0.1, 0.4, 0.8, 1.0, 0.0],
            "is_closed": [False, False, False, True, True],
            "is_won": [False, False, False, True, False],
            "is_required": [True, True, True, False, False],
        }
    )
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4", "L5"],
            "channel": ["web_form", "web_form", "referral", "trade_fair", "phone"],
            "referring_account_id": [None, None, "A1", None, None],
            "owner_rep_id": ["R1", "R2", "R1", None, "R2"],
            "account_id": ["A2", None, "A3", None, None],
            "created_at": [
                T(2024, 1, 2, 8),
                T(2024, 1, 15, 9),
                T(2024, 2, 1, 10),
                T(2024, 3, 1, 12),
                T(2024, 3, 5, 9),
            ],
            # L1: SQL Fri 2024-01-05 16:00 local (15:00 UTC); answered Mon 09:00 local (08:00 UTC)
            #     → 2 business hours (Fri 16-18) + 1 (Mon 8-9) = 3 bh; 65 clock hours
            # L2: SQL Tue 2024-01-16 09:00 local; answered same day 13:00 local → 4 bh, 4 h
            # L3: SQL 2024-02-05 (Mon) 10:00 local, never answered
            "sql_at": [T(2024, 1, 5, 15), T(2024, 1, 16, 8), T(2024, 2, 5, 9), None, None],
            "disqualified_at": [None, None, None, None, T(2024, 3, 20, 9)],
        }
    )
    deals = pd.DataFrame(
        {
            "deal_id": ["D1", "D2", "D3", "D4", "D5"],
            "account_id": ["A2", "A3", "A1", "A2", None],
            "lead_id": ["L1", "L3", None, None, "L2"],
            "owner_rep_id": ["R1", "R1", "R2", "R3", "R2"],
            "pipeline_id": ["P"] * 5,
            "stage_id": ["WON", "S2", "LOST", "WON", "S1"],
            "product_id": ["M", "S", "M", "S", "M"],
            "amount": [100000.0, 20000.0, 50000.0, 10000.0, None],
            "currency": ["EUR", "EUR", "EUR", "USD", "EUR"],
            "created_at": [
                T(2024, 1, 10, 9),
                T(2024, 2, 10, 9),
                T(2024, 1, 20, 9),
                T(2024, 2, 1, 9),
                T(2024, 3, 1, 9),
            ],
            "expected_close_on": [
                date(2024, 4, 30),
                date(2024, 3, 15),
                date(2024, 5, 1),
                date(2024, 3, 31),
                None,
            ],
            "closed_at": [T(2024, 3, 31, 22, 30), None, T(2024, 4, 2, 9), T(2024, 3, 10, 9), None],
            "outcome": ["won", None, "lost", "won", None],
        }
    )
    history = pd.DataFrame(
        {
            "deal_id": [
                "D1",
                "D1",
                "D1",
                "D1",
                "D2",
                "D2",
                "D2",
                "D3",
                "D3",
                "D3",
                "D4",
                "D4",
                "D5",
            ],
            "stage_id": [
                "S1",
                "S2",
                "S3",
                "WON",
                "S1",
                "S2",
                "S1",  # D2 moved back: re-entry of S1, then S2 again below
                "S1",
                "S3",
                "LOST",  # D3 skipped S2
                "S1",
                "WON",  # D4 skipped S2 and S3 (won straight from S1)
                "S1",
            ],
            "entered_at": [
                T(2024, 1, 10, 9),
                T(2024, 2, 1, 9),
                T(2024, 3, 1, 9),
                T(2024, 3, 31, 22, 30),  # = 2024-04-01 00:30 local: an April win
                T(2024, 2, 10, 9),
                T(2024, 2, 20, 9),
                T(2024, 3, 1, 9),
                T(2024, 1, 20, 9),
                T(2024, 2, 20, 9),
                T(2024, 4, 2, 9),
                T(2024, 2, 1, 9),
                T(2024, 3, 10, 9),
                T(2024, 3, 1, 9),
            ],
        }
    )
    history = pd.concat(
        [
            history,
            pd.DataFrame(
                {"deal_id": ["D2"], "stage_id": ["S2"], "entered_at": [T(2024, 3, 11, 9)]}
            ),
        ],
        ignore_index=True,
    )
    activities = pd.DataFrame(
        {
            "activity_id": [f"X{i}" for i in range(1, 12)],
            "activity_type": [
                "call",
                "email",
                "email",
                "meeting",
                "task",
                "task",
                "note",
                "email",
                "call",
                "email",
                "email",
            ],
            "direction": [
                "outbound",
                "outbound",
                "inbound",
                "outbound",
                None,
                None,
                None,
                "outbound",
                "outbound",
                "outbound",
                "outbound",
            ],
            "outcome": [
                "connected",
                None,
                "replied",
                "held",
                None,
                None,
                None,
                None,
                "no_answer",
                None,
                None,
            ],
            "rep_id": ["R1", "R2", "R2", "R1", "R1", "R2", "R1", "R1", "R4", "R1", "R2"],
            "lead_id": ["L1", "L2", "L2", None, None, None, None, "L1", "L5", None, None],
            # X11: the only contact on D3 while in Negotiate (S3) is an e-mail → e-mail-only
            "deal_id": [None, None, None, "D1", "D1", "D3", "D2", None, None, "D1", "D3"],
            "occurred_at": [
                T(2024, 1, 8, 8),
                T(2024, 1, 16, 12),
                T(2024, 1, 17, 9),
                T(2024, 3, 5, 10),
                T(2024, 3, 1, 8),
                T(2024, 3, 2, 8),
                T(2024, 3, 3, 8),
                T(2024, 1, 9, 8),
                T(2024, 4, 10, 9),
                T(2024, 3, 20, 9),
                T(2024, 3, 15, 9),
            ],
            "due_at": [
                None,
                None,
                None,
                None,
                T(2024, 3, 5, 17),
                T(2024, 3, 6, 17),
                None,
                None,
                None,
                None,
                None,
            ],
            "completed_at": [
                None,
                None,
                None,
                None,
                T(2024, 3, 4, 10),
                None,
                None,
                None,
                None,
                None,
                None,
            ],
        }
    )
    contracts = pd.DataFrame(
        {
            "contract_id": ["C1", "C2", "C3"],
            "account_id": ["A1", "A2", "A1"],
            "signed_on": [date(2022, 12, 15), date(2024, 4, 1), date(2023, 12, 20)],
            "start_on": [date(2023, 1, 1), date(2024, 4, 1), date(2024, 1, 1)],
            "end_on": [date(2023, 12, 31), date(2025, 3, 31), date(2025, 12, 31)],
            "value": [12000.0, 100000.0, 24000.0],
            "currency": ["EUR", "EUR", "EUR"],
        }
    )
    targets = pd.DataFrame(
        {
            "target_id": ["G1", "G2", "G3", "G4"],
            "kpi_id": ["won_revenue"] * 4,
            "period_grain": ["quarter"] * 4,
            "period_start": [
                date(2024, 1, 1),
                date(2024, 4, 1),
                date(2024, 1, 1),
                date(2024, 4, 1),
            ],
            "rep_id": ["R1", "R1", "R3", None],
            "team_id": [None, None, None, "T1"],
            "value": [50000.0, 80000.0, 20000.0, 150000.0],
        }
    )
    rates = pd.DataFrame(
        {
            "currency": ["USD", "USD"],
            "valid_from": [date(2023, 1, 1), date(2024, 3, 1)],
            "rate": [0.8, 0.9],
        }
    )
    return {
        "teams": teams,
        "reps": reps,
        "accounts": accounts,
        "products": products,
        "pipelines": pipelines,
        "stages": stages,
        "leads": leads,
        "deals": deals,
        "deal_stage_history": history,
        "activities": activities,
        "contracts": contracts,
        "targets": targets,
        "currency_rates": rates,
    }


def load(store: Store) -> Store:
    store.load_all(frames())
    return store
