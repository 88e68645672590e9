//! `outrider generate`: writes the Prometheus rules, promtool tests,
//! Alertmanager example, Grafana dashboards and Kubernetes example.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::generate;
use crate::rules::{self};

#[derive(Args, Clone, Debug)]
pub(super) struct GenerateArgs {
    /// Rule files or folders (default: the embedded rules).
    rules: Vec<PathBuf>,
    /// The folder to write alerts/, grafana/ and deploy/ into.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// plain: Prometheus rule files and their promtool tests;
    /// prometheus-operator: PrometheusRule resources.
    #[arg(long, value_enum, default_value_t = generate::Format::Plain)]
    format: generate::Format,
    /// Write nothing; exit 1 when the files under --out differ from what
    /// the rules generate.
    #[arg(long)]
    check: bool,
    /// Divide the SLO windows (5m to 3d) by this, to watch burn-rate alerts
    /// in minutes in a demo or a test. Keep 1 in production.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    slo_window_scale: u32,
}

/// Exit codes of `generate`: 1 stale files (--check), 2 bad rule files,
/// 3 files that cannot be written.
pub(super) fn generate_command(args: &GenerateArgs) -> ExitCode {
    let (rules, source) = if args.rules.is_empty() {
        (
            rules::RuleSet::embedded(),
            "the embedded rules/*.yml".to_owned(),
        )
    } else {
        match rules::RuleSet::load(&args.rules) {
            Ok(rules) => {
                let names: Vec<String> =
                    args.rules.iter().map(|p| p.display().to_string()).collect();
                (rules, names.join(", "))
            }
            Err(e) => {
                eprintln!("outrider generate: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let options = generate::Options {
        format: args.format,
        slo_window_scale: args.slo_window_scale,
        source,
    };
    let files = match generate::generate(&rules, &options) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("outrider generate: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        let differences = generate::differences(&args.out, &files);
        if differences.is_empty() {
            println!("{} generated files are up to date", files.len());
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "outrider generate --check: the generated files under {} are stale; run `outrider generate` and commit the result:",
            args.out.display()
        );
        for difference in differences {
            eprintln!("  {difference}");
        }
        return ExitCode::FAILURE;
    }
    match generate::write(&args.out, &files) {
        Ok((written, removed)) => {
            println!(
                "{} files generated under {} ({written} written, {removed} stale removed)",
                files.len(),
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("outrider generate: {e}");
            ExitCode::from(3)
        }
    }
}
