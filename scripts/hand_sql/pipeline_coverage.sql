-- pipeline_coverage by rep, as of $as_of: the forecast (as forecast: Σ amount × the
-- stage's configured probability of the deals open then) expected to close in the rest of
-- the fiscal quarter of $as_of / the remaining quota (the rep's won_revenue quota for the
-- quarter − won revenue so far this quarter). No value unless the remainder is positive.
-- The quota is taken at the finest grain the won_revenue targets use (month, quarter,
-- year: per scope and period its own target, else its finer ones summed, else its coarser
-- one spread evenly), over the periods of the quarter started by $as_of. Rows: every rep
-- with a forecast, won revenue or a quota, and every rep on staff on $as_of.
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
q AS (  -- the fiscal quarter of $as_of: first and last day, its start in UTC
    SELECT start, (start + INTERVAL 3 MONTH - INTERVAL 1 DAY)::DATE AS last,
           timezone('UTC', timezone($tz, start::TIMESTAMP)) AS start_at
    FROM (SELECT (date_trunc('quarter', $as_of::DATE - to_months($fiscal_shift))
                  + to_months($fiscal_shift))::DATE AS start)
),
last_visit AS (  -- each deal's last stage entry before the cutoff
    SELECT h.deal_id, h.entered_at, h.stage_id, s.is_closed, s.is_won
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
rate AS (
    SELECT currency, arg_max(rate, valid_from) AS rate
    FROM currency_rates WHERE valid_from <= $as_of GROUP BY currency
),
deal AS (  -- deals created by the cutoff, in their state then
    SELECT d.owner_rep_id AS rep_id,
           coalesce(v.stage_id, d.stage_id) AS stage_id,
           CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed ELSE d.closed_at < cut.at END AS closed,
           CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed AND v.is_won
                ELSE d.closed_at < cut.at AND d.outcome = 'won' END AS won,
           coalesce(v.entered_at, d.closed_at) AS closed_at,
           greatest(coalesce(d.expected_close_on, $as_of::DATE), $as_of::DATE) AS close_on,
           CASE WHEN d.currency IS NULL OR d.currency = $currency THEN d.amount
                ELSE d.amount * r.rate END AS amount
    FROM deals d CROSS JOIN cut
    LEFT JOIN last_visit v USING (deal_id)
    LEFT JOIN rate r ON r.currency = d.currency
    WHERE d.created_at < cut.at
),
forecast AS (  -- open deals expected to close by the quarter's end (overdue: on $as_of)
    SELECT d.rep_id, sum(d.amount * s.probability) AS forecast
    FROM deal d CROSS JOIN q LEFT JOIN stages s USING (stage_id)
    WHERE (d.closed IS NULL OR NOT d.closed) AND d.close_on <= q.last
    GROUP BY ALL
),
won AS (  -- won since the quarter's first local day
    SELECT d.rep_id, sum(d.amount) AS won
    FROM deal d CROSS JOIN q
    WHERE d.won AND d.closed_at >= q.start_at
    GROUP BY ALL
),
grain AS (  -- months of the finest grain the won_revenue targets use
    SELECT CASE WHEN bool_or(period_grain = 'month') THEN 1 WHEN bool_or(period_grain = 'quarter') THEN 3
                WHEN bool_or(period_grain = 'year') THEN 12 END AS months
    FROM targets WHERE kpi_id = 'won_revenue'
),
target_in AS (
    SELECT t.rep_id, t.team_id, t.period_start, t.value,
           CASE t.period_grain WHEN 'month' THEN 1 WHEN 'quarter' THEN 3 ELSE 12 END AS months
    FROM targets t WHERE t.kpi_id = 'won_revenue' AND t.period_grain IN ('month', 'quarter', 'year')
),
target_row AS (  -- each target at that grain, with its precedence
    SELECT t.rep_id, t.team_id, t.period_start AS period, t.value, 0 AS prio
    FROM target_in t, grain g WHERE t.months = g.months
    UNION ALL
    SELECT t.rep_id, t.team_id,
           (date_trunc(CASE g.months WHEN 3 THEN 'quarter' ELSE 'year' END,
                       t.period_start - to_months($fiscal_shift)) + to_months($fiscal_shift))::DATE,
           t.value, 1
    FROM target_in t, grain g WHERE t.months < g.months
    UNION ALL
    SELECT t.rep_id, t.team_id, (t.period_start + to_months(g.months * k.range))::DATE,
           t.value / (t.months // g.months), 2
    FROM target_in t, grain g, range(12) k WHERE t.months > g.months AND k.range < t.months // g.months
),
quota AS (  -- the reps' targets of the quarter's periods started by $as_of
    SELECT rep_id, sum(value) AS quota
    FROM (SELECT * FROM target_row QUALIFY prio = min(prio) OVER (PARTITION BY rep_id, team_id, period)), q
    WHERE rep_id IS NOT NULL AND period >= q.start AND period <= q.last AND period <= $as_of
    GROUP BY ALL
),
spine AS (
    SELECT rep_id FROM forecast UNION SELECT rep_id FROM won UNION SELECT rep_id FROM quota
    UNION
    SELECT rep_id FROM reps
    WHERE (hired_on IS NULL OR hired_on <= $as_of) AND (left_on IS NULL OR left_on >= $as_of)
)
SELECT s.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       coalesce(f.forecast, 0) AS numerator,
       qu.quota - coalesce(w.won, 0) AS denominator,
       CASE WHEN denominator > 0 THEN numerator / denominator END AS value
FROM spine s
LEFT JOIN forecast f ON f.rep_id IS NOT DISTINCT FROM s.rep_id
LEFT JOIN won w ON w.rep_id IS NOT DISTINCT FROM s.rep_id
LEFT JOIN quota qu ON qu.rep_id IS NOT DISTINCT FROM s.rep_id
LEFT JOIN reps r ON r.rep_id = s.rep_id
