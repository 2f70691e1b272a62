//! The tower: one runway's clearances, one at a time, from the runway's summaries alone.
//!
//! [`TowerPolicy::decide`] is asked for the next order on every command tick of the runway's
//! primary and returns its text (`land SKY0012 #5-17`), which the controller sends as it is.
//! It is pure: what it knows is the summaries it was given and the orders it returned.
//!
//! # Status first, then act
//!
//! Summaries are stale: they left the world a while ago, and orders reach it a while later. A
//! tower that cleared from whatever summary it holds would clear a second aircraft before the
//! summary showed the first on the runway, and a new primary would clear from a summary that
//! predates its predecessor's last clearance. So the tower gives a clearance only when
//!
//! 1. the summary's `claim_token` is its own token: the world has applied its claim, and the
//!    actuator delivers commands in order, so every command of an earlier primary that was
//!    obeyed is already reflected; and
//! 2. it has sent no clearance under this token, or the summary's `last_command` is one of its
//!    own ids (`#<token>-<n>`) no older than its last clearance: the world applies in order, so
//!    that clearance is reflected too (obeyed and on the runway, or refused).
//!
//! and then only onto an open runway with nobody on it. The same status-first rule holds for
//! the operator's closures ([`super::operator`], [`TowerPolicy::decide_with_operator`]): in
//! sync, the tower sends `close` for an open runway the operator closed and `open` for a closed
//! one the operator no longer holds closed, before anything else; both count as clearances
//! (nothing more is sent until the summary shows them applied). A new primary that finds the
//! runway already closed on the operator's order sends `close` once more, under its own token:
//! the closure is then held by, and attributed to, the primary that holds it now (as a segment's
//! closed lanes are, whose every order restates them). Otherwise it sends `hold`, which the
//! world records as `last_command` (a heartbeat that also refreshes the summary, so its
//! `decision_in_s` stays young). Ids carry the token, so two primaries' ids never collide.
//!
//! On a free runway it clears, in this order: the arrival nearest its decision point if it is
//! within [`TowerLimits::land_horizon_s`]; else the first departure if the next arrival leaves
//! [`TowerLimits::takeoff_room_s`]; else the first waiting vehicle if it leaves
//! [`TowerLimits::crossing_room_s`]; else it holds.
//!
//! # Caveats
//!
//! - The rooms must cover the longest take-off or crossing plus the round trip of a summary and
//!   an order; the defaults fit the default airport with a few seconds of delay each way.
//! - [`BrokenTower`] is wrong on purpose: it clears whoever waits, whoever is on the runway. It
//!   exists so that the tests can prove that the world's incursion counter counts.

use crate::airport::{Clearance, RunwayOrder};
use crate::summary::RunwaySummary;

/// How far ahead the tower looks, seconds as of the summary it decides from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TowerLimits {
    /// An arrival whose decision point is at most this far is cleared to land. Default 30.
    pub land_horizon_s: f64,
    /// A departure is cleared only if the next arrival's decision point is further than this:
    /// the longest take-off (45 s) and the round trip to clear the arrival after it. Default 65.
    pub takeoff_room_s: f64,
    /// A vehicle is cleared to cross only if the next arrival's decision point is further than
    /// this: the longest crossing (25 s) and the round trip. Default 45.
    pub crossing_room_s: f64,
}

impl Default for TowerLimits {
    fn default() -> Self {
        Self { land_horizon_s: 30.0, takeoff_room_s: 65.0, crossing_room_s: 45.0 }
    }
}

/// The id of a tower's `n`th order under `token`: `#<token>-<n>`.
pub fn order_id(token: u64, n: u64) -> String {
    format!("#{token}-{n}")
}

/// The token and number of an id made by [`order_id`].
pub fn parse_order_id(id: &str) -> Option<(u64, u64)> {
    let (token, n) = id.strip_prefix('#')?.split_once('-')?;
    Some((token.parse().ok()?, n.parse().ok()?))
}

/// A runway primary's decisions under one fencing token.
#[derive(Debug, Clone, PartialEq)]
pub struct TowerPolicy {
    runway: String,
    token: u64,
    limits: TowerLimits,
    sent: u64,
    last_clearance: Option<u64>,
}

impl TowerPolicy {
    /// The tower of `runway` for the primary holding `token`.
    pub fn new(runway: impl Into<String>, token: u64) -> Self {
        Self { runway: runway.into(), token, limits: TowerLimits::default(), sent: 0, last_clearance: None }
    }

