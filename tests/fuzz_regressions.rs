//! Inputs the fuzz targets in `fuzz/` found, kept as tests on the exact bytes: each decoder answers
//! them with an error, never a panic, and the server with a warning, never a 500.

mod common;

use common::*;
use personify::consent::us::{decode_gpp, UsError};
use serde_json::json;

/// `fuzz/` target `gpp_us`: a GPP header whose section-id range overflows an integer inside the
/// `iab_gpp` crate (a panic in builds with overflow checks).
const GPP_RANGE_OVERFLOW: &str = "DBA9999999999999999999999999999999999BLA~CEAaAAAAAABA.QA";

#[test]
fn a_gpp_header_that_overflows_inside_the_gpp_crate_is_an_undecodable_string() {
    assert_eq!(decode_gpp(GPP_RANGE_OVERFLOW, None), Err(UsError::Gpp));
    assert_eq!(decode_gpp(GPP_RANGE_OVERFLOW, Some(&[7])), Err(UsError::Gpp));
}

#[tokio::test]
async fn a_decide_request_with_a_gpp_string_that_breaks_the_gpp_crate_is_answered_with_a_warning() {
    let app = spawn_app().await;
    let body = json!({
        "page": {"url": "https://bank.example/mortgages/fixed-rate"},
        "consent": {"gpp": GPP_RANGE_OVERFLOW, "gpp_sid": [7]}
    });
    let v = app.decide_ok(&body).await;
    let warnings = v["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w["code"] == "consent_string_invalid" && w["field"] == "consent.gpp"),
        "{warnings:?}"
    );
}
