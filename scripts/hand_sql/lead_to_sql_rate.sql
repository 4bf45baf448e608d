-- lead_to_sql_rate by channel (empty: 'not_set'), as of $as_of: of the leads created by
-- then, the share that became SQL by then.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
funnel AS (SELECT l.channel, l.sql_at FROM leads l, cut WHERE l.created_at < cut.at)
SELECT coalesce(f.channel, 'not_set') AS channel,
       count(*) FILTER (WHERE f.sql_at < cut.at)::DOUBLE AS numerator,
       count(*)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM funnel f, cut
GROUP BY ALL
