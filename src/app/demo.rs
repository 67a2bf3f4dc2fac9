//! `personify demo`: serves the example bank site (`examples/bank-site/`) on a second origin, so the
//! SDK can be tried as a visitor would meet it: a page on one origin calling personify on another.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::cli::demo::{DemoArgs, PAGE_ENDPOINT};

/// What the handler needs.
struct Site {
    /// The root directory.
    dir: PathBuf,
    /// personify's base URL without a trailing slash.
    endpoint: String,
}

/// Runs `demo` until interrupted.
pub fn run(args: &DemoArgs) -> ExitCode {
    if !args.dir.join("index.html").is_file() {
        eprintln!(
            "{}: no index.html (run from the repository root or pass --dir)",
            args.dir.display()
        );
        return ExitCode::FAILURE;
    }
    let site = web::Data::new(Site {
        dir: args.dir.clone(),
        endpoint: args.endpoint.trim_end_matches('/').to_string(),
    });
    let served = actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || App::new().app_data(site.clone()).default_service(web::get().to(file)))
            .workers(1)
            .bind((args.host.as_str(), args.port))?;
        for addr in server.addrs() {
            println!("demo site on http://{addr} (personify at {})", args.endpoint);
        }
        server.run().await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Maps a URL path to a file under the root: `/` and `dir/` to `index.html`, `/page` to `page.html`;
/// anything climbing out of the root (`..`, absolute parts, hidden files) to nothing.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = Path::new(url_path.trim_start_matches('/'));
    let safe = rel.components().all(|c| match c {
        Component::Normal(part) => !part.to_string_lossy().starts_with('.'),
        _ => false,
    });
    if !safe {
        return None;
    }
    let base = root.join(rel);
    let candidates = [base.clone(), base.with_extension("html"), base.join("index.html")];
    candidates.into_iter().find(|p| p.is_file())
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

async fn file(req: HttpRequest, site: web::Data<Site>) -> HttpResponse {
    let Some(path) = resolve(&site.dir, req.path()) else {
        return HttpResponse::NotFound().content_type("text/plain").body("not found");
    };
    let Ok(bytes) = std::fs::read(&path) else {
        return HttpResponse::NotFound().content_type("text/plain").body("not found");
    };
    let kind = content_type(&path);
    let body = match String::from_utf8(bytes) {
        Ok(text) if kind.starts_with("text/html") => text.replace(PAGE_ENDPOINT, &site.endpoint).into_bytes(),
        Ok(text) => text.into_bytes(),
        Err(e) => e.into_bytes(),
    };
    HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_the_site() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bank-site");
        assert_eq!(resolve(&root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(&root, "/mortgages"), Some(root.join("mortgages.html")));
        for bad in ["/../Cargo.toml", "/..%2fCargo.toml", "/.git/config", "//etc/passwd"] {
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
    }
}