    /// The same with other limits.
    pub fn with_limits(mut self, limits: TowerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The runway.
    pub fn runway(&self) -> &str {
        &self.runway
    }

    /// The token it decides under.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The next order's text, given the newest summary of the runway it has (None: none yet).
    /// A closed runway stays closed and an open one open: see [`TowerPolicy::decide_with_operator`].
    pub fn decide(&mut self, summary: Option<&RunwaySummary>) -> String {
        let clearance = self.choose(summary);
        self.send(clearance)
    }

    /// As [`TowerPolicy::decide`], where the runway's closure is the operator's: closed exactly
    /// while `operator_closed` (the operator's node exists).
    pub fn decide_with_operator(&mut self, summary: Option<&RunwaySummary>, operator_closed: bool) -> String {
        let clearance = self.choose_with_operator(summary, Some(operator_closed));
        self.send(clearance)
    }

    fn send(&mut self, clearance: Clearance) -> String {
        self.sent += 1;
        if clearance != Clearance::Hold {
            self.last_clearance = Some(self.sent);
        }
        RunwayOrder::new(clearance, order_id(self.token, self.sent)).to_string()
    }

    /// Whether `summary` reflects the claim and this tower's last clearance.
    pub fn in_sync(&self, summary: &RunwaySummary) -> bool {
        if summary.runway != self.runway || summary.claim_token != self.token {
            return false;
        }
        match self.last_clearance {
            None => true,
            Some(n) => summary
                .last_command
                .as_deref()
                .and_then(parse_order_id)
                .is_some_and(|(token, m)| token == self.token && m >= n),
        }
    }

    /// What to clear next (or `Hold`), without sending it.
    pub fn choose(&self, summary: Option<&RunwaySummary>) -> Clearance {
        self.choose_with_operator(summary, None)
    }

    /// What to send next: with `operator_closed` given, first whatever makes the runway's
    /// closure what the operator says; then as [`TowerPolicy::choose`].
    pub fn choose_with_operator(&self, summary: Option<&RunwaySummary>, operator_closed: Option<bool>) -> Clearance {
        let Some(s) = summary else { return Clearance::Hold };
        if !self.in_sync(s) {
            return Clearance::Hold;
        }
        match operator_closed {
            Some(true) if !s.closed || self.last_clearance.is_none() => return Clearance::Close,
            Some(false) if s.closed => return Clearance::Open,
            _ => {}
        }
        if s.closed || !s.occupants.is_empty() {
            return Clearance::Hold;
        }
        let next = s.arrivals.iter().min_by(|a, b| a.decision_in_s.total_cmp(&b.decision_in_s));
        let next_in = next.map_or(f64::INFINITY, |a| a.decision_in_s);
        match (next, s.departures.first(), s.crossings.first()) {
            (Some(a), _, _) if next_in <= self.limits.land_horizon_s => Clearance::Land(a.callsign.clone()),
            (_, Some(d), _) if next_in > self.limits.takeoff_room_s => Clearance::Takeoff(d.clone()),
            (_, _, Some(c)) if next_in > self.limits.crossing_room_s => Clearance::Cross(c.clone()),
            _ => Clearance::Hold,
        }
    }
}

/// A tower that clears whoever waits — an arrival, else a departure, else a vehicle — without
/// looking at who is on the runway or whether its summary is current. Wrong on purpose.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokenTower {
    token: u64,
    sent: u64,
}

impl BrokenTower {
    /// A broken tower under `token`.
    pub fn new(token: u64) -> Self {
        Self { token, sent: 0 }
    }

    /// The next order's text.
    pub fn decide(&mut self, summary: Option<&RunwaySummary>) -> String {
        self.sent += 1;
        let clearance = match summary {
            Some(s) if !s.arrivals.is_empty() => Clearance::Land(s.arrivals[0].callsign.clone()),
            Some(s) if !s.departures.is_empty() => Clearance::Takeoff(s.departures[0].clone()),
            Some(s) if !s.crossings.is_empty() => Clearance::Cross(s.crossings[0].clone()),
            _ => Clearance::Hold,
        };
        RunwayOrder::new(clearance, order_id(self.token, self.sent)).to_string()
    }
}

