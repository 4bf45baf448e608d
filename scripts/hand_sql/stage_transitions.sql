-- stage_transitions by from_stage and stage, as of $as_of: every stage entry after a
-- deal's first (backward moves and closing included), from the stage it was in before.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
move AS (
    SELECT h.deal_id, h.stage_id,
           lag(h.stage_id) OVER (PARTITION BY h.deal_id ORDER BY h.entered_at, h.stage_id) AS from_stage_id
    FROM deal_stage_history h, cut
    WHERE h.entered_at < cut.at
)
SELECT m.from_stage_id AS from_stage, f.name AS from_stage_name,
       m.stage_id AS stage, s.name AS stage_name,
       count(*)::DOUBLE AS value
FROM move m JOIN deals d USING (deal_id)
JOIN stages s ON s.stage_id = m.stage_id
JOIN stages f ON f.stage_id = m.from_stage_id, cut
WHERE m.from_stage_id IS NOT NULL AND d.created_at < cut.at
GROUP BY ALL
