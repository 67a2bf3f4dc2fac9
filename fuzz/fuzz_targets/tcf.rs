//! The TCF v2 TC string decoder: any text in, a `TcString` or an error out, never a panic.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use personify::domain::consent::tcf::{decode, TcfGrant};

fuzz_target!(|data: &[u8]| common::run(|| one(data)));

fn one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(tc) = decode(text) else { return };
    assert_eq!(tc.version, 2, "only version 2 decodes");
    // The mapping reads every list the decoder filled, with and without a vendor id.
    let _ = TcfGrant::from_tc(&tc, None);
    let _ = TcfGrant::from_tc(&tc, Some(755));
    let _ = TcfGrant::from_tc(&tc, tc.vendor_consents.iter().next().copied());
}
