-- forecast_learned_timing by month, as of $as_of: as forecast_learned (the stage's win
-- probability learned from history), but each deal open at the end of that local day is
-- placed at the date history implies: when it entered its current stage (no history: its
-- creation) + the median days from entering that stage to won of the deals of the same
-- product won by then (rounded to whole days; UTC date), else its expected close date,
-- never before $as_of.
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
visit AS (  -- stage entries before the cutoff, the last one of each deal marked
    SELECT h.deal_id, h.stage_id, h.entered_at, s.is_closed, s.is_won,
           row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1 AS is_last
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
),
rate AS (
    SELECT currency, arg_max(rate, valid_from) AS rate
    FROM currency_rates WHERE valid_from <= $as_of GROUP BY currency
),
deal AS (  -- deals created by the cutoff, in their state then
    SELECT d.deal_id, d.product_id,
           coalesce(v.stage_id, d.stage_id) AS stage_id,
           coalesce(v.entered_at, d.created_at) AS stage_since,
           d.expected_close_on,
           CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed ELSE coalesce(d.closed_at < cut.at, false) END AS closed,
           CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed AND v.is_won
                ELSE coalesce(d.closed_at < cut.at AND d.outcome = 'won', false) END AS won,
           coalesce(v.entered_at, d.closed_at) AS closed_at,
           CASE WHEN d.currency IS NULL OR d.currency = $currency THEN d.amount
                ELSE d.amount * r.rate END AS amount
    FROM deals d CROSS JOIN cut
    LEFT JOIN (SELECT * FROM visit WHERE is_last) v USING (deal_id)
    LEFT JOIN rate r ON r.currency = d.currency
    WHERE d.created_at < cut.at
),
learned AS (  -- per open stage: the share won of the closed deals that entered it
    SELECT e.stage_id,
           CASE WHEN count(*) >= 10 THEN count(*) FILTER (WHERE d.won)::DOUBLE / count(*) END AS p
    FROM (SELECT DISTINCT deal_id, stage_id FROM visit WHERE NOT is_closed) e
    JOIN deal d USING (deal_id)
    WHERE d.closed
    GROUP BY ALL
),
timing AS (  -- per open stage and product: median days from entering the stage to won
    SELECT v.stage_id, d.product_id,
           quantile_cont((epoch(d.closed_at) - epoch(v.entered_at)) / 86400.0, 0.5) AS days
    FROM visit v JOIN deal d USING (deal_id)
    WHERE NOT v.is_closed AND d.won
    GROUP BY ALL
)
SELECT date_trunc('month', greatest(coalesce((d.stage_since + to_days(round(t.days)::BIGINT))::DATE,
                                             d.expected_close_on, $as_of::DATE), $as_of::DATE))::DATE AS period,
       sum(d.amount * coalesce(l.p, s.probability)) AS value
FROM deal d
LEFT JOIN learned l USING (stage_id)
LEFT JOIN timing t ON t.stage_id = d.stage_id AND t.product_id = d.product_id
LEFT JOIN stages s ON s.stage_id = d.stage_id
WHERE NOT d.closed
GROUP BY ALL
