-- ramp_time by team, as of $as_of: mean whole days from a rep's hire date to the rep's
-- first outbound call, e-mail or meeting with a lead (by then), for the reps hired by
-- $as_of but not before the (UTC) day of the first activity logged by then; reps without
-- such a contact yet are left out of the mean (their team still appears).
WITH cut AS (
    SELECT timezone('UTC', timezone($tz, ($as_of::DATE + 1)::TIMESTAMP)) AS at
),
first_contact AS (
    SELECT a.rep_id, min(a.occurred_at) AS at
    FROM activities a, cut
    WHERE a.occurred_at < cut.at AND a.lead_id IS NOT NULL
      AND coalesce(a.direction, 'outbound') = 'outbound'
      AND a.activity_type IN ('call', 'email', 'meeting')
    GROUP BY a.rep_id
),
ramp AS (
    SELECT r.team_id,
           floor((epoch(f.at) - epoch(r.hired_on::TIMESTAMP)) / 86400.0) AS days
    FROM reps r LEFT JOIN first_contact f USING (rep_id)
    WHERE r.hired_on <= $as_of
      AND r.hired_on >= (SELECT min(occurred_at)::DATE FROM activities, cut WHERE occurred_at < cut.at)
)
SELECT x.team_id AS team, t.name AS team_name,
       sum(x.days) AS numerator,
       count(x.days)::DOUBLE AS denominator,
       numerator / nullif(denominator, 0) AS value
FROM ramp x LEFT JOIN teams t USING (team_id)
GROUP BY ALL