/// The runway's camera: what it adds to the tower's decision.
///
/// The runway's summary lists the aircraft and vehicles the world knows are on the runway; a
/// camera can see what the summary does not (a vehicle that broke down, debris). While the
/// runway camera's analysis alarms a stalled object on the runway, the tower clears nothing onto
/// it. The controller decides what counts as an alarm in force (fresh, from a warmed-up model);
/// here it is one flag, so the tower stays free of the collector's types.
impl TowerPolicy {
    /// As [`TowerPolicy::decide_with_operator`], except that while `camera_blocked` a landing,
    /// take-off or crossing clearance becomes `hold` (arrivals go around at their decision
    /// point). The operator's `close` and `open` go through: they put nobody on the runway.
    pub fn decide_with_camera(
        &mut self,
        summary: Option<&RunwaySummary>,
        operator_closed: bool,
        camera_blocked: bool,
    ) -> String {
        let clearance = match self.choose_with_operator(summary, Some(operator_closed)) {
            Clearance::Land(_) | Clearance::Takeoff(_) | Clearance::Cross(_) if camera_blocked => Clearance::Hold,
            other => other,
        };
        self.send(clearance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{Arrival, Occupant};

    #[test]
    fn the_runway_camera_holds_every_clearance_while_it_sees_something_standing() {
        let mut tower = TowerPolicy::new("07L", 5);
        let mut s = summary(5, None);
        s.arrivals = vec![arrival("SKY0001", 10.0)];
        s.departures = vec!["SKY0010".into()];
        s.crossings = vec!["TUG001".into()];
        assert_eq!(tower.decide_with_camera(Some(&s), false, true), "hold #5-1", "an arrival on final is not cleared");
        s.arrivals.clear();
        assert_eq!(tower.decide_with_camera(Some(&s), false, true), "hold #5-2", "nor a departure");
        s.departures.clear();
        assert_eq!(tower.decide_with_camera(Some(&s), false, true), "hold #5-3", "nor a crossing");
        // The operator's closure goes through while the camera blocks.
        assert_eq!(tower.decide_with_camera(Some(&s), true, true), "close #5-4");
        s.closed = true;
        s.last_command = Some("#5-4".into());
        assert_eq!(tower.decide_with_camera(Some(&s), false, true), "open #5-5");
        s.closed = false;
        s.last_command = Some("#5-5".into());
        // The camera's alarm is over: the waiting vehicle is cleared.
        assert_eq!(tower.decide_with_camera(Some(&s), false, false), "cross TUG001 #5-6");
    }

    fn summary(claim_token: u64, last_command: Option<&str>) -> RunwaySummary {
        RunwaySummary {
            runway: "07L".into(),
            seq: 1,
            time_s: 100.0,
            closed: false,
            occupants: vec![],
            arrivals: vec![],
            departures: vec![],
            crossings: vec![],
            claim_token,
            last_command: last_command.map(str::to_string),
        }
    }

    fn arrival(callsign: &str, decision_in_s: f64) -> Arrival {
        Arrival { callsign: callsign.into(), decision_in_s }
    }

    #[test]
    fn ids_carry_the_token() {
        assert_eq!(order_id(5, 17), "#5-17");
        assert_eq!(parse_order_id("#5-17"), Some((5, 17)));
        for bad in ["5-17", "#5", "#x-1", "#5-", "#-1"] {
            assert_eq!(parse_order_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn no_summary_or_someone_elses_claim_means_hold() {
        let mut tower = TowerPolicy::new("07L", 9);
        assert_eq!(tower.decide(None), "hold #9-1");
        // The old primary's claim is still the summary's: ours has not been applied yet, so the
        // summary may not show what the old primary cleared last.
        let mut s = summary(5, Some("#5-40"));
        s.arrivals = vec![arrival("SKY0001", 10.0)];
        assert_eq!(tower.decide(Some(&s)), "hold #9-2");
        // A newer primary's claim: we are deposed.
        s.claim_token = 12;
        assert_eq!(tower.decide(Some(&s)), "hold #9-3");
        // Our claim is in: act, even though the last command is our predecessor's.
        s.claim_token = 9;
        assert_eq!(tower.decide(Some(&s)), "land SKY0001 #9-4");
        // Another runway's summary is never ours.
        let mut other = TowerPolicy::new("07R", 9);
        assert_eq!(other.decide(Some(&s)), "hold #9-1");
    }

    #[test]
    fn a_stale_summary_does_not_lead_to_a_second_clearance() {
        let mut tower = TowerPolicy::new("07L", 5);
        let mut s = summary(5, None);
        s.arrivals = vec![arrival("SKY0001", 20.0), arrival("SKY0002", 100.0)];
        s.departures = vec!["SKY0003".into()];
        assert_eq!(tower.decide(Some(&s)), "land SKY0001 #5-1");
        // The same summary again (ours has not come back): the runway looks free, but is not.
        assert_eq!(tower.decide(Some(&s)), "hold #5-2");
        assert_eq!(tower.decide(Some(&s)), "hold #5-3");
        // A summary from before our clearance, with our claim in it: still not.
        s.last_command = Some("#4-99".into());
        assert_eq!(tower.decide(Some(&s)), "hold #5-4");
        // The world obeyed it: SKY0001 is on the runway; wait for it.
        s.last_command = Some("#5-1".into());
        s.arrivals.remove(0);
        s.occupants = vec![Occupant { id: "SKY0001".into(), activity: "landing".into(), since_s: 98.0 }];
        assert_eq!(tower.decide(Some(&s)), "hold #5-5");
        // Vacated, and one of our holds after the clearance is the last command: go on.
        s.occupants.clear();
        s.last_command = Some("#5-3".into());
        assert_eq!(tower.decide(Some(&s)), "takeoff SKY0003 #5-6");
        s.last_command = Some("#5-5".into());
        assert_eq!(tower.decide(Some(&s)), "hold #5-7", "#5-5 is older than the take-off clearance #5-6");
    }

    #[test]
    fn arrivals_first_then_departures_and_crossings_that_fit() {
        let tower = TowerPolicy::new("07L", 5);
        let mut s = summary(5, None);
        s.departures = vec!["SKY0010".into(), "SKY0011".into()];
        s.crossings = vec!["TUG001".into()];
        assert_eq!(tower.choose(Some(&s)), Clearance::Takeoff("SKY0010".into()), "nobody on final");
        s.arrivals = vec![arrival("SKY0002", 90.0), arrival("SKY0001", 25.0)];
        assert_eq!(tower.choose(Some(&s)), Clearance::Land("SKY0001".into()), "the nearest arrival");
        s.arrivals = vec![arrival("SKY0001", 50.0)];
        assert_eq!(tower.choose(Some(&s)), Clearance::Cross("TUG001".into()), "no room for a take-off");
        s.arrivals = vec![arrival("SKY0001", 40.0)];
        assert_eq!(tower.choose(Some(&s)), Clearance::Hold, "no room for anything: wait for the arrival");
        s.arrivals = vec![arrival("SKY0001", 70.0)];
        assert_eq!(tower.choose(Some(&s)), Clearance::Takeoff("SKY0010".into()));
        s.closed = true;
        assert_eq!(tower.choose(Some(&s)), Clearance::Hold, "a closed runway clears nobody");
        s.closed = false;
        s.occupants = vec![Occupant { id: "TUG002".into(), activity: "crossing".into(), since_s: 90.0 }];
        assert_eq!(tower.choose(Some(&s)), Clearance::Hold, "an occupied runway clears nobody");
    }

    #[test]
    fn the_operators_closure_is_carried_out_status_first() {
        let mut tower = TowerPolicy::new("07L", 5);
        let mut s = summary(5, None);
        s.arrivals = vec![arrival("SKY0001", 10.0)];
        assert_eq!(tower.decide_with_operator(Some(&s), true), "close #5-1", "closed before any clearance");
        assert_eq!(tower.decide_with_operator(Some(&s), true), "hold #5-2", "not again before the summary shows it");
        s.last_command = Some("#5-1".into());
        s.closed = true;
        assert_eq!(tower.decide_with_operator(Some(&s), true), "hold #5-3", "closed: nobody is cleared");
        // A failover: the new primary reads the same order and takes the closure over under its
        // own token, once (it was closed by #5; the page says who holds it closed now).
        let mut next = TowerPolicy::new("07L", 9);
        s.claim_token = 9;
        assert_eq!(next.decide_with_operator(Some(&s), true), "close #9-1", "restated under the new token");
        assert_eq!(next.decide_with_operator(Some(&s), true), "hold #9-2", "not again before the summary shows it");
        s.last_command = Some("#9-1".into());
        assert_eq!(next.decide_with_operator(Some(&s), true), "hold #9-3", "once is enough");
        // The operator reopens: opened first, cleared only once the summary shows it open.
        assert_eq!(next.decide_with_operator(Some(&s), false), "open #9-4");
        assert_eq!(next.decide_with_operator(Some(&s), false), "hold #9-5");
        s.last_command = Some("#9-4".into());
        s.closed = false;
        assert_eq!(next.decide_with_operator(Some(&s), false), "land SKY0001 #9-6");
        // Out of sync (someone else's claim): nothing, not even the operator's order.
        s.claim_token = 12;
        assert_eq!(next.decide_with_operator(Some(&s), true), "hold #9-7");
        // Without an operator input the closure is left as it is.
        s.claim_token = 9;
        s.closed = true;
        s.last_command = Some("#9-6".into());
        assert_eq!(next.choose(Some(&s)), Clearance::Hold);
    }

    #[test]
    fn the_broken_tower_ignores_the_runway() {
        let mut tower = BrokenTower::new(3);
        let mut s = summary(0, None);
        s.occupants = vec![Occupant { id: "SKY0001".into(), activity: "landing".into(), since_s: 90.0 }];
        s.departures = vec!["SKY0010".into()];
        assert_eq!(tower.decide(Some(&s)), "takeoff SKY0010 #3-1");
        assert_eq!(tower.decide(None), "hold #3-2");
    }
}
