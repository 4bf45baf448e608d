-- lead_to_won_rate by channel (empty: 'not_set'), as of $as_of: of the leads created by
-- then, the share with a deal won by then (the deal's last stage entry before then, or
-- without history its own outcome).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
last_visit AS (
    SELECT h.deal_id, s.is_won
    FROM deal_stage_history h JOIN stages s USING (stage_id), cut
    WHERE h.entered_at < cut.at
    QUALIFY row_number() OVER (PARTITION BY h.deal_id ORDER BY h.entered_at DESC, h.stage_id DESC) = 1
),
lead_deal AS (
    SELECT d.lead_id, bool_or(CASE WHEN v.deal_id IS NOT NULL THEN v.is_won
                                   ELSE d.closed_at < cut.at AND d.outcome = 'won' END) AS has_won
    FROM deals d CROSS JOIN cut LEFT JOIN last_visit v USING (deal_id)
    WHERE d.created_at < cut.at AND d.lead_id IS NOT NULL
    GROUP BY d.lead_id
),
funnel AS (
    SELECT l.channel, coalesce(d.has_won, false) AS has_won
    FROM leads l CROSS JOIN cut LEFT JOIN lead_deal d USING (lead_id)
    WHERE l.created_at < cut.at
)
SELECT coalesce(f.channel, 'not_set') AS channel,
       count(*) FILTER (WHERE f.has_won)::DOUBLE AS numerator,
       count(*)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM funnel f
GROUP BY ALL
