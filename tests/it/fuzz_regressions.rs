//! Inputs the fuzz targets in `fuzz/` found, kept as tests on the exact bytes: each decoder answers
//! them with an error, never a panic, and the server with a warning, never a 500.

use std::time::Duration;

use base64::Engine;
use personify::domain::consent::tcf::{self, TcfError};
use personify::domain::consent::us::{decode_gpp, UsError};
use personify::domain::counts::sketch::{Sketch, SketchError, HASHER_ID};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::*;

/// `fuzz/` target `gpp_us`: a GPP header whose section-id range overflows an integer inside the
/// `iab_gpp` crate (a panic in builds with overflow checks).
const GPP_RANGE_OVERFLOW: &str = "DBA9999999999999999999999999999999999BLA~CEAaAAAAAABA.QA";

#[test]
fn a_gpp_header_that_overflows_inside_the_gpp_crate_is_an_undecodable_string() {
    assert_eq!(decode_gpp(GPP_RANGE_OVERFLOW, None), Err(UsError::Gpp));
    assert_eq!(decode_gpp(GPP_RANGE_OVERFLOW, Some(&[7])), Err(UsError::Gpp));
}

/// Found with the TCF budget: a GPP string may repeat a section id, and every copy of its TCF section
/// was decoded, each spending a whole budget. The header `DBADNs` lists sections 2, 3 and 2.
#[test]
fn a_gpp_string_with_two_tcf_sections_is_undecodable() {
    let tc = "CQuAQVAQuDWFQAfAECENCWEgAMMgAAAAAAwIF5wAoAAgAGAvMAAAAAAA.IAAA.YAAAAAAAAAAA";
    let once = decode_gpp(&format!("DBABMA~{tc}"), None).expect("one TCF section decodes");
    assert!(once.tcf.is_some());
    assert_eq!(decode_gpp(&format!("DBADNs~{tc}~X~{tc}"), None), Err(UsError::Gpp));
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

/// A TCF v2.2 core string consenting purposes 1-11 whose vendor consents are `ranges` (start, end)
/// pairs, each 33 bits, however many ids they name.
fn tc_string_with_ranges(ranges: &[(u16, u16)]) -> String {
    let mut bits: Vec<bool> = Vec::new();
    let mut put = |v: u64, n: u32| bits.extend((0..n).rev().map(|i| (v >> i) & 1 == 1));
    put(2, 6); // version
    put(17_951_688_000, 36); // created
    put(17_952_498_000, 36); // last updated
    put(31, 12); // CMP id
    put(4, 12); // CMP version
    put(2, 6); // consent screen
    put(4, 6); // "E"
    put(13, 6); // "N"
    put(150, 12); // vendor list version
    put(4, 6); // TCF policy version
    put(1, 1); // service specific
    put(0, 1); // non-standard texts
    put(0, 12); // special features
    put(0xFFE000, 24); // purposes 1-11
    put(0, 24); // purposes LI
    put(0, 1); // purpose one treatment
    put(6, 6); // "G"
    put(1, 6); // "B"
    put(u64::from(u16::MAX), 16); // max vendor id
    put(1, 1); // range encoding
    put(ranges.len() as u64, 12);
    for &(start, end) in ranges {
        put(1, 1);
        put(u64::from(start), 16);
        put(u64::from(end), 16);
    }
    put(0, 16); // vendor LI: max vendor id 0, bitfield
    put(0, 1);
    put(0, 12); // no publisher restrictions
    let bytes: Vec<u8> = bits
        .chunks(8)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |b, (i, &bit)| b | (u8::from(bit) << (7 - i)))
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Found reading the decoder while `tcf` ran: each range named up to 65,535 ids, each a set insert,
/// so one 16 KiB string cost seconds of CPU, and overlapping ranges cost it again and again.
#[test]
fn a_tc_string_whose_ranges_name_more_vendor_ids_than_any_real_one_is_refused() {
    let full = tc_string_with_ranges(&[(1, u16::MAX); 3]);
    assert_eq!(tcf::decode(&full), Err(TcfError::TooManyIds));
    // A real string's ranges (every GVL vendor, in two lists' worth) still decode.
    let real = tc_string_with_ranges(&[(1, 1400), (1500, 1900)]);
    let tc = tcf::decode(&real).expect("a realistic range decodes");
    assert_eq!(tc.vendor_consents.len(), 1400 + 401);
    assert!(tc.purpose(11));
}

#[tokio::test]
async fn a_decide_request_with_a_tc_string_of_huge_vendor_ranges_is_answered_at_once() {
    let app = spawn_app().await;
    // 2,800 ranges of every vendor id fit in the default 16 KiB body: 183 million set inserts
    // before the budget, seconds even in a release build.
    let tc = tc_string_with_ranges(&[(1, u16::MAX); 2800]);
    let body = json!({"page": {"url": "https://bank.example/mortgages/fixed-rate"}, "consent": {"tcf": tc}});
    let res = reqwest::Client::new()
        .post(app.url("/v1/decide"))
        .header("CF-IPCountry", "DE")
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("answered within 10 s");
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.expect("json");
    assert_eq!(v["consent"]["basis"], "jurisdiction_opt_in", "{v}");
    assert!(
        v["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w["code"] == "consent_string_invalid" && w["field"] == "consent.tcf"),
        "{v}"
    );
}

/// A stored envelope around `payload`, with a correct checksum.
fn envelope(payload: &[u8]) -> Vec<u8> {
    let mut blob = Sketch::new().to_envelope()[..7 + HASHER_ID.len()].to_vec();
    blob.extend_from_slice(&Sha256::digest(payload));
    blob.extend_from_slice(payload);
    blob
}

/// `fuzz/` target `sketch`, input `02 48 00 00 00 2c 2c`: a sketch of 72 keys whose payload's first
/// byte (the crate's own precision field) was flipped under a valid checksum. It decoded and counted,
/// then the next insert or merge overflowed inside the HLL crate, outside any `catch_unwind`.
#[test]
fn a_sketch_whose_payload_claims_another_precision_is_refused() {
    let mut s = Sketch::new();
    for i in 0u32..72 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&i.to_le_bytes());
        key[4..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9).to_le_bytes());
        s.insert(&key);
    }
    let blob = s.to_envelope();
    let payload = &blob[7 + HASHER_ID.len() + 32..];
    let mut intact = Sketch::from_envelope(&envelope(payload)).expect("the intact payload decodes");
    assert_eq!(intact.count(), s.count());

    let mut flipped = payload.to_vec();
    flipped[0] ^= 0x2c;
    let decoded = Sketch::from_envelope(&envelope(&flipped));
    assert_eq!(decoded.as_ref().err(), Some(&SketchError::Payload));
}
