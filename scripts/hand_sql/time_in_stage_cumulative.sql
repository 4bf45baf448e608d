-- time_in_stage_cumulative by stage, as of $as_of: per deal and open stage, the total days
-- of all its visits (re-entries added up), for deals no longer in that stage; the mean of
-- those totals.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
visit AS (
    SELECT h.deal_id, h.stage_id, h.entered_at,
           lead(h.entered_at) OVER (PARTITION BY h.deal_id ORDER BY h.entered_at, h.stage_id) AS left_at
    FROM deal_stage_history h, cut
    WHERE h.entered_at < cut.at
),
per_deal AS (  -- (deal, open stage) the deal has left: total days there
    SELECT v.deal_id, v.stage_id,
           sum((epoch(v.left_at) - epoch(v.entered_at)) / 86400.0) AS total_days
    FROM visit v JOIN stages s USING (stage_id) JOIN deals d USING (deal_id), cut
    WHERE NOT s.is_closed AND d.created_at < cut.at
    GROUP BY ALL
    HAVING bool_and(v.left_at IS NOT NULL)
)
SELECT p.stage_id AS stage, s.name AS stage_name,
       sum(p.total_days) AS numerator,
       count(*)::DOUBLE AS denominator,
       numerator / denominator AS value
FROM per_deal p JOIN stages s USING (stage_id)
GROUP BY ALL
