-- email_only_late_share by rep, as of $as_of: of the deals open or lost at the end of that
-- local day that had reached one of the last two open stages of their pipeline by then,
-- the share (numerator / denominator) that had no call and no meeting while in those
-- stages (e-mail only, or no contact).
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
late AS (  -- the last two open stages of each pipeline
    SELECT stage_id FROM stages WHERE NOT is_closed
    QUALIFY row_number() OVER (PARTITION BY pipeline_id ORDER BY stage_order DESC) <= 2
),
visit AS (  -- stage entries before the cutoff, with when the visit ended (null: still there)
    SELECT h.deal_id, h.stage_id, h.entered_at,
           lead(h.entered_at) OVER (PARTITION BY h.deal_id ORDER BY h.entered_at, h.stage_id) AS left_at
    FROM deal_stage_history h, cut
    WHERE h.entered_at < cut.at
),
late_visit AS (SELECT v.* FROM visit v JOIN late USING (stage_id)),
talked AS (  -- deals with a call or meeting during one of their late-stage visits
    SELECT DISTINCT v.deal_id
    FROM late_visit v JOIN activities a ON a.deal_id = v.deal_id, cut
    WHERE a.activity_type IN ('call', 'meeting') AND a.occurred_at < cut.at
      AND a.occurred_at >= v.entered_at AND (v.left_at IS NULL OR a.occurred_at < v.left_at)
),
late_deal AS (  -- deals that reached a late stage and are not won at the cutoff
    SELECT d.owner_rep_id AS rep_id, t.deal_id IS NOT NULL AS talked
    FROM (SELECT DISTINCT deal_id FROM late_visit) l
    JOIN deals d USING (deal_id)
    JOIN (SELECT v.deal_id, s.is_closed, s.is_won FROM visit v JOIN stages s USING (stage_id)
          WHERE v.left_at IS NULL) c USING (deal_id)
    LEFT JOIN talked t USING (deal_id), cut
    WHERE d.created_at < cut.at AND NOT (c.is_closed AND c.is_won)
)
SELECT l.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*) FILTER (WHERE NOT l.talked)::DOUBLE AS numerator,
       count(*)::DOUBLE AS denominator,
       numerator / denominator AS value
FROM late_deal l LEFT JOIN reps r USING (rep_id)
GROUP BY ALL
