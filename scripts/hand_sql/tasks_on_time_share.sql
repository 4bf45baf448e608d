-- tasks_on_time_share by rep, as of $as_of: of the tasks logged by then that were
-- completed by then or whose due time has passed, the share completed by their due time.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
)
SELECT a.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*) FILTER (WHERE a.completed_at < cut.at AND a.completed_at <= a.due_at)::DOUBLE AS numerator,
       count(*) FILTER (WHERE a.completed_at < cut.at OR a.due_at < cut.at)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM activities a CROSS JOIN cut LEFT JOIN reps r USING (rep_id)
WHERE a.occurred_at < cut.at AND a.activity_type = 'task' AND a.due_at IS NOT NULL
GROUP BY ALL
