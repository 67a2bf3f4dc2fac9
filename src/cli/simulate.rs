//! `personify simulate`: runs the experiment simulator and prints its tables (Markdown).

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use crate::domain::experiments::simulate::{simulate, Config};

/// Options of `simulate`; the defaults are the full run of docs/experiment-statistics.md.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Visitors per arm, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000u64, 10_000, 100_000, 1_000_000])]
    pub sizes: Vec<u64>,
    /// A/A and A/B runs per size (and runs of the SRM-power and planned-size rows).
    #[arg(long, default_value_t = 1_000)]
    pub runs: u32,
    /// Runs of each SRM false-flag row.
    #[arg(long, default_value_t = 10_000)]
    pub srm_runs: u32,
    /// Sizes up to this are counted visitor by visitor, larger ones as per-day binomial counts.
    #[arg(long, default_value_t = 100_000)]
    pub per_visitor_up_to: u64,
    /// Sizes up to this also run the negative control (HyperLogLog sketches of every A/A run);
    /// default: every size.
    #[arg(long, default_value_t = u64::MAX)]
    pub negative_control_up_to: u64,
    /// k of the releases.
    #[arg(long, default_value_t = 50)]
    pub k: u64,
    /// ε per released count (0: no noise).
    #[arg(long, default_value_t = 0.5)]
    pub epsilon: f64,
    /// Seed: the same options and seed give the same tables.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip the SRM-power and planned-size rows.
    #[arg(long)]
    pub quick: bool,
}

/// Runs the simulation and prints the tables and the wall time.
pub fn run(args: &SimulateArgs) -> ExitCode {
    if args.sizes.is_empty()
        || args.sizes.contains(&0)
        || args.runs == 0
        || args.k == 0
        || args.epsilon.is_nan()
        || args.epsilon < 0.0
    {
        eprintln!("--sizes, --runs and --k must be positive and --epsilon at least 0");
        return ExitCode::FAILURE;
    }
    let config = Config {
        sizes: args.sizes.clone(),
        runs: args.runs,
        srm_runs: args.srm_runs.max(1),
        per_visitor_up_to: args.per_visitor_up_to,
        negative_control_up_to: args.negative_control_up_to,
        seed: args.seed,
        k: args.k,
        epsilon: args.epsilon,
        extended: !args.quick,
        ..Config::default()
    };
    let started = Instant::now();
    let report = simulate(&config);
    // A closed pipe (`| head`) is not worth a panic.
    let _ = writeln!(
        std::io::stdout(),
        "{report}\nWall time: {:.0} s (one thread).",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
