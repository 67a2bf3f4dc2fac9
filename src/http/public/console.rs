//! `GET /console/` and `GET /console/{asset}`: the web console, a handful of static files from
//! `console/` compiled into the binary (see `docs/architecture.md`, "The console"). The pages hold no
//! data: they call the token routes with the token the user signs in with.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::http::error::ApiError;

/// Only our own files, no inline script or style, no framing, no form posts elsewhere: the console
/// handles tokens, so an injected script must find nothing it may run and nowhere to send it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// Every file of `console/`, by name, with its media type. `every_console_file_is_served` below fails
/// when a file is added to `console/` but not here.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../../console/index.html"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../../console/console.css"),
    ),
    ("app.js", JS, include_str!("../../../console/app.js")),
    ("api.js", JS, include_str!("../../../console/api.js")),
    ("dom.js", JS, include_str!("../../../console/dom.js")),
    ("overview.js", JS, include_str!("../../../console/overview.js")),
    ("compliance.js", JS, include_str!("../../../console/compliance.js")),
    ("reports.js", JS, include_str!("../../../console/reports.js")),
    ("rules.js", JS, include_str!("../../../console/rules.js")),
    ("explain.js", JS, include_str!("../../../console/explain.js")),
    ("preview.js", JS, include_str!("../../../console/preview.js")),
    ("forest.js", JS, include_str!("../../../console/forest.js")),
    ("stats.js", JS, include_str!("../../../console/stats.js")),
    ("icon.svg", "image/svg+xml", include_str!("../../../console/icon.svg")),
];

const JS: &str = "text/javascript; charset=utf-8";

fn serve(name: &str) -> Result<HttpResponse, ApiError> {
    let (_, media_type, body) = ASSETS.iter().find(|(n, _, _)| *n == name).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(*media_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // A new binary may ship new files: revalidate instead of mixing old and new modules.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(*body))
}

/// `GET /console/`
pub async fn index() -> Result<HttpResponse, ApiError> {
    serve("index.html")
}

/// `GET /console/{asset}`: one of the files above, or the JSON 404.
pub async fn asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("asset").unwrap_or_default();
    serve(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_file_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                ASSETS.iter().any(|(n, _, _)| *n == name),
                "console/{name} is not listed in src/http/console.rs"
            );
        }
    }
}
