//! The log key's file: a 32-byte Ed25519 seed, base64, mode 0600, kept outside the database and the
//! data directory so that whoever can rewrite the store cannot also re-sign its history.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;

use crate::domain::ledger::checkpoint::LogKey;

/// Why the log key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file exists but cannot be read, or cannot be created.
    #[error("consent log key {path}: {source}")]
    Io {
        /// The configured path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold a base64 32-byte seed.
    #[error("consent log key {0}: not a base64-encoded 32-byte Ed25519 seed")]
    Malformed(String),
    /// Group or others may read the key file.
    #[error("consent log key {0}: readable by group or others; chmod 600 it")]
    Permissions(String),
    /// The key file lies inside the data directory it is meant to protect.
    #[error("consent log key {0}: lies inside the data directory; keep it outside (see docs/decisions/002-consent-ledger.md)")]
    InsideDataDir(String),
}

fn decode(text: &str, what: &str) -> Result<[u8; 32], KeyError> {
    B64.decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KeyError::Malformed(what.to_string()))
}

/// The key from the environment's seed (decoded at load, `consent.log_key_seed`), or from `path`,
/// created there on first start. `data_dir` is the store's directory when it is a local file (the key
/// must not lie inside it; configuration refuses that at load already).
pub fn load_or_create(
    name: &str,
    env_seed: Option<&[u8; 32]>,
    path: &Path,
    data_dir: Option<&Path>,
) -> Result<LogKey, KeyError> {
    if let Some(seed) = env_seed {
        return Ok(LogKey::from_seed(name, *seed));
    }
    let shown = path.display().to_string();
    if data_dir.is_some_and(|d| crate::config::path_is_inside(path, d)) {
        return Err(KeyError::InsideDataDir(shown));
    }
    let io = |source| KeyError::Io {
        path: shown.clone(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
                if mode & 0o077 != 0 {
                    return Err(KeyError::Permissions(shown));
                }
            }
            Ok(LogKey::from_seed(name, decode(&text, &shown)?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            // Written whole to a private temporary file, then linked into place: a second node
            // starting at the same moment either wins the link or reads the complete winner.
            let tmp = path.with_extension(format!("tmp.{}", hex::encode(&seed[..6])));
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(format!("{}\n", B64.encode(seed)).as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
            let linked = std::fs::hard_link(&tmp, path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => Ok(LogKey::from_seed(name, seed)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(name, None, path, data_dir),
                Err(e) => Err(io(e)),
            }
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_once_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let path = dir.path().join("keys/log.key");
        let a = load_or_create("log", None, &path, Some(&data)).unwrap();
        let b = load_or_create("log", None, &path, Some(&data)).unwrap();
        assert_eq!(a.verifier(), b.verifier());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_inside_the_data_directory_or_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("data/log.key");
        assert!(matches!(
            load_or_create("log", None, &inside, Some(&dir.path().join("data"))),
            Err(KeyError::InsideDataDir(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join("open.key");
            std::fs::write(&path, B64.encode([1u8; 32])).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                load_or_create("log", None, &path, Some(&dir.path().join("data"))),
                Err(KeyError::Permissions(_))
            ));
        }
    }

    #[test]
    fn the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let k = load_or_create("log", Some(&[5u8; 32]), &dir.path().join("unused"), Some(dir.path())).unwrap();
        assert_eq!(k.verifier(), LogKey::from_seed("log", [5; 32]).verifier());
    }
}
