-- sql_followup_share by local month of the SQL date, as of $as_of: of the leads that
-- became sales-qualified, the share whose owner (as known then) made an outbound call,
-- e-mail or meeting on the lead by then (before or after the SQL date).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
sql_lead AS (
    SELECT l.lead_id, l.sql_at,
           CASE WHEN l.assigned_at IS NULL OR l.assigned_at < cut.at THEN l.owner_rep_id END AS rep_id
    FROM leads l, cut
    WHERE l.created_at < cut.at AND l.sql_at < cut.at
),
touched AS (  -- (lead, rep) pairs with an outbound touch by then
    SELECT DISTINCT a.lead_id, a.rep_id
    FROM activities a, cut
    WHERE a.occurred_at < cut.at AND a.lead_id IS NOT NULL
      AND coalesce(a.direction, 'outbound') = 'outbound'
      AND a.activity_type IN ('call', 'email', 'meeting')
)
SELECT date_trunc('month', timezone($tz, timezone('UTC', q.sql_at)))::DATE AS period,
       count(t.lead_id)::DOUBLE AS numerator,
       count(*)::DOUBLE AS denominator,
       numerator / denominator AS value
FROM sql_lead q LEFT JOIN touched t ON t.lead_id = q.lead_id AND t.rep_id = q.rep_id
GROUP BY ALL
