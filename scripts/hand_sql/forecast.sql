-- forecast by month, as of $as_of: Σ amount (reporting currency) × the configured win
-- probability of their stage, over the deals open at the end of that local day, in the
-- month of their expected close date (overdue or missing: $as_of).
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
last_visit AS (  -- each deal's last stage entry before the cutoff
    SELECT h.deal_id, h.stage_id, s.is_closed
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
rate AS (
    SELECT currency, arg_max(rate, valid_from) AS rate
    FROM currency_rates WHERE valid_from <= $as_of GROUP BY currency
),
open AS (  -- open at the cutoff (no history: created and not yet closed)
    SELECT coalesce(v.stage_id, d.stage_id) AS stage_id,
           greatest(coalesce(d.expected_close_on, $as_of::DATE), $as_of::DATE) AS close_on,
           CASE WHEN d.currency IS NULL OR d.currency = $currency THEN d.amount
                ELSE d.amount * r.rate END AS amount
    FROM deals d CROSS JOIN cut
    LEFT JOIN last_visit v USING (deal_id)
    LEFT JOIN rate r ON r.currency = d.currency
    WHERE d.created_at < cut.at
      AND CASE WHEN v.deal_id IS NOT NULL THEN NOT v.is_closed
               ELSE d.closed_at IS NULL OR d.closed_at >= cut.at END
)
SELECT date_trunc('month', o.close_on)::DATE AS period,
       sum(o.amount * s.probability) AS value
FROM open o LEFT JOIN stages s USING (stage_id)
GROUP BY ALL
