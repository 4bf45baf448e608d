-- time_in_stage_p90 by stage, as of $as_of: the 90th percentile (interpolated, as
-- quantile_cont) of the days of the visits of open stages that ended by then (a visit
-- lasts until the deal's next stage entry).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
visit AS (
    SELECT h.deal_id, h.stage_id, h.entered_at,
           lead(h.entered_at) OVER (PARTITION BY h.deal_id ORDER BY h.entered_at, h.stage_id) AS left_at
    FROM deal_stage_history h, cut
    WHERE h.entered_at < cut.at
)
SELECT v.stage_id AS stage, s.name AS stage_name,
       quantile_cont((epoch(v.left_at) - epoch(v.entered_at)) / 86400.0, 0.9) AS value
FROM visit v JOIN stages s USING (stage_id) JOIN deals d USING (deal_id), cut
WHERE NOT s.is_closed AND v.left_at IS NOT NULL AND d.created_at < cut.at
GROUP BY ALL
