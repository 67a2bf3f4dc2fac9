//! OpenRTB bid requests: JSON in, an answer or a field-named error out, never a panic, and nothing
//! released without `advertise` consent.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use personify::rtb::{evaluate, BidRequest, RtbContext};

fuzz_target!(|data: &[u8]| common::run(|| one(data)));

fn one(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<BidRequest>(data) else {
        return;
    };
    // Every segment counts as above k, so the fuzzer reaches the release path.
    let uniques = |_: &str| 1e9;
    let ctx = RtbContext {
        rules: &common::RULES,
        extractor: &common::EXTRACTOR,
        consent: &common::POLICY,
        provider: "personify.fuzz.example",
        k: 50,
        rolling_uniques: &uniques,
    };
    let Ok(answer) = evaluate(req, &ctx, common::now()) else {
        return;
    };
    let released = answer.user.is_some() || answer.site.is_some();
    assert!(
        !released || answer.personify.consent.purposes.advertise,
        "taxonomy released without advertise consent"
    );
    serde_json::to_vec(&answer).expect("an answer serialises");
}
