-- stage_skip_share by rep (deal owner), as of $as_of: of the deals that went beyond a
-- required stage (first entry of a later stage; won counts, lost does not), the share that
-- had not entered that stage first. Required: the open stages a pipeline marks
-- is_required, or all its open stages when it marks none.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
required AS (
    SELECT pipeline_id, stage_id AS r_stage, stage_order AS r_order
    FROM stages
    WHERE NOT is_closed
    QUALIFY coalesce(is_required, false)
         OR NOT bool_or(coalesce(is_required, false)) OVER (PARTITION BY pipeline_id)
),
first_entry AS (  -- (deal, stage) → first entry, lost stages left out
    SELECT h.deal_id, h.stage_id, s.pipeline_id, s.stage_order, min(h.entered_at) AS first_at
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at AND (NOT s.is_closed OR s.is_won)
    GROUP BY ALL
),
per_required AS (  -- (deal, required stage it went beyond): when beyond, when entered
    SELECT e.deal_id,
           min(e.first_at) FILTER (WHERE e.stage_order > r.r_order) AS beyond_at,
           min(e.first_at) FILTER (WHERE e.stage_id = r.r_stage) AS req_at
    FROM first_entry e JOIN required r USING (pipeline_id)
    GROUP BY e.deal_id, r.r_stage
    HAVING beyond_at IS NOT NULL
),
per_deal AS (
    SELECT deal_id, bool_or(req_at IS NULL OR req_at > beyond_at) AS skipped
    FROM per_required GROUP BY deal_id
)
SELECT d.owner_rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*) FILTER (WHERE p.skipped)::DOUBLE AS numerator,
       count(*)::DOUBLE AS denominator,
       numerator / denominator AS value
FROM per_deal p JOIN deals d USING (deal_id) LEFT JOIN reps r ON r.rep_id = d.owner_rep_id, cut
WHERE d.created_at < cut.at
GROUP BY ALL
