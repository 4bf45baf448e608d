-- sql_to_deal_rate by channel (empty: 'not_set'), as of $as_of: of the leads created by
-- then that became SQL by then, the share with a deal (created by then).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
with_deal AS (
    SELECT DISTINCT d.lead_id FROM deals d, cut
    WHERE d.created_at < cut.at AND d.lead_id IS NOT NULL
),
funnel AS (
    SELECT l.channel, l.sql_at, w.lead_id IS NOT NULL AS has_deal
    FROM leads l CROSS JOIN cut LEFT JOIN with_deal w USING (lead_id)
    WHERE l.created_at < cut.at
)
SELECT coalesce(f.channel, 'not_set') AS channel,
       count(*) FILTER (WHERE f.sql_at < cut.at AND f.has_deal)::DOUBLE AS numerator,
       count(*) FILTER (WHERE f.sql_at < cut.at)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM funnel f, cut
GROUP BY ALL
