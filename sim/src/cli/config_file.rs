//! The TOML configuration file of `skyway coord serve --config FILE`.
//!
//! The file's keys are the command's long flag names (`data-dir = "/var/lib/skyway/1"`,
//! `election-timeout-ms = 500`, `join = true`, `peers = "1=10.0.0.1:7001,2=…"`); a list becomes
//! the comma-separated form the flag takes. Each key the command line and the environment
//! (`SKYWAY_DATA_DIR`, …) leave unset is added to the arguments before clap parses them, so
//! one parser checks every source, and the order of precedence is: command line, environment,
//! file, default. An unknown key is an error that names the keys there are.

use anyhow::{Context, bail};
use clap::{Args, Command};

use super::serve::ServeArgs;

/// The environment variable of a flag: `data-dir` → `SKYWAY_DATA_DIR`.
pub fn env_name(flag: &str) -> String {
    format!("SKYWAY_{}", flag.replace('-', "_").to_uppercase())
}

/// Each flag of `coord serve` with its environment variable: mostly [`env_name`] of the flag,
/// except where that would be a client's variable (`--cert` is `SKYWAY_TLS_CERT`, since
/// `SKYWAY_CERT` is the certificate `ctl` and the other clients show).
fn serve_flags_and_env() -> Vec<(String, String)> {
    ServeArgs::augment_args(Command::new("serve"))
        .get_arguments()
        .filter_map(|a| {
            let flag = a.get_long()?.to_string();
            let env = a.get_env().and_then(|e| e.to_str()).map_or_else(|| env_name(&flag), str::to_string);
            Some((flag, env))
        })
        .filter(|(flag, _)| flag != "config")
        .collect()
}

/// The file given to `coord serve` in `args` (`--config F`, `--config=F`) or by `env`, if any.
pub fn config_path(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let serve_at = args.windows(2).position(|w| w[0] == "coord" && w[1] == "serve")?;
    let rest = &args[serve_at + 2..];
    for (i, arg) in rest.iter().enumerate() {
        if arg == "--config" {
            return rest.get(i + 1).cloned();
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(path.to_string());
        }
    }
    env(&env_name("config"))
}

/// `args` with the file's settings appended, for each flag neither `args` nor `env` gives.
pub fn merge(args: &[String], file_text: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Vec<String>> {
    let table: toml::Table = toml::from_str(file_text).context("the configuration file is not valid TOML")?;
    let flags = serve_flags_and_env();
    let known: Vec<String> = flags.iter().map(|(flag, _)| flag.clone()).collect();
    let mut merged = args.to_vec();
    for (key, value) in &table {
        let Some((_, env_var)) = flags.iter().find(|(flag, _)| flag == key) else {
            bail!(
                "unknown key {key:?} in the configuration file; the keys are the flags of `coord serve`: {}",
                known.join(", ")
            );
        };
        let flag = format!("--{key}");
        let given = args.iter().any(|a| *a == flag || a.starts_with(&format!("{flag}=")));
        if given || env(env_var).is_some() {
            continue;
        }
        match value {
            toml::Value::Boolean(true) => merged.push(flag),
            toml::Value::Boolean(false) => {}
            other => merged.push(format!("{flag}={}", scalar(key, other)?)),
        }
    }
    Ok(merged)
}

fn scalar(key: &str, value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Array(items) => {
            items.iter().map(|v| scalar(key, v)).collect::<anyhow::Result<Vec<_>>>()?.join(",")
        }
        other => bail!(
            "key {key:?} in the configuration file: expected a string, number, boolean or list, found a {}",
            other.type_str()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_file_fills_what_the_command_line_and_environment_leave_unset() {
        let text = "id = 2\ndata-dir = \"/d\"\nelection-timeout-ms = 500\njoin = true\npeers = [\"1=127.0.0.1:1\", \"2=127.0.0.1:2\"]\n";
        let env = |name: &str| (name == "SKYWAY_ELECTION_TIMEOUT_MS").then(|| "700".to_string());
        let merged = merge(&args("skyway coord serve --id 1"), text, &env).unwrap();
        assert_eq!(merged, args("skyway coord serve --id 1 --data-dir=/d --join --peers=1=127.0.0.1:1,2=127.0.0.1:2"));
    }

    #[test]
    fn an_unknown_key_names_the_known_ones() {
        let error = merge(&args("skyway coord serve"), "data_dir = \"/d\"", &no_env).unwrap_err().to_string();
        assert!(error.contains("unknown key \"data_dir\"") && error.contains("data-dir"), "{error}");
        let error = merge(&args("skyway coord serve"), "id = ", &no_env).unwrap_err().to_string();
        assert!(error.contains("not valid TOML"), "{error}");
    }

    #[test]
    fn the_path_comes_from_the_flag_or_the_environment() {
        assert_eq!(config_path(&args("skyway coord serve --config a.toml"), &no_env).as_deref(), Some("a.toml"));
        assert_eq!(config_path(&args("skyway coord serve --config=b.toml"), &no_env).as_deref(), Some("b.toml"));
        let env = |name: &str| (name == "SKYWAY_CONFIG").then(|| "c.toml".to_string());
        assert_eq!(config_path(&args("skyway coord serve"), &env).as_deref(), Some("c.toml"));
        assert_eq!(config_path(&args("skyway ctl status --config x"), &env), None);
    }
}
