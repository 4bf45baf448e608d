"""The patterns planted in the demo data, with their ids and thresholds.

Tests (the generator's own, and later the KPI, alert and scoring tests) import :data:`PLANTED`
to know which rep, channel and product to look at, and which thresholds hold. The ids do not
depend on the seed or the scale. ``docs/demo-data.md`` describes each pattern.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlantedPatterns:
    """Ids and thresholds of the planted patterns (see ``docs/demo-data.md``)."""

    # 1. Stage skipping: this rep creates most deals directly in a later stage.
    stage_skipper_rep_id: str = "R00002"
    #: Share of the skipper's deals that skip a required stage is above this ...
    skipper_min_share: float = 0.60
    #: ... while every other rep (with at least 20 deals) stays below this.
    others_max_skip_share: float = 0.05

    # 2. E-mail-only late-stage deals: this rep has no calls or meetings on deals while they
    #    are in the last two open stages, and loses clearly more of those deals.
    email_only_rep_id: str = "R00003"
    late_stage_ids: tuple[str, ...] = ("negotiation", "commitment")
    #: Loss rate of the rep's closed late-stage deals exceeds the others' by at least this.
    email_only_min_extra_loss_rate: float = 0.20

    # 3. Slow first response: mean time from ``leads.sql_at`` to the owner's first outbound
    #    call/e-mail/meeting is above this many (wall-clock) hours for this rep ...
    slow_responder_rep_id: str = "R00004"
    slow_response_min_mean_hours: float = 42.0
    #: ... while most reps answer within this many business hours (Mon-Fri 8-18 Amsterdam).
    normal_response_max_business_hours: float = 8.0

    # 4. Stale deals: this many open deals have been in their current stage for 2.5-3.5 ×
    #    their product line's cap (below) on "today"; unless planted, no open deal has been
    #    in its stage longer than the cap: half the line's shortest cycle, at most 58 days.
    #    Stale is relative to the product: 50 days is stale for a service contract, normal
    #    for a machine.
    stale_deals: int = 10
    open_stage_cap_days: tuple[tuple[str, float], ...] = (
        ("service", 15.0),
        ("parts", 30.0),
        ("machines", 58.0),
    )
    stale_cap_multiple: tuple[float, float] = (2.5, 3.5)

    def stage_cap_days(self, line: str) -> float:
        """The most days a non-planted open deal of product ``line`` sits in a stage."""
        return dict(self.open_stage_cap_days)[line]

    # 5. A channel that brings many leads that rarely convert.
    junk_channel: str = "web_form"
    #: SQL rate of the junk channel stays below this (other channels: 25-60 %).
    junk_max_sql_rate: float = 0.05

    # 6. A product with a much longer cycle (created -> closed) than the others.
    long_cycle_product_id: str = "MCH-XL"
    long_cycle_days: tuple[int, int] = (365, 545)
    #: Cycle of the other machines (days); parts 60-120, service 30-60.
    machine_cycle_days: tuple[int, int] = (180, 270)

    # 7. Unassigned backlog: leads without owner, created in the last ``backlog_days`` days and
    #    not disqualified; per scale. Older leads always have an owner.
    backlog_days: int = 21
    backlog_leads: tuple[tuple[str, int], ...] = (("demo", 40), ("large", 300), ("1m", 1000))

    # 8. Referrals from existing customers: every lead of this channel has a referring account
    #    with an active contract (start_on <= lead created date <= end_on) at creation time.
    referral_channel: str = "referral"

    # 9. Close dates that slip again and again: this rep enters very optimistic close dates
    #    and pushes them out by 1-3 weeks at a time (deal_field_history).
    slipper_rep_id: str = "R00006"
    #: The rep's slip rate (share of its deals whose expected close date was pushed later
    #: at least once) is above this, every other rep's (with at least 20 deals) below ...
    slipper_min_slip_rate: float = 0.90
    others_max_slip_rate: float = 0.85
    #: ... and its deals that slipped were pushed at least this many times on average.
    slipper_min_pushes: float = 3.0

    def backlog_for(self, scale: str) -> int:
        """Number of planted unassigned leads at ``scale``."""
        return dict(self.backlog_leads)[scale]


#: The planted patterns; import this in tests instead of repeating ids and thresholds.
PLANTED = PlantedPatterns()

__all__ = ["PLANTED", "PlantedPatterns"]
