//! GPP and US privacy strings, alone and through consent resolution.
//!
//! Input: up to four lines, `tcf`, `gpp`, `gpp_sid` (comma-separated section ids) and `us_privacy`;
//! an empty line is an absent field.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use personify::domain::consent::us::{decode_gpp, UsPrivacy};
use personify::domain::consent::ConsentInput;
use personify::domain::signals::Country;

fuzz_target!(|data: &[u8]| common::run(|| one(data)));

fn one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.splitn(4, '\n');
    let mut field = || lines.next().filter(|l| !l.is_empty());
    let (tcf, gpp, sid, usp) = (field(), field(), field(), field());
    let sids: Option<Vec<u16>> = sid.map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect());

    if let Some(g) = gpp {
        let _ = decode_gpp(g, None);
        let _ = decode_gpp(g, sids.as_deref());
    }
    if let Some(u) = usp {
        let _ = UsPrivacy::parse(u);
    }
    for (country, gpc) in [
        (None, false),
        (Country::parse("US"), false),
        (Country::parse("US"), true),
        (Country::parse("DE"), false),
    ] {
        let input = ConsentInput {
            country,
            gpc,
            record: None,
            tcf,
            gpp,
            gpp_sid: sids.as_deref(),
            us_privacy: usp,
            google_consent_mode: None,
            withdrawn: Default::default(),
        };
        let mut warnings = Vec::new();
        let consent = common::POLICY.resolve(&input, &mut warnings);
        // Global Privacy Control is never overridden by a string.
        assert!(!(gpc && consent.purposes.advertise), "GPC must deny advertise");
    }
}
