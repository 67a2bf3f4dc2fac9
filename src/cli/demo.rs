//! `personify demo`'s arguments; the server it runs is in the app layer.

use std::path::PathBuf;

use clap::Args;

/// The personify origin written into the example pages' script tags.
pub const PAGE_ENDPOINT: &str = "http://127.0.0.1:8080";

/// Where the demo site is served from, and which personify it talks to.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
    /// The site's directory.
    #[arg(long, default_value = "examples/bank-site")]
    pub dir: PathBuf,
    /// personify's base URL, replacing http://127.0.0.1:8080 in the pages' script tags.
    #[arg(long, default_value = PAGE_ENDPOINT)]
    pub endpoint: String,
}
