//! Consent-string decoders against the IAB's own encoders (fixtures from tools/oracle/generate.mjs),
//! and a property test that truncated or garbage strings never panic.

use std::collections::BTreeSet;

use personify::domain::consent::tcf::{self, TcfGrant};
use personify::domain::consent::us::{self, UsPrivacy};
use proptest::prelude::*;
use serde_json::Value;

fn fixtures() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/consent_strings.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids<T: Ord + TryFrom<u64>>(v: &Value) -> BTreeSet<T> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| T::try_from(x.as_u64().unwrap()).ok().unwrap())
        .collect()
}

#[test]
fn tc_strings_agree_with_the_iab_encoders_on_every_field() {
    let all = fixtures();
    let cases = all["tcf"].as_array().unwrap();
    assert_eq!(cases.len(), 16);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let f = &case["fields"];
        let tc = tcf::decode(case["string"].as_str().unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(u64::from(tc.version), f["version"].as_u64().unwrap(), "{name} version");
        assert_eq!(tc.created, f["created"].as_u64().unwrap(), "{name} created");
        assert_eq!(
            tc.last_updated,
            f["last_updated"].as_u64().unwrap(),
            "{name} last_updated"
        );
        assert_eq!(u64::from(tc.cmp_id), f["cmp_id"].as_u64().unwrap(), "{name} cmp_id");
        assert_eq!(
            u64::from(tc.cmp_version),
            f["cmp_version"].as_u64().unwrap(),
            "{name} cmp_version"
        );
        assert_eq!(
            u64::from(tc.consent_screen),
            f["consent_screen"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(tc.consent_language, f["consent_language"].as_str().unwrap(), "{name}");
        assert_eq!(
            u64::from(tc.vendor_list_version),
            f["vendor_list_version"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            u64::from(tc.tcf_policy_version),
            f["tcf_policy_version"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            tc.is_service_specific,
            f["is_service_specific"].as_bool().unwrap(),
            "{name}"
        );
        assert_eq!(
            tc.use_non_standard_texts,
            f["use_non_standard_texts"].as_bool().unwrap(),
            "{name}"
        );
        assert_eq!(
            tc.special_feature_optins,
            ids::<u8>(&f["special_feature_optins"]),
            "{name}"
        );
        assert_eq!(tc.purposes_consent, ids::<u8>(&f["purposes_consent"]), "{name}");
        assert_eq!(
            tc.purposes_li_transparency,
            ids::<u8>(&f["purposes_li_transparency"]),
            "{name}"
        );
        assert_eq!(
            tc.purpose_one_treatment,
            f["purpose_one_treatment"].as_bool().unwrap(),
            "{name}"
        );
        assert_eq!(tc.publisher_cc, f["publisher_cc"].as_str().unwrap(), "{name}");
        assert_eq!(tc.vendor_consents, ids::<u16>(&f["vendor_consents"]), "{name}");
        assert_eq!(
            tc.vendor_legitimate_interests,
            ids::<u16>(&f["vendor_legitimate_interests"]),
            "{name}"
        );
        let want: Vec<(u8, u8, BTreeSet<u16>)> = f["publisher_restrictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["purpose"].as_u64().unwrap() as u8,
                    r["restriction_type"].as_u64().unwrap() as u8,
                    ids::<u16>(&r["vendors"]),
                )
            })
            .collect();
        let mut got: Vec<(u8, u8, BTreeSet<u16>)> = tc
            .publisher_restrictions
            .iter()
            .map(|r| (r.purpose, r.restriction_type, r.vendors.clone()))
            .collect();
        got.sort();
        assert_eq!(got, want, "{name} publisher restrictions");
        match f["disclosed_vendors"].as_array() {
            Some(_) => assert_eq!(
                tc.disclosed_vendors.as_ref(),
                Some(&ids::<u16>(&f["disclosed_vendors"])),
                "{name}"
            ),
            None => assert_eq!(tc.disclosed_vendors, None, "{name}"),
        }
        match f["publisher_purposes_consent"].as_array() {
            Some(_) => assert_eq!(
                tc.publisher_tc.as_ref().map(|p| p.purposes_consent.clone()),
                Some(ids::<u8>(&f["publisher_purposes_consent"])),
                "{name}"
            ),
            None => assert!(tc.publisher_tc.is_none(), "{name}"),
        }
    }
}

#[test]
fn tc_strings_map_to_personify_purposes() {
    let all = fixtures();
    let grant = |name: &str, vendor: Option<u16>| {
        let case = all["tcf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        TcfGrant::from_tc(&tcf::decode(case["string"].as_str().unwrap()).unwrap(), vendor)
    };
    for shape in ["v2_2", "v2_3"] {
        let full = grant(&format!("full_consent_{shape}"), None);
        assert!(full.storage && full.personalize_profile && full.measure && full.advertise_profile);
        assert_eq!(grant(&format!("refuse_all_{shape}"), None), TcfGrant::default());
        let ctx = grant(&format!("contextual_only_{shape}"), None);
        assert!(
            ctx.personalize_contextual
                && !ctx.personalize_profile
                && ctx.advertise_contextual
                && !ctx.advertise_profile
        );
        assert!(!grant(&format!("no_storage_{shape}"), None).storage);
        let prof = grant(&format!("profiles_no_ads_{shape}"), None);
        assert!(prof.personalize_profile && prof.measure && !prof.advertise_contextual);
        // Vendor 755: purpose 2 not allowed, purpose 3 only on legitimate interest → no consent-based ads.
        let restricted = grant(&format!("vendor_restricted_{shape}"), Some(755));
        assert!(!restricted.advertise_contextual && !restricted.advertise_profile && restricted.personalize_profile);
        // Vendor 1201: "require consent" on purpose 5 changes nothing for a consent-only reader.
        assert!(grant(&format!("vendor_restricted_{shape}"), Some(1201)).advertise_profile);
        // A vendor without its consent bit gets nothing.
        assert_eq!(
            grant(&format!("contextual_only_{shape}"), Some(40)),
            TcfGrant::default()
        );
    }
}

#[test]
fn gpp_and_us_privacy_strings_agree_with_the_iab_encoder() {
    let all = fixtures();
    for case in all["gpp"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let g = us::decode_gpp(case["string"].as_str().unwrap(), None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(g.us_opt_out, case["us_opt_out"].as_bool().unwrap(), "{name}");
        let want: Vec<u16> = case["section_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u16)
            .collect();
        assert_eq!(g.section_ids, want, "{name}");
        if let Some(p) = case.get("tcf_purposes") {
            assert_eq!(g.tcf.as_ref().unwrap().purposes_consent, ids::<u8>(p), "{name}");
        }
    }
    for case in all["us_privacy"].as_array().unwrap() {
        let u = UsPrivacy::parse(case["string"].as_str().unwrap()).unwrap();
        assert_eq!(u.opt_out_sale == Some(true), case["opt_out_sale"].as_bool().unwrap());
    }
}

fn fixture_strings() -> Vec<String> {
    let all = fixtures();
    let mut out: Vec<String> = all["tcf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["string"].as_str().unwrap().to_string())
        .collect();
    out.extend(
        all["gpp"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["string"].as_str().unwrap().to_string()),
    );
    out
}

#[test]
fn every_truncation_of_every_fixture_is_an_error_or_a_value_never_a_panic() {
    for s in fixture_strings() {
        for cut in 0..s.len() {
            let _ = tcf::decode(&s[..cut]);
            let _ = us::decode_gpp(&s[..cut], None);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn garbage_never_panics(s in "[A-Za-z0-9_.~-]{0,300}") {
        let _ = tcf::decode(&s);
        let _ = us::decode_gpp(&s, None);
        let _ = UsPrivacy::parse(&s);
    }

    #[test]
    fn mutated_fixtures_never_panic(idx in 0usize..24, pos in 0usize..400, c in "[A-Za-z0-9_.~-]") {
        let strings = fixture_strings();
        let mut s = strings[idx % strings.len()].clone().into_bytes();
        let p = pos % s.len().max(1);
        if !s.is_empty() { s[p] = c.as_bytes()[0]; }
        let s = String::from_utf8(s).unwrap();
        let _ = tcf::decode(&s);
        let _ = us::decode_gpp(&s, None);
    }

    #[test]
    fn random_bytes_as_base64_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        use base64::Engine;
        let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
        let _ = tcf::decode(&s);
        let _ = tcf::decode(&format!("{s}.{s}"));
        let _ = us::decode_gpp(&format!("DBABMA~{s}"), None);
    }
}
