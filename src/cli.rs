//! The `personify` command line: `serve` (default), `check [DIR]`, `explain --url URL …`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
use crate::consent::{ConsentInput, ConsentPolicy};
use crate::decide::{decide, Reason};
use crate::privacy::{Keyring, Secret, VisitorId};
use crate::rtb::taxonomy::Taxonomy;
use crate::rules::load::{JsonDiagnostic, Severity};
use crate::rules::{self, LoadOptions, RuleError};
use crate::signals::{PageView, RequestMeta, SessionSummary, SignalExtractor};

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
    Demo(crate::demo::DemoArgs),
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
        /// `text` or `json` (`{old_version, new_version, breaking, changes}`).
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
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
    let (loaded, diagnostics) = match rules::load_dir_with(dir, &LoadOptions::from_settings(settings)) {
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

/// Runs `diff`: both directories must load; prints every change and exits 1 on a breaking one
/// under `--deny breaking` (2 when a directory does not load).
pub fn diff(settings: &Settings, old: &Path, new: &Path, deny_breaking: bool, format: CheckFormat) -> ExitCode {
    let options = LoadOptions::from_settings(settings);
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
    let changes = rules::diff::diff(&a, &b);
    let breaking = changes.iter().filter(|c| c.breaking).count();
    if format == CheckFormat::Json {
        let out = serde_json::json!({"old_version": a.version, "new_version": b.version,
            "breaking": breaking, "changes": changes});
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
    }
    if deny_breaking && breaking > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
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
    let set = rules::load_dir_with(dir, &LoadOptions::from_settings(settings))
        .map_err(|e| e.to_string())?
        .rules;
    let session =
        (a.pages_viewed.is_some() || !a.session_categories.is_empty() || a.returning).then(|| SessionSummary {
            pages_viewed: a.pages_viewed.unwrap_or(0),
            categories: a.session_categories.clone(),
            returning: a.returning,
        });
    let view = PageView::parse(
        None,
        &a.url,
        a.referrer.clone(),
        a.category.clone(),
        session,
        a.tz_offset,
    )
    .map_err(|e| format!("error: {e}"))?;
    let now = SystemTime::now();
    let meta = RequestMeta {
        user_agent: a.user_agent.as_deref(),
        client_hints: Default::default(),
        accept_language: a.accept_language.as_deref(),
        country: a.country.as_deref(),
    };
    let extracted = SignalExtractor::new(settings)
        .extract(&view, meta, now)
        .map_err(|e| format!("error: {e}"))?;
    let mut warnings = extracted.warnings.clone();
    let consent = if a.consent == "granted" {
        // As if an explicit record granted everything: what the rules can show at most.
        let record = crate::consent::Record {
            purposes: crate::consent::Purposes::ALL,
            opted_out: false,
            recorded_at: 0,
        };
        ConsentPolicy::new(&settings.consent).resolve(
            &ConsentInput {
                record: Some(&record),
                ..Default::default()
            },
            &mut warnings,
        )
    } else {
        let input = ConsentInput {
            country: extracted.signals.country,
            gpc: a.gpc,
            tcf: a.tcf.as_deref(),
            us_privacy: a.us_privacy.as_deref(),
            ..Default::default()
        };
        ConsentPolicy::new(&settings.consent).resolve(&input, &mut warnings)
    };
    // An ephemeral keyring: the arm shown is an example, the server's secret differs.
    let keyring = Keyring::new(Secret::generate(), now);
    let site = extracted.signals.site.clone().unwrap_or_default();
    let key = match &a.visitor_id {
        Some(id) => keyring.first_party(
            &site,
            &VisitorId::parse(id).map_err(|e| format!("error: --visitor-id {e}"))?,
        ),
        None => keyring.cookieless(&site, None, a.user_agent.as_deref().unwrap_or(""), now),
    };
    let decision = decide(&set, &extracted.signals, &consent, &key, None);

    if a.json {
        let slots: serde_json::Map<String, serde_json::Value> = decision
            .slots
            .iter()
            .map(|d| {
                let content: serde_json::Value = serde_json::from_str(d.variant.content.get()).unwrap_or_default();
                (d.slot.id.clone(), serde_json::json!({"variant": d.variant.id, "content": content, "because": reason_text(&d.reason, &set)}))
            })
            .collect();
        let out = serde_json::json!({
            "signals": extracted.signals.to_json(),
            "consent": consent,
            "segments": decision.segments.iter().map(|s| serde_json::json!({"id": s.id, "name": s.name, "priority": s.priority, "defined_at": s.defined_at})).collect::<Vec<_>>(),
            "decisions": slots,
            "warnings": warnings,
            "rules_version": set.version,
        });
        return serde_json::to_string_pretty(&out).map_err(|e| e.to_string());
    }

    let mut out = String::new();
    out.push_str("signals:\n");
    for (k, v) in extracted.signals.to_json() {
        out.push_str(&format!("  {k} = {v}\n"));
    }
    let p = consent.purposes;
    let basis = if a.consent == "granted" {
        "assumed explicit consent (--consent granted)".to_string()
    } else {
        serde_json::to_value(consent.basis)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    out.push_str(&format!(
        "consent: personalize={} measure={} advertise={} (basis: {basis})\n",
        p.personalize, p.measure, p.advertise
    ));
    out.push_str("segments:\n");
    if decision.segments.is_empty() {
        out.push_str("  (none)\n");
    }
    for s in &decision.segments {
        let flag = s
            .sensitive
            .as_deref()
            .map(|c| format!(" [sensitive: {c}]"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {} \"{}\" priority {}{} ({})\n",
            s.id, s.name, s.priority, flag, s.defined_at
        ));
    }
    out.push_str("decisions:\n");
    for d in &decision.slots {
        out.push_str(&format!(
            "  {}: {} because {}\n",
            d.slot.id,
            d.variant.id,
            reason_text(&d.reason, &set)
        ));
    }
    for w in &warnings {
        out.push_str(&format!("warning: {}: {}\n", w.field, w.message));
    }
    out.push_str(&format!("rules {}", set.version));
    Ok(out)
}

fn reason_text(reason: &Reason<'_>, set: &rules::RuleSet) -> String {
    match reason {
        Reason::NoConsent => "no personalize consent: the slot default".into(),
        Reason::SensitivePage => "the page matches a sensitive segment and consent is not explicit: the default".into(),
        Reason::NoRule => "no matched segment has a rule for this slot: the default".into(),
        Reason::Segment(s) => format!("segment {} (priority {}) maps to it", s.id, s.priority),
        Reason::Experiment {
            segment,
            experiment,
            arm,
        } => {
            let arms: Vec<String> = set
                .experiment(&experiment.id)
                .map(|e| {
                    e.arm_labels()
                        .zip(&e.experiment.arms)
                        .map(|(label, a)| format!("{label} {}%", a.weight))
                        .collect()
                })
                .unwrap_or_default();
            let which = if arm.is_some() {
                "an arm"
            } else {
                "the holdout (default)"
            };
            format!(
                "segment {} runs experiment {} (holdout {}%, arms {}); this visitor key fell in {which}",
                segment.id,
                experiment.id,
                experiment.holdout_bp / 100,
                arms.join(", ")
            )
        }
    }
}
