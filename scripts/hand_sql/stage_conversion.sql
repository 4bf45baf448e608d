-- stage_conversion by stage, as of $as_of: of the deals that entered an open stage (first
-- entry), the share that entered a later stage (higher order; won counts, lost does not)
-- at or after that first entry.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
first_entry AS (  -- (deal, stage) → first entry, lost stages left out
    SELECT h.deal_id, h.stage_id, s.stage_order, s.is_closed, min(h.entered_at) AS first_at
    FROM deal_stage_history h JOIN stages s USING (stage_id)
    JOIN deals d USING (deal_id), cut
    WHERE h.entered_at < cut.at AND d.created_at < cut.at AND (NOT s.is_closed OR s.is_won)
    GROUP BY ALL
)
SELECT e.stage_id AS stage, s.name AS stage_name,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM first_entry l
           WHERE l.deal_id = e.deal_id AND l.stage_order > e.stage_order
             AND l.first_at >= e.first_at))::DOUBLE AS numerator,
       count(*)::DOUBLE AS denominator,
       numerator / denominator AS value
FROM first_entry e JOIN stages s USING (stage_id)
WHERE NOT e.is_closed
GROUP BY ALL
