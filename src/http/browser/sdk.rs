//! `GET /sdk/personify.js` (classic script) and `GET /sdk/personify.mjs` (ES module): the browser SDK,
//! built from `sdk/src/` into `sdk/dist/` and compiled into the binary, so serving it needs no node.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// How long browsers and CDNs may reuse the script before revalidating with its `ETag`: a fixed
/// release reaches every page within five minutes.
const CACHE_CONTROL: &str = "public, max-age=300";

/// One built file and its strong validator.
struct Asset {
    /// The file's content.
    body: &'static str,
    /// `"sha256-hex"`, quoted as an entity tag.
    etag: String,
}

impl Asset {
    fn new(body: &'static str) -> Asset {
        Asset {
            body,
            etag: format!("\"{}\"", hex::encode(Sha256::digest(body.as_bytes()))),
        }
    }

    fn serve(&self, req: &HttpRequest) -> HttpResponse {
        let matches = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == self.etag || t.trim() == "*"));
        let mut res = if matches {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        res.insert_header((header::ETAG, self.etag.as_str()))
            .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
        if matches {
            res.finish()
        } else {
            res.content_type("text/javascript; charset=utf-8").body(self.body)
        }
    }
}

static CLASSIC: LazyLock<Asset> = LazyLock::new(|| Asset::new(include_str!("../../../sdk/dist/personify.js")));
static MODULE: LazyLock<Asset> = LazyLock::new(|| Asset::new(include_str!("../../../sdk/dist/personify.mjs")));

/// `GET /sdk/personify.js`
pub async fn classic(req: HttpRequest) -> HttpResponse {
    CLASSIC.serve(&req)
}

/// `GET /sdk/personify.mjs`
pub async fn module(req: HttpRequest) -> HttpResponse {
    MODULE.serve(&req)
}
