-- activities by rep and activity type, as of $as_of: calls, e-mails, meetings, tasks and
-- notes logged by then.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
n AS (  -- the figures per rep, then the rep's name
    SELECT a.rep_id AS rep, a.activity_type,
           count(*)::DOUBLE AS value
    FROM activities a, cut
    WHERE a.occurred_at < cut.at
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
