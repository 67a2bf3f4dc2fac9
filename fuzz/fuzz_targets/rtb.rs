//! OpenRTB bid requests: JSON in, an answer or a field-named error out, never a panic, and nothing
//! released without `advertise` consent.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use personify::domain::counts::report::Seen;
use personify::domain::rtb::{evaluate, BidRequest, Caller, RtbContext};

fuzz_target!(|data: &[u8]| common::run(|| one(data)));

fn one(data: &[u8]) {
    // The server's path: any JSON value, then the typed reading that names a wrong-typed field.
    let Ok(raw) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(req) = BidRequest::from_json(&raw) else {
        return;
    };
    // Every segment counts as above k (visitors and networks), so the fuzzer reaches the release path.
    let uniques = |_: &str| Seen {
        visitors: 1e9,
        networks: 1e9,
    };
    let ctx = RtbContext {
        rules: &common::RULES,
        extractor: &common::EXTRACTOR,
        consent: &common::POLICY,
        provider: "personify.fuzz.example",
        k: 50,
        rolling_uniques: &uniques,
        sec_gpc: data.len() % 2 == 1,
    };
    // Both callers: a server whose body geolocates, and a browser whose country is the header's.
    let caller = if data.first().is_some_and(|b| b % 2 == 0) {
        Caller::Server
    } else {
        Caller::Browser {
            country: Some("US"),
            located: None,
        }
    };
    let Ok(answer) = evaluate(req, caller, &ctx, common::now()) else {
        return;
    };
    let released = answer.user.is_some() || answer.site.is_some();
    assert!(
        !released || answer.personify.consent.purposes.advertise,
        "taxonomy released without advertise consent"
    );
    serde_json::to_vec(&answer).expect("an answer serialises");
}
