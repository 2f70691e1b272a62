//! What a tower controller may tell the world about its runway, as text:
//!
//! ```text
//! land SKY0012 #5-17      clear an arrival on final to land
//! takeoff SKY0040 #5-18   clear a departure at the holding point for take-off
//! cross TUG003 #5-19      clear a waiting ground vehicle to cross
//! hold #5-20              nothing (the id is recorded: the primary is alive and in sync)
//! close #5-21             close the runway: nothing is cleared, arrivals go around
//! open #5-22              open it again
//! ```
//!
//! Every order ends with its id (`#` and up to [`ORDER_ID_LEN_MAX`] letters, digits, `-`, `_`
//! or `.`); once the world has obeyed an order its id is the runway summary's `last_command`.
//! [`RunwayOrder::parse`] and [`fmt::Display`] round-trip.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Refusal;

/// The longest order id, after the `#`.
pub const ORDER_ID_LEN_MAX: usize = 40;

/// The longest callsign or vehicle id.
pub const CALLSIGN_LEN_MAX: usize = 16;

/// What an order asks of the runway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Clearance {
    /// Clear this arrival, on final, to land.
    Land(String),
    /// Clear this departure, at the holding point, for take-off.
    Takeoff(String),
    /// Clear this ground vehicle, waiting, to cross.
    Cross(String),
    /// Nothing: only the id is recorded.
    Hold,
    /// Close the runway.
    Close,
    /// Open the runway.
    Open,
}

/// A tower controller's order for one runway, with its id (`#5-17`, the `#` included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunwayOrder {
    /// What it asks.
    pub clearance: Clearance,
    /// Its id, `#` first; echoed as the summary's `last_command` once obeyed.
    pub id: String,
}

impl RunwayOrder {
    /// An order with this clearance and id (`id` with its `#`).
    pub fn new(clearance: Clearance, id: impl Into<String>) -> Self {
        Self { clearance, id: id.into() }
    }

    /// Parses the text form (see the module docs).
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        let bad = |why: &str| {
            Refusal::new(format!(
                "bad runway order {text:?}: {why}; expected land|takeoff|cross CALLSIGN #ID, or hold|close|open #ID"
            ))
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let Some((id, words)) = words.split_last() else { return Err(bad("it is empty")) };
        if !is_order_id(id) {
            return Err(bad(&format!(
                "it must end with an id: # and 1..={ORDER_ID_LEN_MAX} letters, digits, -, _ or ."
            )));
        }
        let who = |name: &str| -> Result<String, Refusal> {
            match words {
                [_, who] if is_callsign(who) => Ok(who.to_string()),
                [_, who] => {
                    Err(bad(&format!("{who:?} is not a callsign: 1..={CALLSIGN_LEN_MAX} ASCII letters and digits")))
                }
                _ => Err(bad(&format!("{name} takes one callsign"))),
            }
        };
        let none = |clearance: Clearance| match words {
            [_] => Ok(clearance),
            _ => Err(bad("hold, close and open take nothing but the id")),
        };
        let clearance = match words.first().copied() {
            Some("land") => Clearance::Land(who("land")?),
            Some("takeoff") => Clearance::Takeoff(who("takeoff")?),
            Some("cross") => Clearance::Cross(who("cross")?),
            Some("hold") => none(Clearance::Hold)?,
            Some("close") => none(Clearance::Close)?,
            Some("open") => none(Clearance::Open)?,
            Some(other) => return Err(bad(&format!("unknown order {other:?}"))),
            None => return Err(bad("no order before the id")),
        };
        Ok(Self { clearance, id: id.to_string() })
    }
}

fn is_order_id(word: &str) -> bool {
    word.strip_prefix('#').is_some_and(|id| {
        !id.is_empty()
            && id.len() <= ORDER_ID_LEN_MAX
            && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    })
}

fn is_callsign(word: &str) -> bool {
    !word.is_empty() && word.len() <= CALLSIGN_LEN_MAX && word.chars().all(|c| c.is_ascii_alphanumeric())
}

impl fmt::Display for Clearance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clearance::Land(who) => write!(f, "land {who}"),
            Clearance::Takeoff(who) => write!(f, "takeoff {who}"),
            Clearance::Cross(who) => write!(f, "cross {who}"),
            Clearance::Hold => write!(f, "hold"),
            Clearance::Close => write!(f, "close"),
            Clearance::Open => write!(f, "open"),
        }
    }
}

impl fmt::Display for RunwayOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.clearance, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_round_trip() {
        for text in
            ["land SKY0012 #17", "takeoff SKY0040 #5-18", "cross TUG003 #5-19", "hold #5-20", "close #a.b", "open #x_1"]
        {
            let order = RunwayOrder::parse(text).unwrap();
            assert_eq!(order.to_string(), text);
            assert_eq!(RunwayOrder::parse(&order.to_string()).unwrap(), order);
        }
        assert_eq!(
            RunwayOrder::parse("  land   SKY0012  #17 ").unwrap(),
            RunwayOrder::new(Clearance::Land("SKY0012".into()), "#17")
        );
    }

    #[test]
    fn malformed_orders_say_what_is_wrong() {
        for (text, says) in [
            ("", "empty"),
            ("land SKY0012", "end with an id"),
            ("land SKY0012 17", "end with an id"),
            ("land SKY0012 #", "end with an id"),
            ("land #17", "one callsign"),
            ("land SKY 0012 #17", "one callsign"),
            ("land SKY-12 #17", "not a callsign"),
            ("hold SKY0012 #17", "nothing but the id"),
            ("clear to land SKY0012", "end with an id"),
            ("lights on #3", "unknown order"),
            ("#3", "no order"),
        ] {
            let e = RunwayOrder::parse(text).unwrap_err().0;
            assert!(e.contains(says) && e.contains("expected"), "{text:?}: {e}");
        }
    }
}
