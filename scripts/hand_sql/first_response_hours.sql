-- first_response_hours by rep (the lead's owner as known at $as_of): mean clock hours from
-- a lead becoming SQL to its owner's first outbound call, e-mail or meeting on it (one
-- before the SQL date counts as 0 hours; unanswered leads are left out). When no lead is
-- an SQL by then, every lead counts, from its creation.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
lead AS (
    SELECT l.lead_id,
           CASE WHEN l.owner_rep_id IS NOT NULL
                 AND (l.assigned_at IS NULL OR l.assigned_at < cut.at)
                THEN l.owner_rep_id END AS rep_id,
           CASE WHEN l.sql_at < cut.at THEN l.sql_at END AS sql_at,
           l.created_at
    FROM leads l, cut
    WHERE l.created_at < cut.at
),
lifecycle AS (SELECT bool_or(sql_at IS NOT NULL) AS has_sqls FROM lead),
asked AS (
    SELECT lead_id, rep_id, CASE WHEN has_sqls THEN sql_at ELSE created_at END AS asked_at
    FROM lead, lifecycle
    WHERE sql_at IS NOT NULL OR NOT has_sqls
),
first_out AS (  -- the first outbound touch on a lead, by the rep who owns it
    SELECT a.lead_id, a.rep_id, min(a.occurred_at) AS at
    FROM activities a, cut
    WHERE a.occurred_at < cut.at AND a.lead_id IS NOT NULL
      AND coalesce(a.direction, 'outbound') = 'outbound'
      AND a.activity_type IN ('call', 'email', 'meeting')
    GROUP BY a.lead_id, a.rep_id
),
resp AS (
    SELECT q.rep_id,
           CASE WHEN f.at IS NOT NULL THEN
               (epoch(greatest(f.at, q.asked_at)) - epoch(q.asked_at)) / 3600.0
           END AS hours  -- null: unanswered (greatest() skips nulls)
    FROM asked q LEFT JOIN first_out f ON f.lead_id = q.lead_id AND f.rep_id = q.rep_id
)
SELECT x.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       sum(x.hours) AS numerator,
       count(x.hours)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM resp x LEFT JOIN reps r USING (rep_id)
GROUP BY ALL
