//! The `personify` command line: `serve` (default), `check [DIR]`, `explain --url URL …`, `health`.

pub mod demo;
pub mod health;
pub mod ledger;
pub mod simulate;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
use crate::domain::pageview::explain::{ExplainConsent, ExplainRequest, Explanation};
use crate::domain::pageview::impact;
use crate::domain::pageview::view::Pipeline;
use crate::domain::privacy::{Keyring, Secret};
use crate::domain::rules::load::{JsonDiagnostic, Severity};
use crate::domain::rules::{self, RuleError};
use crate::domain::taxonomy::Taxonomy;
use crate::engine::geo::Locator;

/// personify: privacy-first personification segment server.
#[derive(Debug, Parser)]
#[command(name = "personify", version, about)]
pub struct Cli {
    /// Directory holding default.toml and local.toml.
    #[arg(long, global = true, default_value = "config", value_name = "DIR")]
    pub config: PathBuf,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve,
    /// Validate segment rules; prints `file:line:col: message` for every problem and exits non-zero
    /// on errors (warnings alone pass).
    Check {
        /// Rules directory (default: rules.dir from configuration).
        dir: Option<PathBuf>,
        /// `text` (with a code frame on a terminal) or `json` (an array, for editors and CI).
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Show what a page view would get, and why.
    Explain(Box<ExplainArgs>),
    /// Serve the example bank site on a second origin (default http://127.0.0.1:8081).
    Demo(demo::DemoArgs),
    /// What changes for visitors between two rules directories; `--deny breaking` exits non-zero
    /// when something is removed or an experiment's arms, weights or holdout change.
    Diff {
        /// The rules now live.
        old: PathBuf,
        /// The proposed rules.
        new: PathBuf,
        /// `breaking`: exit 1 if any change is breaking (for CI review of rule changes).
        #[arg(long, value_parser = ["breaking"])]
        deny: Option<String>,
        /// `text` or `json` (`{old_version, new_version, breaking, changes, replay}`).
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
        /// Page views to replay through both sets (NDJSON, one `/v1/decide` body a line); without
        /// it, a sample generated from the paths, campaigns and referrers the rules name.
        #[arg(long, value_name = "FILE")]
        sample: Option<PathBuf>,
    },
    /// Write a synthetic rule set of N segments (for load tests and benchmarks) into DIR.
    GenerateRules {
        /// Number of segments.
        #[arg(long, default_value_t = 1_000)]
        segments: usize,
        /// Seed: the same seed and size give the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output directory (created; existing `.toml` files of the same names are replaced).
        dir: PathBuf,
    },
    /// Check a consent receipt's inclusion proof against a signed checkpoint, offline.
    VerifyReceipt(ledger::VerifyReceiptArgs),
    /// Prove that an old checkpoint is a prefix of the consent log today (nothing changed or removed).
    Audit(ledger::ConsistencyArgs),
    /// Start a new generation of the visitor-key secret (restart every node afterwards). Earlier
    /// generations stay for consent records only.
    RotateSecret,
    /// Ask the local node's /readyz (or /healthz with --live); exit 0 on 200. For container health
    /// checks where there is no curl.
    Health(health::HealthArgs),
    /// Run many simulated A/A and A/B experiments through the real counting, release and analysis
    /// code and print false-positive rates, coverage, power and SRM tables.
    Simulate(simulate::SimulateArgs),
}

/// How `check` prints diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// `file:line:col: message`, plus a code frame when stderr is a terminal.
    Text,
    /// One JSON array of `{file, line, col, severity, kind, message, suggestion}` on stdout.
    Json,
}

