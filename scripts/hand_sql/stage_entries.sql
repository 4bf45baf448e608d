-- stage_entries by stage and month, as of $as_of: deals entering an open stage for the
-- first time, counted in the (local) month of that first entry.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
first_entry AS (  -- (deal, open stage) → first entry
    SELECT h.deal_id, h.stage_id, min(h.entered_at) AS first_at
    FROM deal_stage_history h JOIN stages s USING (stage_id)
    JOIN deals d USING (deal_id), cut
    WHERE h.entered_at < cut.at AND d.created_at < cut.at AND NOT s.is_closed
    GROUP BY ALL
)
SELECT date_trunc('month', timezone($tz, timezone('UTC', e.first_at)))::DATE AS period,
       e.stage_id AS stage, s.name AS stage_name,
       count(*)::DOUBLE AS value
FROM first_entry e JOIN stages s USING (stage_id)
GROUP BY ALL
