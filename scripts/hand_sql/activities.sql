-- activities by rep and activity type, as of $as_of: calls, e-mails, meetings, tasks and
-- notes logged by then.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
)
SELECT a.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on, a.activity_type,
       count(*)::DOUBLE AS value
FROM activities a CROSS JOIN cut LEFT JOIN reps r USING (rep_id)
WHERE a.occurred_at < cut.at
GROUP BY ALL
