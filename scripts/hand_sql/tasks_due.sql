-- tasks_due by rep, as of $as_of: tasks logged by then that have a due time (whenever it
-- falls), completed or not.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
)
SELECT a.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*)::DOUBLE AS value
FROM activities a CROSS JOIN cut LEFT JOIN reps r USING (rep_id)
WHERE a.occurred_at < cut.at AND a.activity_type = 'task' AND a.due_at IS NOT NULL
GROUP BY ALL
