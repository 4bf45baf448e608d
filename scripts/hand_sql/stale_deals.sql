-- stale_deals by rep, as of $as_of: open deals longer in their current stage than
-- $stale_factor × the p90 of the completed visits of that stage by deals of the same
-- product (at least $min_history visits), else of the stage, else $default_days days.
-- Every rep with an open deal appears (0 when none is stale).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
visit AS (  -- stage entries before the cutoff, with when the visit ended (null: still there)
    SELECT h.deal_id, h.stage_id, h.entered_at, s.is_closed,
           lead(h.entered_at) OVER (PARTITION BY h.deal_id ORDER BY h.entered_at, h.stage_id) AS left_at
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
),
done AS (  -- completed visits of open stages, with the deal's product
    SELECT v.stage_id, d.product_id, (epoch(v.left_at) - epoch(v.entered_at)) / 86400.0 AS days
    FROM visit v JOIN deals d USING (deal_id), cut
    WHERE NOT v.is_closed AND v.left_at IS NOT NULL AND d.created_at < cut.at
),
by_product AS (
    SELECT stage_id, product_id, quantile_cont(days, 0.9) AS p90
    FROM done GROUP BY ALL HAVING count(*) >= $min_history
),
by_stage AS (
    SELECT stage_id, quantile_cont(days, 0.9) AS p90
    FROM done GROUP BY ALL HAVING count(*) >= $min_history
),
current AS (  -- open deals at the cutoff: their stage and since when
    SELECT d.deal_id, d.owner_rep_id AS rep_id, d.product_id,
           coalesce(v.stage_id, d.stage_id) AS stage_id,
           coalesce(v.entered_at, d.created_at) AS since
    FROM deals d CROSS JOIN cut
    LEFT JOIN (SELECT * FROM visit WHERE left_at IS NULL) v USING (deal_id)
    WHERE d.created_at < cut.at
      AND CASE WHEN v.deal_id IS NOT NULL THEN NOT v.is_closed
               ELSE d.closed_at IS NULL OR d.closed_at >= cut.at END
)
SELECT c.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*) FILTER (
           WHERE (epoch(cut.at) - epoch(c.since)) / 86400.0
                 > coalesce(bp.p90 * $stale_factor, bs.p90 * $stale_factor, $default_days)
       )::DOUBLE AS value
FROM current c CROSS JOIN cut
LEFT JOIN by_product bp ON bp.stage_id = c.stage_id AND bp.product_id = c.product_id
LEFT JOIN by_stage bs ON bs.stage_id = c.stage_id
LEFT JOIN reps r ON r.rep_id = c.rep_id
GROUP BY ALL
