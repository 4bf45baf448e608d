-- tasks_overdue by rep, as of $as_of: tasks logged by then, due before then and not
-- completed by then, of reps who had not left before $as_of.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
n AS (  -- the figures per rep, then the rep's name
    SELECT a.rep_id AS rep,
           count(*)::DOUBLE AS value
    FROM activities a, cut
    WHERE a.occurred_at < cut.at AND a.activity_type = 'task'
      AND a.due_at < cut.at AND (a.completed_at IS NULL OR a.completed_at >= cut.at)
      AND NOT EXISTS (SELECT 1 FROM reps g WHERE g.rep_id = a.rep_id AND g.left_on < $as_of)
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
