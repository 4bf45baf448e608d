-- stage_win_rate by stage, as of $as_of: of the deals that entered an open stage, the
-- share won of those decided (closed) by then; a deal's state is its last stage entry
-- before the cutoff.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
known AS (
    SELECT h.deal_id, h.stage_id, h.entered_at
    FROM deal_stage_history h JOIN deals d USING (deal_id), cut
    WHERE h.entered_at < cut.at AND d.created_at < cut.at
),
last_stage AS (  -- each deal's state at the cutoff
    SELECT k.deal_id, s.is_closed, s.is_won
    FROM known k JOIN stages s USING (stage_id)
    QUALIFY row_number() OVER (PARTITION BY k.deal_id ORDER BY k.entered_at DESC, k.stage_id DESC) = 1
),
entered AS (  -- (deal, open stage) it entered
    SELECT DISTINCT k.deal_id, k.stage_id
    FROM known k JOIN stages s USING (stage_id)
    WHERE NOT s.is_closed
)
SELECT e.stage_id AS stage, s.name AS stage_name,
       count(*) FILTER (WHERE l.is_closed AND l.is_won)::DOUBLE AS numerator,
       count(*) FILTER (WHERE l.is_closed)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM entered e JOIN last_stage l USING (deal_id) JOIN stages s ON s.stage_id = e.stage_id
GROUP BY ALL
