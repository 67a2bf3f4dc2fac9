//! Consent strings from other projects' test suites, with the fields those suites assert
//! (tests/fixtures/consent_corpus/SOURCES.md): personify's TCF decoder must agree on every decoded
//! field, and its consent resolution must deny `advertise` exactly when a US section opts out.

use std::collections::BTreeSet;
use std::path::PathBuf;

use iab_gpp::sections::SectionId;
use iab_gpp::v1::GPPString;
use personify::domain::consent::{tcf, ConsentInput};
use personify::domain::signals::Country;
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/consent_corpus")
}

/// `(file, gpp_string, expected_sections)` of every iab_gpp test case.
fn iab_gpp_cases() -> Vec<(String, String, Vec<Value>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir().join("iab_gpp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            (
                f.file_name().unwrap().to_string_lossy().to_string(),
                v["gpp_string"].as_str().unwrap().to_string(),
                v["expected_sections"].as_array().unwrap().clone(),
            )
        })
        .collect()
}

fn set<T: Ord + TryFrom<u64>>(v: &Value) -> BTreeSet<T> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| T::try_from(x.as_u64()?).ok()).collect())
        .unwrap_or_default()
}

#[test]
fn tcf_eu_sections_decode_to_the_fields_iab_gpp_asserts() {
    let mut checked = 0;
    for (file, gpp, sections) in iab_gpp_cases() {
        let Some(expected) = sections.iter().find_map(|s| s.get("TcfEuV2")) else {
            continue;
        };
        let parsed = GPPString::parse_str(&gpp).unwrap();
        let section = parsed.section(SectionId::TcfEuV2).unwrap();
        let tc = tcf::decode(section).unwrap_or_else(|e| panic!("{file}: {e}"));
        let core = &expected["core"];
        let n = |k: &str| core[k].as_u64().unwrap();
        assert_eq!(u64::from(tc.version), 2, "{file}");
        // iab_gpp reports seconds; the TC string holds deciseconds.
        assert_eq!(tc.created / 10, n("created"), "{file} created");
        assert_eq!(tc.last_updated / 10, n("last_updated"), "{file} last_updated");
        assert_eq!(u64::from(tc.cmp_id), n("cmp_id"), "{file} cmp_id");
        assert_eq!(u64::from(tc.cmp_version), n("cmp_version"), "{file} cmp_version");
        assert_eq!(
            u64::from(tc.consent_screen),
            n("consent_screen"),
            "{file} consent_screen"
        );
        assert_eq!(tc.consent_language, core["consent_language"], "{file}");
        assert_eq!(u64::from(tc.vendor_list_version), n("vendor_list_version"), "{file}");
        assert_eq!(u64::from(tc.tcf_policy_version), n("policy_version"), "{file}");
        assert_eq!(tc.is_service_specific, core["is_service_specific"], "{file}");
        assert_eq!(tc.use_non_standard_texts, core["use_non_standard_stacks"], "{file}");
        assert_eq!(tc.purpose_one_treatment, core["purpose_one_treatment"], "{file}");
        assert_eq!(tc.publisher_cc, core["publisher_country_code"], "{file}");
        assert_eq!(
            tc.special_feature_optins,
            set::<u8>(&core["special_feature_optins"]),
            "{file}"
        );
        assert_eq!(tc.purposes_consent, set::<u8>(&core["purpose_consents"]), "{file}");
        assert_eq!(
            tc.purposes_li_transparency,
            set::<u8>(&core["purpose_legitimate_interests"]),
            "{file}"
        );
        assert_eq!(tc.vendor_consents, set::<u16>(&core["vendor_consents"]), "{file}");
        assert_eq!(
            tc.vendor_legitimate_interests,
            set::<u16>(&core["vendor_legitimate_interests"]),
            "{file}"
        );
        let restrictions = core["publisher_restrictions"].as_array().unwrap();
        assert_eq!(tc.publisher_restrictions.len(), restrictions.len(), "{file}");
        for (got, want) in tc.publisher_restrictions.iter().zip(restrictions) {
            assert_eq!(u64::from(got.purpose), want["purpose_id"].as_u64().unwrap(), "{file}");
            assert_eq!(got.vendors, set::<u16>(&want["restricted_vendor_ids"]), "{file}");
        }
        match expected["disclosed_vendors"].as_array() {
            Some(_) => assert_eq!(
                tc.disclosed_vendors,
                Some(set::<u16>(&expected["disclosed_vendors"])),
                "{file}"
            ),
            None => assert_eq!(tc.disclosed_vendors, None, "{file}"),
        }
        if let Some(pp) = expected.get("publisher_purposes").filter(|p| p.is_object()) {
            let got = tc
                .publisher_tc
                .as_ref()
                .unwrap_or_else(|| panic!("{file}: no publisher TC"));
            assert_eq!(got.purposes_consent, set::<u8>(&pp["consents"]), "{file}");
            assert_eq!(
                got.purposes_li_transparency,
                set::<u8>(&pp["legitimate_interests"]),
                "{file}"
            );
            assert_eq!(got.custom_purposes_consent, set::<u8>(&pp["custom_consents"]), "{file}");
            assert_eq!(
                got.custom_purposes_li_transparency,
                set::<u8>(&pp["custom_legitimate_interests"]),
                "{file}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "{checked} TCF EU sections");
}

/// Whether a decoded US section (as iab_gpp's tests assert it) opts out of sale, sharing or targeted
/// advertising, or carries GPC.
fn us_opt_out(section: &Value) -> bool {
    let core = section["core"]
        .get("V1")
        .or_else(|| section["core"].get("V2"))
        .unwrap_or(&section["core"]);
    let opted = ["sale_opt_out", "sharing_opt_out", "targeted_advertising_opt_out"]
        .iter()
        .any(|k| core[*k] == "OptedOut");
    opted || section["gpc"] == true
}

#[test]
fn us_sections_deny_advertise_exactly_when_iab_gpp_decodes_an_opt_out() {
    let settings = personify::config::Settings::defaults().unwrap();
    let policy = settings.consent_policy();
    let mut checked = 0;
    for (file, gpp, sections) in iab_gpp_cases() {
        let Some(us) = sections.iter().find_map(|s| {
            let obj = s.as_object()?;
            let (name, v) = obj.iter().next()?;
            name.starts_with("Us").then_some(v)
        }) else {
            continue;
        };
        let parsed = GPPString::parse_str(&gpp).unwrap();
        let sids: Vec<u16> = parsed.section_ids().map(|id| *id as u16).collect();
        let input = ConsentInput {
            country: Country::parse("US"),
            gpc: false,
            record: None,
            tcf: None,
            gpp: Some(&gpp),
            gpp_sid: Some(&sids),
            us_privacy: None,
            google_consent_mode: None,
            withdrawn: Default::default(),
        };
        let consent = policy.resolve(&input, &mut Vec::new());
        assert_eq!(
            consent.purposes.advertise,
            !us_opt_out(us),
            "{file}: {}",
            serde_json::to_string(&consent).unwrap()
        );
        checked += 1;
    }
    assert!(checked >= 15, "{checked} US sections");
}

#[test]
fn iabtcf_es_reported_issue_strings_decode_as_iabtcf_es_asserts() {
    let text = std::fs::read_to_string(dir().join("iabtcf-es.json")).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    for case in cases["strings"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let s = case["string"].as_str().unwrap();
        let a = &case["asserts"];
        if a["version"] == 1 {
            // TCF v1 is retired; personify refuses it rather than guess (iabtcf-es decodes it as v1).
            assert!(tcf::decode(s).is_err(), "{name}");
            continue;
        }
        let tc = tcf::decode(s).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(u64::from(tc.version), a["version"].as_u64().unwrap(), "{name}");
        if let Some(r) = a.get("restriction_purpose_1_type_1_vendors") {
            // The string encodes the restriction for some vendors more than once: the union is asserted.
            let got: BTreeSet<u16> = tc
                .publisher_restrictions
                .iter()
                .filter(|p| p.purpose == 1 && p.restriction_type == 1)
                .flat_map(|p| p.vendors.iter().copied())
                .collect();
            assert_eq!(got, set::<u16>(r), "{name}");
        }
    }
}
