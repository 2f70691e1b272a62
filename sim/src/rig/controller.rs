//! How a `skyway controller` process is started by the demo and the drills: one argument list,
//! so both run controllers the same way.

use std::time::Duration;

/// A controller process's settings.
#[derive(Debug, Clone)]
pub struct ControllerLaunch<'a> {
    /// Its name (`c1`, …), also its identity.
    pub name: &'a str,
    /// The roles it is a candidate for.
    pub roles: &'a [String],
    /// The coordinator endpoints it dials (the demo and drills hand it proxies).
    pub endpoints: &'a [String],
    /// The actuator it commands (a proxy too).
    pub actuator: &'a str,
    /// What it commands (`world` for the world's policies; `None`: heartbeats, as drills use).
    pub commands: Option<&'a str>,
    /// Its session TTL.
    pub ttl: Duration,
    /// How often a primary commands its actuator.
    pub command_interval: Duration,
}

impl ControllerLaunch<'_> {
    /// The `skyway controller …` arguments.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "controller",
            "--name",
            self.name,
            "--roles",
            &self.roles.join(","),
            "--endpoints",
            &self.endpoints.join(","),
            "--actuator",
            self.actuator,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(commands) = self.commands {
            args.extend(["--commands".to_string(), commands.to_string()]);
        }
        args.extend([
            "--ttl-ms".to_string(),
            self.ttl.as_millis().to_string(),
            "--command-interval-ms".to_string(),
            self.command_interval.as_millis().to_string(),
        ]);
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_name_every_setting() {
        let roles = ["segment/1".to_string(), "runway/07L".to_string()];
        let endpoints = ["127.0.0.1:1".to_string(), "127.0.0.1:2".to_string()];
        let launch = ControllerLaunch {
            name: "c1",
            roles: &roles,
            endpoints: &endpoints,
            actuator: "127.0.0.1:3",
            commands: Some("world"),
            ttl: Duration::from_millis(1500),
            command_interval: Duration::from_millis(20),
        };
        assert_eq!(
            launch.args().join(" "),
            "controller --name c1 --roles segment/1,runway/07L --endpoints 127.0.0.1:1,127.0.0.1:2 --actuator \
             127.0.0.1:3 --commands world --ttl-ms 1500 --command-interval-ms 20"
        );
        let heartbeats = ControllerLaunch { commands: None, ..launch };
        assert!(!heartbeats.args().contains(&"--commands".to_string()));
    }
}
