//! `personify verify-receipt` and `personify audit`: the consent log checked from outside, with
//! nothing but a verifier key and checkpoints the caller kept (`crate::domain::ledger::offline`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::domain::ledger::checkpoint::NoteVerifier;
use crate::domain::ledger::offline::{self, ConsistencyProof, InclusionProof};

/// `verify-receipt` arguments.
#[derive(Debug, Args)]
pub struct VerifyReceiptArgs {
    /// The proof JSON from `GET /v1/consent/receipts/{id}/proof`.
    pub proof: PathBuf,
    /// A signed checkpoint of the proof's tree size (default: the one inside the proof).
    pub checkpoint: Option<PathBuf>,
    /// The log's verifier key (`GET /v1/consent/log/public-key`), or `@FILE` holding it.
    #[arg(long)]
    pub vkey: String,
}

/// `audit` arguments: the consistency of an old checkpoint with the log today.
#[derive(Debug, Args)]
pub struct ConsistencyArgs {
    /// A checkpoint kept from earlier.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The server's base URL (http://…); fetches its newest checkpoint and the consistency proof.
    #[arg(long, conflicts_with_all = ["new", "proof"])]
    pub url: Option<String>,
    /// Instead of --url: the newer checkpoint, fetched by other means (e.g. curl over https).
    #[arg(long, requires = "proof")]
    pub new: Option<PathBuf>,
    /// Instead of --url: the consistency proof JSON between the two sizes.
    #[arg(long)]
    pub proof: Option<PathBuf>,
    /// The log's verifier key, or `@FILE` holding it.
    #[arg(long)]
    pub vkey: String,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn verifier(raw: &str) -> Result<NoteVerifier, String> {
    let text = match raw.strip_prefix('@') {
        Some(file) => read(Path::new(file))?,
        None => raw.to_string(),
    };
    NoteVerifier::parse(&text).map_err(|e| format!("--vkey: {e}"))
}

fn finish(r: Result<String, String>) -> ExitCode {
    match r {
        Ok(msg) => {
            println!("ok: {msg}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("FAILED: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `verify-receipt`.
pub fn verify_receipt(args: &VerifyReceiptArgs) -> ExitCode {
    finish((|| {
        let key = verifier(&args.vkey)?;
        let proof: InclusionProof = serde_json::from_str(&read(&args.proof)?)
            .map_err(|e| format!("{}: not a proof: {e}", args.proof.display()))?;
        let note = match &args.checkpoint {
            Some(p) => read(p)?,
            None => proof.checkpoint.clone(),
        };
        let cp = offline::verify_receipt(&proof, &note, &key).map_err(|e| e.to_string())?;
        Ok(format!(
            "entry {} is in the log {} of {} entries signed by {}",
            proof.leaf_index, cp.origin, cp.size, key.name
        ))
    })())
}

/// GET over plain HTTP (an auditor inside the network, or a local port-forward); https is fetched
/// with other tools and passed as files.
async fn get(url: &str) -> Result<String, String> {
    let resp = reqwest::get(url).await.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}: {}", body.trim()));
    }
    Ok(body)
}

/// Runs `audit`: an old checkpoint is a prefix of the log today.
pub fn consistency(args: &ConsistencyArgs) -> ExitCode {
    finish((|| {
        let key = verifier(&args.vkey)?;
        let old_note = read(&args.checkpoint)?;
        let old = key.open(&old_note).map_err(|e| format!("old checkpoint: {e}"))?;
        let (new_note, proof_json) = match (&args.url, &args.new, &args.proof) {
            (Some(url), _, _) => {
                let base = url.trim_end_matches('/');
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async {
                    let new_note = get(&format!("{base}/v1/consent/log/checkpoint")).await?;
                    let new = key.open(&new_note).map_err(|e| format!("newest checkpoint: {e}"))?;
                    if new.size <= old.size {
                        return Ok((new_note, None));
                    }
                    let proof = get(&format!(
                        "{base}/v1/consent/log/consistency?first={}&second={}",
                        old.size, new.size
                    ))
                    .await?;
                    Ok::<_, String>((new_note, Some(proof)))
                })?
            }
            (None, Some(new), Some(proof)) => (read(new)?, Some(read(proof)?)),
            _ => return Err("give --url, or --new and --proof".into()),
        };
        let proof: Option<ConsistencyProof> = proof_json
            .map(|p| serde_json::from_str(&p).map_err(|e| format!("not a consistency proof: {e}")))
            .transpose()?;
        let (old, new) =
            offline::verify_extends(&old_note, &new_note, proof.as_ref(), &key).map_err(|e| e.to_string())?;
        Ok(format!(
            "the log of {} entries extends the checkpoint of {} entries (no entry was changed or removed)",
            new.size, old.size
        ))
    })())
}

/// Runs `rotate-secret`.
pub fn rotate_secret(settings: &crate::config::Settings) -> ExitCode {
    let run = async {
        let store = crate::store::open_with(settings.store.url.as_str(), settings.store.ca_file.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        crate::engine::secrets::rotate(store.as_ref())
            .await
            .map_err(|e| e.to_string())
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return finish(Err(e.to_string())),
    };
    finish(rt.block_on(run).map(|g| {
        format!(
            "visitor-key secret generation {g} is now current: restart every node. First-party visitors are \
             re-bucketed in experiments; consent records and opt-outs under earlier generations stay enforced."
        )
    }))
}
