-- deals_not_updated by rep, as of $as_of: of the deals open at the end of that local day,
-- those whose last stage change or deal activity before then (none: their creation) is
-- more than $not_updated_days days before it. Every rep with an open deal appears.
WITH cut AS (  -- end of local day $as_of, in UTC
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
last_visit AS (  -- each deal's last stage entry before the cutoff
    SELECT h.deal_id, h.entered_at, s.is_closed
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
last_activity AS (
    SELECT a.deal_id, max(a.occurred_at) AS at
    FROM activities a, cut
    WHERE a.deal_id IS NOT NULL AND a.occurred_at < cut.at
    GROUP BY ALL
),
open AS (  -- open at the cutoff (no history: created and not yet closed)
    SELECT d.owner_rep_id AS rep_id,
           coalesce(greatest(v.entered_at, a.at), d.created_at) AS touched_at
    FROM deals d CROSS JOIN cut
    LEFT JOIN last_visit v USING (deal_id)
    LEFT JOIN last_activity a USING (deal_id)
    WHERE d.created_at < cut.at
      AND CASE WHEN v.deal_id IS NOT NULL THEN NOT v.is_closed
               ELSE d.closed_at IS NULL OR d.closed_at >= cut.at END
)
SELECT o.rep_id AS rep, r.name AS rep_name, r.left_on AS rep_left_on,
       count(*) FILTER (
           WHERE (epoch(cut.at) - epoch(o.touched_at)) / 86400.0 > $not_updated_days
       )::DOUBLE AS value
FROM open o CROSS JOIN cut LEFT JOIN reps r USING (rep_id)
GROUP BY ALL
