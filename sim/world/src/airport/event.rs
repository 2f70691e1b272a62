//! What happens at the airport, one line each: the log line, the dashboard's feed and the golden
//! scripts' output at once (`runway 07L: SKY0012 cleared to land (#5-17)`).

use std::fmt;

use serde::Serialize;

/// What someone cleared onto a runway is doing there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Activity {
    /// An arrival, from its landing clearance until it has vacated.
    Landing,
    /// A departure, from its take-off clearance until it has left the runway.
    Takeoff,
    /// A ground vehicle, from its clearance until it is across.
    Crossing,
}

impl Activity {
    /// The word used in summaries: `landing`, `takeoff` or `crossing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Landing => "landing",
            Activity::Takeoff => "takeoff",
            Activity::Crossing => "crossing",
        }
    }
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happened at the airport.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Event {
    /// An arrival joined final (or rejoined it after a missed-approach circuit).
    OnFinal {
        /// The runway.
        runway: String,
        /// The aircraft.
        callsign: String,
        /// Seconds to its decision point.
        decision_in_s: f64,
        /// Go-arounds it has flown so far (0 for a new arrival).
        go_arounds: u32,
    },
    /// A departure reached the holding point.
    AtHoldingPoint {
        /// The runway.
        runway: String,
        /// The aircraft.
        callsign: String,
    },
    /// A departure found the holding point full and waits at its gate (it leaves the model).
    HeldAtGate {
        /// The runway.
        runway: String,
        /// The aircraft.
        callsign: String,
    },
    /// A ground vehicle asked to cross.
    WaitingToCross {
        /// The runway.
        runway: String,
        /// The vehicle.
        vehicle: String,
    },
    /// A vehicle found the crossing queue full and was turned away.
    TurnedAway {
        /// The runway.
        runway: String,
        /// The vehicle.
        vehicle: String,
    },
    /// A clearance was obeyed: `who` is now on the runway.
    Cleared {
        /// The runway.
        runway: String,
        /// The aircraft or vehicle.
        who: String,
        /// What it was cleared for.
        activity: Activity,
        /// The order's id.
        id: String,
    },
    /// Someone left the runway: landed and vacated, took off, or crossed.
    Vacated {
        /// The runway.
        runway: String,
        /// The aircraft or vehicle.
        who: String,
        /// What it did.
        activity: Activity,
    },
    /// An arrival reached its decision point without a landing clearance.
    GoAround {
        /// The runway.
        runway: String,
        /// The aircraft.
        callsign: String,
        /// Its go-arounds so far, this one included.
        count: u32,
        /// Seconds until it rejoins final.
        rejoins_in_s: f64,
    },
    /// An arrival missed its decision point once more than allowed and left for another airport.
    Diverted {
        /// The runway.
        runway: String,
        /// The aircraft.
        callsign: String,
        /// The go-arounds it had flown.
        go_arounds: u32,
    },
    /// Someone was cleared onto a runway that someone else was on: a runway incursion.
    Incursion {
        /// The runway.
        runway: String,
        /// Who was just cleared.
        entering: String,
        /// Who was already there.
        present: Vec<String>,
    },
    /// The runway was closed.
    Closed {
        /// The runway.
        runway: String,
        /// The order's id.
        id: String,
    },
    /// The runway was opened.
    Opened {
        /// The runway.
        runway: String,
        /// The order's id.
        id: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::OnFinal { runway, callsign, decision_in_s, go_arounds: 0 } => {
                write!(f, "runway {runway}: {callsign} on final, decision in {decision_in_s:.0} s")
            }
            Event::OnFinal { runway, callsign, decision_in_s, go_arounds } => write!(
                f,
                "runway {runway}: {callsign} rejoins final after {go_arounds} go-around(s), decision in {decision_in_s:.0} s"
            ),
            Event::AtHoldingPoint { runway, callsign } => write!(f, "runway {runway}: {callsign} at the holding point"),
            Event::HeldAtGate { runway, callsign } => {
                write!(f, "runway {runway}: {callsign} held at the gate (holding point full)")
            }
            Event::WaitingToCross { runway, vehicle } => write!(f, "runway {runway}: {vehicle} waiting to cross"),
            Event::TurnedAway { runway, vehicle } => {
                write!(f, "runway {runway}: {vehicle} turned away (crossing queue full)")
            }
            Event::Cleared { runway, who, activity, id } => {
                let what = match activity {
                    Activity::Landing => "cleared to land",
                    Activity::Takeoff => "cleared for take-off",
                    Activity::Crossing => "cleared to cross",
                };
                write!(f, "runway {runway}: {who} {what} ({id})")
            }
            Event::Vacated { runway, who, activity } => {
                let what = match activity {
                    Activity::Landing => "landed and vacated",
                    Activity::Takeoff => "took off",
                    Activity::Crossing => "crossed",
                };
                write!(f, "runway {runway}: {who} {what}")
            }
            Event::GoAround { runway, callsign, count, rejoins_in_s } => write!(
                f,
                "runway {runway}: {callsign} GO-AROUND no landing clearance by the decision point (go-around {count}, rejoins in {rejoins_in_s:.0} s)"
            ),
            Event::Diverted { runway, callsign, go_arounds } => {
                write!(f, "runway {runway}: {callsign} DIVERTED after {go_arounds} go-around(s)")
            }
            Event::Incursion { runway, entering, present } => {
                write!(f, "runway {runway}: INCURSION {entering} cleared onto the runway with {}", present.join(", "))
            }
            Event::Closed { runway, id } => write!(f, "runway {runway}: closed ({id})"),
            Event::Opened { runway, id } => write!(f, "runway {runway}: opened ({id})"),
        }
    }
}
