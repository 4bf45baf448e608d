-- tasks_completed_share by rep, as of $as_of: of the tasks logged by then that have a due
-- time, the share completed by then.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
n AS (  -- the figures per rep, then the rep's name
    SELECT a.rep_id AS rep,
           count(*) FILTER (WHERE a.completed_at < cut.at)::DOUBLE AS numerator,
           count(*)::DOUBLE AS denominator,
           numerator / denominator AS value
    FROM activities a, cut
    WHERE a.occurred_at < cut.at AND a.activity_type = 'task' AND a.due_at IS NOT NULL
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
