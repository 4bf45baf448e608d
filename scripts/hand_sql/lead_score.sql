-- lead_score by rep (the owner as known at $as_of), as of $as_of: mean rule-based score of
-- the active leads (created, not disqualified and without a deal by then), with the
-- built-in rules (src/salespulse/semantic/rules/lead_score.toml, the default of the
-- setting lead_score_rules) written out here: profile points for industry (the account's,
-- else the lead's), company size, job title and channel, plus action points for replies,
-- connected calls and held meetings logged on the lead by then, each capped. Another
-- rules file would need another query.
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
with_deal AS (
    SELECT DISTINCT d.lead_id FROM deals d, cut
    WHERE d.created_at < cut.at AND d.lead_id IS NOT NULL
),
event AS (
    SELECT a.lead_id,
           count(*) FILTER (WHERE (a.direction = 'inbound' AND a.activity_type = 'email')
                                  OR a.outcome = 'replied') AS replied,
           count(*) FILTER (WHERE a.activity_type = 'call' AND a.outcome = 'connected') AS call_connected,
           count(*) FILTER (WHERE a.activity_type = 'meeting' AND a.outcome = 'held') AS meeting_held
    FROM activities a, cut
    WHERE a.occurred_at < cut.at AND a.lead_id IS NOT NULL
    GROUP BY a.lead_id
),
active AS (
    SELECT l.lead_id,
           CASE WHEN l.assigned_at IS NULL OR l.assigned_at < cut.at THEN l.owner_rep_id END AS rep_id,
           coalesce(c.industry, l.industry) AS industry,
           coalesce(c.employees, l.employees) AS employees,
           lower(l.job_title) AS job_title,
           coalesce(l.channel, 'not_set') AS channel
    FROM leads l CROSS JOIN cut LEFT JOIN accounts c USING (account_id)
    WHERE l.created_at < cut.at
      AND (l.disqualified_at IS NULL OR l.disqualified_at >= cut.at)
      AND l.lead_id NOT IN (SELECT lead_id FROM with_deal)
),
scored AS (
    SELECT l.rep_id,
           CASE WHEN l.industry IN ('Metalworking', 'Machine building', 'Automotive', 'Food & beverage')
                THEN 10 ELSE 0 END
         + CASE WHEN l.employees >= 50 THEN 10 ELSE 0 END
         + CASE WHEN l.employees >= 250 THEN 10 ELSE 0 END
         + CASE WHEN contains(l.job_title, 'director') OR contains(l.job_title, 'owner')
                  OR contains(l.job_title, 'manager') OR contains(l.job_title, 'cfo')
                THEN 10 ELSE 0 END
         + CASE WHEN l.channel IN ('referral', 'trade_fair', 'phone') THEN 15 ELSE 0 END
         + 10 * least(coalesce(e.replied, 0), 3)
         + 15 * least(coalesce(e.call_connected, 0), 2)
         + 25 * least(coalesce(e.meeting_held, 0), 2) AS score
    FROM active l LEFT JOIN event e USING (lead_id)
),
n AS (  -- the figures per rep, then the rep's name
    SELECT s.rep_id AS rep,
           sum(s.score)::DOUBLE AS numerator,
           count(*)::DOUBLE AS denominator,
           numerator / denominator AS value
    FROM scored s
    GROUP BY ALL
)
SELECT n.*, r.name AS rep_name, r.left_on AS rep_left_on
FROM n LEFT JOIN reps r ON r.rep_id = n.rep