/// Inputs of a hypothetical page view.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Page URL.
    #[arg(long)]
    pub url: String,
    /// Referrer URL.
    #[arg(long)]
    pub referrer: Option<String>,
    /// Page category.
    #[arg(long)]
    pub category: Option<String>,
    /// Country (ISO alpha-2) as the country header would give it.
    #[arg(long)]
    pub country: Option<String>,
    /// A client address to look up with geo.mmdb_path and geo.builtin when --country is not given
    /// (only its country is used).
    #[arg(long)]
    pub address: Option<String>,
    /// User-Agent, reduced to a device class.
    #[arg(long = "user-agent")]
    pub user_agent: Option<String>,
    /// Accept-Language header value.
    #[arg(long = "accept-language")]
    pub accept_language: Option<String>,
    /// Local offset from UTC in minutes.
    #[arg(long = "tz-offset", allow_hyphen_values = true)]
    pub tz_offset: Option<i64>,
    /// Session summary: pages viewed.
    #[arg(long = "pages-viewed")]
    pub pages_viewed: Option<u32>,
    /// Session summary: a content category seen (repeatable).
    #[arg(long = "session-category")]
    pub session_categories: Vec<String>,
    /// Session summary: returning visitor.
    #[arg(long)]
    pub returning: bool,
    /// Send `Sec-GPC: 1`.
    #[arg(long)]
    pub gpc: bool,
    /// A TCF TC string (with --consent default).
    #[arg(long)]
    pub tcf: Option<String>,
    /// A US privacy string such as 1YYN (with --consent default).
    #[arg(long = "us-privacy")]
    pub us_privacy: Option<String>,
    /// `granted`: as if the visitor explicitly consented to everything; `default`: resolve from
    /// --tcf, --us-privacy, --gpc and the jurisdiction default for --country.
    #[arg(long, default_value = "granted", value_parser = ["granted", "default"])]
    pub consent: String,
    /// First-party visitor id (only affects the experiment arm shown).
    #[arg(long = "visitor-id")]
    pub visitor_id: Option<String>,
    /// Rules directory (default: rules.dir from configuration).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `generate-rules`: writes the files and says how to use them.
