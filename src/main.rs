//! The `personify` binary: parse the command line, load configuration, hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use personify::app::startup::Application;
use personify::cli::{self, Cli, Command};
use personify::config::Settings;

fn main() -> ExitCode {
    let args = Cli::parse();
    let settings = match Settings::load(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Check { dir, format } => cli::check(&settings, dir.as_deref(), format),
        Command::Explain(a) => cli::explain(&settings, &a),
        Command::Demo(a) => personify::app::demo::run(&a),
        Command::Diff {
            old,
            new,
            deny,
            format,
            sample,
        } => cli::diff(
            &settings,
            &cli::DiffArgs {
                old: &old,
                new: &new,
                deny_breaking: deny.is_some(),
                format,
                sample: sample.as_deref(),
            },
        ),
        Command::GenerateRules { segments, seed, dir } => cli::generate_rules(segments, seed, &dir),
        Command::VerifyReceipt(a) => personify::cli::ledger::verify_receipt(&a),
        Command::Audit(a) => personify::cli::ledger::consistency(&a),
        Command::RotateSecret => personify::cli::ledger::rotate_secret(&settings),
        Command::Health(a) => cli::health::health(&settings, &a),
        Command::Simulate(a) => personify::cli::simulate::run(&a),
    }
}

fn serve(settings: Settings) -> ExitCode {
    personify::app::telemetry::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let app = match Application::build(&settings).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("server error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
