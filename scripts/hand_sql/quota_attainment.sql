-- quota_attainment by rep and fiscal quarter, as of $as_of: won revenue (as won_revenue;
-- 0 when nothing was won) / the rep's won_revenue quota for the quarter. A quarter's
-- quota is the rep's quarter target, else the sum of their month targets in it, else a
-- quarter of their year target; only quarters started by $as_of have one. Rows: every
-- (quarter, rep) with won revenue or a quota, and every rep on staff in a quarter that
-- has any.
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
last_visit AS (  -- each deal's last stage entry before the cutoff
    SELECT h.deal_id, h.entered_at, s.is_closed, s.is_won
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
rate AS (
    SELECT currency, arg_max(rate, valid_from) AS rate
    FROM currency_rates WHERE valid_from <= $as_of GROUP BY currency
),
won AS (  -- won revenue per local fiscal quarter of the close and owner
    SELECT (date_trunc('quarter', timezone($tz, timezone('UTC', coalesce(v.entered_at, d.closed_at)))
                                  - to_months($fiscal_shift)) + to_months($fiscal_shift))::DATE AS period,
           d.owner_rep_id AS rep_id,
           coalesce(sum(CASE WHEN d.currency IS NULL OR d.currency = $currency THEN d.amount
                             ELSE d.amount * r.rate END), 0) AS won
    FROM deals d CROSS JOIN cut
    LEFT JOIN last_visit v USING (deal_id)
    LEFT JOIN rate r ON r.currency = d.currency
    WHERE d.created_at < cut.at
      AND CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed AND v.is_won
               ELSE d.closed_at < cut.at AND d.outcome = 'won' END
    GROUP BY ALL
),
target_row AS (  -- won_revenue targets per scope at quarter grain, each with its precedence
    SELECT rep_id, team_id, period_start AS period, value, 0 AS prio
    FROM targets WHERE kpi_id = 'won_revenue' AND period_grain = 'quarter'
    UNION ALL
    SELECT rep_id, team_id,
           (date_trunc('quarter', period_start - to_months($fiscal_shift)) + to_months($fiscal_shift))::DATE,
           value, 1
    FROM targets WHERE kpi_id = 'won_revenue' AND period_grain = 'month'
    UNION ALL
    SELECT rep_id, team_id, (period_start + to_months(3 * k.range))::DATE, value / 4, 2
    FROM targets, range(4) k WHERE kpi_id = 'won_revenue' AND period_grain = 'year'
),
target AS (  -- per scope and quarter: the quarter target, else its months summed, else year / 4
    SELECT rep_id, team_id, period, sum(value) AS value
    FROM (SELECT * FROM target_row QUALIFY prio = min(prio) OVER (PARTITION BY rep_id, team_id, period))
    GROUP BY ALL
),
quota AS (  -- the reps' quotas of the quarters started by $as_of
    SELECT (date_trunc('quarter', period - to_months($fiscal_shift)) + to_months($fiscal_shift))::DATE AS period,
           rep_id, sum(value) AS quota
    FROM target WHERE rep_id IS NOT NULL AND period <= $as_of
    GROUP BY ALL
),
keyed AS (SELECT period, rep_id FROM won UNION SELECT period, rep_id FROM quota),
spine AS (  -- those, and every rep on staff (hired by $as_of) in one of their quarters
    SELECT * FROM keyed
    UNION
    SELECT p.period, r.rep_id
    FROM reps r, (SELECT DISTINCT period FROM keyed) p
    WHERE (r.hired_on IS NULL OR (r.hired_on <= $as_of AND r.hired_on < p.period + INTERVAL 3 MONTH))
      AND (r.left_on IS NULL OR r.left_on >= p.period)
)
SELECT s.period, s.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       coalesce(w.won, 0) AS numerator, q.quota AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM spine s
LEFT JOIN won w ON w.period = s.period AND w.rep_id IS NOT DISTINCT FROM s.rep_id
LEFT JOIN quota q ON q.period = s.period AND q.rep_id IS NOT DISTINCT FROM s.rep_id
LEFT JOIN reps r ON r.rep_id = s.rep_id
