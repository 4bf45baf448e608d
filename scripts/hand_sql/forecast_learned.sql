-- forecast_learned by month, as of $as_of: as forecast, with each stage's win probability
-- learned from history: of the deals that entered the stage (an open one) by the end of
-- that local day and are closed then, the share won (at least 10 such deals; else the
-- configured probability). Σ amount (reporting currency) × that probability over the deals
-- open then, in the month of their expected close date (overdue or missing: $as_of).
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
visit AS (  -- stage entries before the cutoff, the last one of each deal marked
    SELECT h.deal_id, h.stage_id, s.is_closed, s.is_won,
           row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1 AS is_last
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
),
rate AS (
    SELECT currency, arg_max(rate, valid_from) AS rate
    FROM currency_rates WHERE valid_from <= $as_of GROUP BY currency
),
deal AS (  -- deals created by the cutoff, in their state then
    SELECT d.deal_id,
           coalesce(v.stage_id, d.stage_id) AS stage_id,
           CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed ELSE coalesce(d.closed_at < cut.at, false) END AS closed,
           CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed AND v.is_won
                ELSE coalesce(d.closed_at < cut.at AND d.outcome = 'won', false) END AS won,
           greatest(coalesce(d.expected_close_on, $as_of::DATE), $as_of::DATE) AS close_on,
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
)
SELECT date_trunc('month', d.close_on)::DATE AS period,
       sum(d.amount * coalesce(l.p, s.probability)) AS value
FROM deal d LEFT JOIN learned l USING (stage_id) LEFT JOIN stages s USING (stage_id)
WHERE NOT d.closed
GROUP BY ALL
