-- avg_sales_cycle by product, as of $as_of: the mean days from creation to won of the
-- deals won by then (numerator: the days summed, denominator: the deals).
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
last_visit AS (  -- each deal's last stage entry before the cutoff
    SELECT h.deal_id, h.entered_at, s.is_closed, s.is_won
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
won AS (  -- won by the cutoff: last stage is a won stage (no history: the deal's columns)
    SELECT d.product_id,
           (epoch(coalesce(v.entered_at, d.closed_at)) - epoch(d.created_at)) / 86400.0 AS days
    FROM deals d CROSS JOIN cut
    LEFT JOIN last_visit v USING (deal_id)
    WHERE d.created_at < cut.at
      AND CASE WHEN v.deal_id IS NOT NULL THEN v.is_closed AND v.is_won
               ELSE d.closed_at < cut.at AND d.outcome = 'won' END
)
SELECT w.product_id AS product, p.name AS product_name,
       sum(w.days) AS numerator,
       count(w.days)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM won w LEFT JOIN products p USING (product_id)
GROUP BY ALL
