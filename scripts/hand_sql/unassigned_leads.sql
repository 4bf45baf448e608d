-- unassigned_leads by channel (empty: 'not_set'), as of $as_of: active leads (created, not
-- disqualified and without a deal by then) that have no owner by then. Every channel with
-- an active lead appears (0 when all have an owner).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
with_deal AS (
    SELECT DISTINCT d.lead_id FROM deals d, cut
    WHERE d.created_at < cut.at AND d.lead_id IS NOT NULL
)
SELECT coalesce(l.channel, 'not_set') AS channel,
       count(*) FILTER (
           WHERE l.owner_rep_id IS NULL OR l.assigned_at >= cut.at
       )::DOUBLE AS value
FROM leads l CROSS JOIN cut
WHERE l.created_at < cut.at
  AND (l.disqualified_at IS NULL OR l.disqualified_at >= cut.at)
  AND l.lead_id NOT IN (SELECT lead_id FROM with_deal)
GROUP BY ALL
