-- first_response_sla_share by rep (the lead's owner as known at $as_of): of the SQLs
-- answered (the owner's first outbound call, e-mail or meeting on the lead; one before the
-- SQL date counts as 0 hours) or unanswered for more than $sla_hours business hours by
-- then, the share answered within $sla_hours business hours. When no lead is an SQL by
-- then, every lead counts, from its creation. Business hours: $day_start_hour to
-- $day_end_hour local time on the weekdays $business_days (Monday = 0), from a generated
-- calendar of business days with the business seconds before each, found by ASOF joins.
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
resp AS (  -- answered_at null: unanswered
    SELECT q.rep_id, q.asked_at,
           CASE WHEN f.at IS NOT NULL THEN greatest(f.at, q.asked_at) END AS answered_at,
           coalesce(answered_at, cut.at) AS until
    FROM asked q CROSS JOIN cut LEFT JOIN first_out f ON f.lead_id = q.lead_id AND f.rep_id = q.rep_id
),
day AS (  -- business days, with their opening hours as UTC instants
    SELECT timezone('UTC', timezone($tz, d + to_hours($day_start_hour::INTEGER))) AS open_at,
           timezone('UTC', timezone($tz, d + to_hours($day_end_hour::INTEGER))) AS close_at
    FROM generate_series((SELECT min(created_at) FROM leads)::DATE - 7, $as_of::DATE + 7,
                         INTERVAL 1 DAY) g(d)
    WHERE list_contains($business_days, isodow(d) - 1)
),
cal AS (  -- business seconds before each opening
    SELECT open_at, close_at,
           sum(epoch(close_at) - epoch(open_at)) OVER (ORDER BY open_at)
               - (epoch(close_at) - epoch(open_at)) AS before
    FROM day
),
from_s AS (  -- business seconds up to the start
    SELECT r.*, coalesce(c.before + epoch(least(r.asked_at, c.close_at)) - epoch(c.open_at), 0) AS s
    FROM resp r ASOF LEFT JOIN cal c ON r.asked_at >= c.open_at
),
bh AS (  -- ... and up to the answer or, unanswered, to the cutoff
    SELECT f.rep_id,
           f.answered_at IS NOT NULL AS answered,
           (coalesce(c.before + epoch(least(f.until, c.close_at)) - epoch(c.open_at), 0) - f.s) / 3600.0 AS hours
    FROM from_s f ASOF LEFT JOIN cal c ON f.until >= c.open_at
),
n AS (  -- the figures per rep, then the rep's name
    SELECT x.rep_id AS rep,
           count(*) FILTER (WHERE x.answered AND x.hours <= $sla_hours)::DOUBLE AS numerator,
           count(*) FILTER (WHERE x.answered OR x.hours > $sla_hours)::DOUBLE AS denominator,
           numerator / nullif(denominator, 0) AS value
    FROM bh x
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
