-- tasks_overdue by rep, as of $as_of: tasks logged by then, due before then and not
-- completed by then, of reps who had not left before $as_of.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
)
SELECT a.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*)::DOUBLE AS value
FROM activities a CROSS JOIN cut LEFT JOIN reps r USING (rep_id)
WHERE a.occurred_at < cut.at AND a.activity_type = 'task'
  AND a.due_at < cut.at AND (a.completed_at IS NULL OR a.completed_at >= cut.at)
  AND (r.left_on IS NULL OR r.left_on >= $as_of)
GROUP BY ALL
