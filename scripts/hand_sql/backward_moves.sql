-- backward_moves by rep (deal owner), as of $as_of: stage entries to a stage of lower
-- order than the one the deal was in. Every rep whose deals moved appears (0 when none
-- moved back).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
move AS (
    SELECT h.deal_id, s.stage_order,
           lag(s.stage_order) OVER (PARTITION BY h.deal_id ORDER BY h.entered_at, h.stage_id) AS from_order,
           row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at, h.stage_id) AS visit
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
)
SELECT d.owner_rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*) FILTER (WHERE m.stage_order < m.from_order)::DOUBLE AS value
FROM move m JOIN deals d USING (deal_id) LEFT JOIN reps r ON r.rep_id = d.owner_rep_id, cut
WHERE m.visit > 1 AND d.created_at < cut.at
GROUP BY ALL
