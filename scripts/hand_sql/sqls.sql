-- sqls by local month of the SQL date and channel, as of $as_of: leads that became
-- sales-qualified (an empty channel is 'not_set').
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
)
SELECT date_trunc('month', timezone($tz, timezone('UTC', l.sql_at)))::DATE AS period,
       coalesce(l.channel, 'not_set') AS channel,
       count(*)::DOUBLE AS value
FROM leads l, cut
WHERE l.created_at < cut.at AND l.sql_at < cut.at
GROUP BY ALL