pub fn generate_rules(segments: usize, seed: u64, dir: &Path) -> ExitCode {
    if segments == 0 || segments > 100_000 {
        eprintln!("--segments must be between 1 and 100000");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, text) in rules::generate::generate(segments, seed) {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    println!(
        "wrote {segments} segments to {}; serve them with PERSONIFY__RULES__DIR={}",
        dir.display(),
        dir.display()
    );
    ExitCode::SUCCESS
}

/// Runs `check`: 0 when the rules load (the same checks as `serve`, taxonomy ids included), 1
/// otherwise.
pub fn check(settings: &Settings, dir: Option<&Path>, format: CheckFormat) -> ExitCode {
    let dir = dir.unwrap_or(&settings.rules.dir);
    let (loaded, diagnostics) = match rules::load_dir_with(dir, &settings.rule_options()) {
        Ok(loaded) => {
            let warnings = loaded.warnings.clone();
            (Some(loaded.rules), warnings)
        }
        Err(errors) => (None, errors.0),
    };
    if format == CheckFormat::Json {
        let out: Vec<JsonDiagnostic<'_>> = diagnostics.iter().map(JsonDiagnostic::from).collect();
        match serde_json::to_string_pretty(&out) {
            // A closed pipe (`| head`) is not worth a panic.
            Ok(json) => drop(writeln!(std::io::stdout(), "{json}")),
            Err(e) => eprintln!("{e}"),
        }
        return if loaded.is_some() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    print_diagnostics(&diagnostics);
    let Some(set) = loaded else {
        let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
        eprintln!("{errors} error(s)");
        return ExitCode::FAILURE;
    };
    let experiments = set.experiments().count();
    let sensitive = set.segments.iter().filter(|s| s.sensitive.is_some()).count();
    println!(
        "ok: {} segments ({} sensitive), {} slots, {} experiments, {} goals\nversion {}",
        set.segments.len(),
        sensitive,
        set.slots.len(),
        experiments,
        set.goals.len() + set.experiments().map(|(_, _, e)| e.goals.len()).sum::<usize>(),
        set.version
    );
    // Unindexed segments are evaluated on every page view: worth knowing when a rule set grows.
    println!(
        "{} of {} segments are evaluated on every page view (no path, value or host to index them by)",
        set.unindexed_segments(),
        set.segments.len()
    );
    print_taxonomy_names(settings, &set);
    ExitCode::SUCCESS
}

/// Prints each diagnostic as `file:line:col: message`, with a code frame when stderr is a terminal.
fn print_diagnostics(diagnostics: &[RuleError]) {
    let frames = std::io::stderr().is_terminal();
    for d in diagnostics {
        let source = frames.then(|| std::fs::read_to_string(&d.file).ok()).flatten();
        match source {
            Some(text) if d.span.is_some() => eprintln!("{}\n", d.render_frame(&text, true)),
            _ => eprintln!("{d}"),
        }
    }
}

/// What `personify diff` compares.
pub struct DiffArgs<'a> {
    /// The rules now live.
    pub old: &'a Path,
    /// The proposed rules.
    pub new: &'a Path,
    /// `--deny breaking`
    pub deny_breaking: bool,
    /// `--format`
    pub format: CheckFormat,
    /// `--sample`
    pub sample: Option<&'a Path>,
}

/// Runs `diff`: both directories must load; prints every change and the replay, and exits 1 on a
/// breaking change under `--deny breaking` (2 when a directory or the sample does not load).
pub fn diff(settings: &Settings, args: &DiffArgs<'_>) -> ExitCode {
    let DiffArgs {
        old,
        new,
        deny_breaking,
        format,
        sample,
    } = *args;
    let options = settings.rule_options();
    let load = |dir: &Path| match rules::load_dir_with(dir, &options) {
        Ok(l) => Some(l.rules),
        Err(errors) => {
            print_diagnostics(&errors.0);
            eprintln!("{}: does not load", dir.display());
            None
        }
    };
    let (Some(a), Some(b)) = (load(old), load(new)) else {
        return ExitCode::from(2);
    };
    let views = match sample {
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| impact::parse_sample(&text))
        {
            Ok(views) => views,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => impact::generated(&a, &b),
    };
    let replayed = replay_sample(settings, &a, &b, &views);
    let changes = rules::diff::diff(&a, &b);
    let breaking = changes.iter().filter(|c| c.breaking).count();
    if format == CheckFormat::Json {
        let out = serde_json::json!({"old_version": a.version, "new_version": b.version,
            "breaking": breaking, "changes": changes,
            "replay": {"sample": if sample.is_some() { "file" } else { "generated" },
                "views": replayed.views, "skipped": replayed.skipped, "slots": replayed.slots}});
        drop(writeln!(std::io::stdout(), "{out:#}"));
    } else {
        for c in &changes {
            let flag = if c.breaking { " [BREAKING]" } else { "" };
            let kind = serde_json::to_value(c.kind).ok();
            let kind = kind.as_ref().and_then(|k| k.as_str()).unwrap_or("change");
            drop(writeln!(std::io::stdout(), "{kind} {}: {}{flag}", c.id, c.detail));
        }
        drop(writeln!(
            std::io::stdout(),
            "{} change(s), {breaking} breaking",
            changes.len()
        ));
        print_replay(&replayed, sample.is_some());
    }
    if deny_breaking && breaking > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Decides every view of `views` on both sets through the page-view pipeline, with fixed keys.
fn replay_sample(
    settings: &Settings,
    a: &rules::RuleSet,
    b: &rules::RuleSet,
    views: &[impact::SampleView],
) -> impact::Replay {
    let keyring = impact::fixed_keyring();
    let extractor = settings.signal_extractor();
    let policy = settings.consent_policy();
    let pipeline = Pipeline {
        extractor: &extractor,
        consent: &policy,
        keyring: &keyring,
        records: ExplainRequest::default().records(),
        pii_policy: settings.privacy.pii_policy,
    };
    impact::replay(&pipeline, a, b, views)
}

fn print_replay(r: &impact::Replay, from_file: bool) {
    let mut out = std::io::stdout();
    let source = if from_file {
        "the sample"
    } else {
        "a sample generated from the rules"
    };
    drop(writeln!(
        out,
        "replay of {} page view(s) from {source} ({} skipped), consent granted:",
        r.views, r.skipped
    ));
    for s in &r.slots {
        let share = if s.views == 0 {
            0.0
        } else {
            100.0 * s.changed as f64 / s.views as f64
        };
        drop(writeln!(
            out,
            "  {}: {} of {} decision(s) change ({share:.1}%)",
            s.slot, s.changed, s.views
        ));
        for t in &s.transitions {
            let what = if t.from == t.to { " (content)" } else { "" };
            drop(writeln!(out, "    {} → {}{what}: {}", t.from, t.to, t.views));
        }
    }
}

/// Lists the names of the taxonomy ids the segments use (already verified while loading).
fn print_taxonomy_names(settings: &Settings, set: &rules::RuleSet) {
    let dir = &settings.rtb.taxonomy_dir;
    let (Ok(audience), Ok(content)) = (Taxonomy::audience(dir), Taxonomy::content(dir)) else {
        return;
    };
    let mut lines = Vec::new();
    for s in &set.segments {
        for (kind, ids, tax) in [
            ("audience_taxonomy", &s.audience_taxonomy, &audience),
            ("content_taxonomy", &s.content_taxonomy, &content),
        ] {
            for id in ids {
                lines.push(format!(
                    "  {:<26} {kind} {id:>5}  {}",
                    s.id,
                    tax.name(id).unwrap_or("?")
                ));
            }
        }
    }
    if !lines.is_empty() {
        println!("taxonomy ids (IAB Tech Lab, CC BY 3.0):");
        for l in lines {
            println!("{l}");
        }
    }
}

/// Runs `explain`.
pub fn explain(settings: &Settings, args: &ExplainArgs) -> ExitCode {
    match explain_inner(settings, args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

fn explain_inner(settings: &Settings, a: &ExplainArgs) -> Result<String, String> {
    let dir = a.rules.as_deref().unwrap_or(&settings.rules.dir);
    let set = rules::load_dir_with(dir, &settings.rule_options())
        .map_err(|e| e.to_string())?
        .rules;
    let request = a.request();
    let now = SystemTime::now();
    // An ephemeral keyring: the arm shown is an example, the server's secret differs.
    let keyring = Keyring::new(Secret::generate(), now);
    let extractor = settings.signal_extractor();
    let policy = settings.consent_policy();
    let pipeline = Pipeline {
        extractor: &extractor,
        consent: &policy,
        keyring: &keyring,
        records: request.records(),
        pii_policy: settings.privacy.pii_policy,
    };
    let located = match request.address().map_err(|e| format!("error: {e}"))? {
        Some(ip) => Locator::open(&settings.geo)
            .map_err(|e| format!("error: {e}"))?
            .locate(ip),
        None => None,
    };
    let view = pipeline
        .view(request.input(now, located))
        .map_err(|e| format!("error: {e}"))?;
    let decision = view.decide(&set, None);
    let explanation = Explanation::new(&set, &view, &decision, request.consent == ExplainConsent::Granted);
    if a.json {
        return serde_json::to_string_pretty(&explanation).map_err(|e| e.to_string());
    }
    Ok(explanation.to_text())
}

impl ExplainArgs {
    /// The page view these flags describe.
    fn request(&self) -> ExplainRequest {
        ExplainRequest {
            url: self.url.clone(),
            referrer: self.referrer.clone(),
            category: self.category.clone(),
            country: self.country.clone(),
            address: self.address.clone(),
            user_agent: self.user_agent.clone(),
            accept_language: self.accept_language.clone(),
            tz_offset_minutes: self.tz_offset,
            pages_viewed: self.pages_viewed,
            session_categories: self.session_categories.clone(),
            returning: self.returning,
            gpc: self.gpc,
            tcf: self.tcf.clone(),
            us_privacy: self.us_privacy.clone(),
            consent: if self.consent == "granted" {
                ExplainConsent::Granted
            } else {
                ExplainConsent::Default
            },
            visitor_id: self.visitor_id.clone(),
        }
    }
}
