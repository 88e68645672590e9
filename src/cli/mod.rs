//! The command line: `outrider [run]`, `outrider check`, `outrider
//! generate` and `outrider backtest`. Flags win over
//! `OUTRIDER_*` environment variables (clap reads both), which win over the
//! config file, which wins over the embedded defaults.
//!
//! One file per subcommand: `run`, `check`, `generate` and `backtest`.

mod backtest;
mod check;
mod generate;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use backtest::{BacktestArgs, backtest};
use check::check;
use generate::{GenerateArgs, generate_command};
use run::{RunArgs, run};

#[derive(Parser, Debug)]
#[command(
    name = "outrider",
    version,
    about = "A monitoring sidecar for Prometheus."
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Collect and serve metrics (the default).
    Run(Box<RunArgs>),
    /// Validate config and rule files; exit 1 when one is invalid.
    Check {
        /// Config, rule or web config files, or folders of them (every
        /// *.yml and *.yaml in it).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write Prometheus rules, promtool tests, an Alertmanager example,
    /// Grafana dashboards and a Kubernetes example from rule files.
    ///
    /// Exits 1 when --check finds stale files, 2 on invalid rule files or
    /// options, 3 when a file cannot be written.
    Generate(GenerateArgs),
    /// Replay recorded series through the baselines and rules and show
    /// where they would have fired.
    Backtest(BacktestArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { files }) => check(&files),
        Some(Command::Generate(args)) => generate_command(&args),
        Some(Command::Run(args)) => run(&args),
        Some(Command::Backtest(args)) => backtest(&args),
        None => run(&cli.run),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yml");
        std::fs::write(&file, "collect_interval: 30s\nweb:\n  telemetry_path: /from-file\n  listen_address: 127.0.0.1:1\n").unwrap();
        let cli = Cli::try_parse_from([
            "outrider",
            "--config.file",
            file.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:2",
        ])
        .unwrap();
        let config = cli.run.config().unwrap();
        assert_eq!(config.web.listen_address, "127.0.0.1:2");
        assert_eq!(config.web.telemetry_path, "/from-file");
        assert_eq!(config.collect_interval, Duration::from_secs(30));
    }

    #[test]
    fn run_subcommand_takes_the_same_flags() {
        let cli = Cli::try_parse_from(["outrider", "run", "--collect.interval", "2s"]).unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(
            args.config().unwrap().collect_interval,
            Duration::from_secs(2)
        );
    }
}
