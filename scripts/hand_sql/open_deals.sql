-- open_deals by rep and stage, as of $as_of: the number of deals open at the end of that
-- local day, in their stage then.
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
last_visit AS (  -- each deal's last stage entry before the cutoff
    SELECT h.deal_id, h.stage_id, s.is_closed
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
open AS (  -- open at the cutoff (no history: created and not yet closed)
    SELECT d.owner_rep_id AS rep_id, coalesce(v.stage_id, d.stage_id) AS stage_id
    FROM deals d CROSS JOIN cut
    LEFT JOIN last_visit v USING (deal_id)
    WHERE d.created_at < cut.at
      AND CASE WHEN v.deal_id IS NOT NULL THEN NOT v.is_closed
               ELSE d.closed_at IS NULL OR d.closed_at >= cut.at END
)
SELECT o.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       o.stage_id AS stage, s.name AS stage_name,
       count(*)::DOUBLE AS value
FROM open o LEFT JOIN reps r USING (rep_id) LEFT JOIN stages s USING (stage_id)
GROUP BY ALL
