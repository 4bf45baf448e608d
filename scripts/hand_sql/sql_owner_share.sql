-- sql_owner_share by local month of the SQL date, as of $as_of: of the leads that became
-- sales-qualified, the share with an owner (as known then).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
)
SELECT date_trunc('month', timezone($tz, timezone('UTC', l.sql_at)))::DATE AS period,
       count(*) FILTER (
           WHERE l.owner_rep_id IS NOT NULL AND (l.assigned_at IS NULL OR l.assigned_at < cut.at)
       )::DOUBLE AS numerator,
       count(*)::DOUBLE AS denominator,
       numerator / denominator AS value
FROM leads l, cut
WHERE l.created_at < cut.at AND l.sql_at < cut.at
GROUP BY ALL
