//! Consent resolution: jurisdictions, strings, records and the signals that only take away.

use super::*;

fn policy() -> ConsentPolicy {
    crate::domain::testing::consent_policy()
}

fn resolve(input: ConsentInput<'_>) -> (Consent, Vec<Warning>) {
    let mut w = Vec::new();
    (policy().resolve(&input, &mut w), w)
}

#[test]
fn jurisdiction_defaults_and_gpc() {
    let us = Country::parse("US");
    let de = Country::parse("DE");
    let (c, _) = resolve(ConsentInput {
        country: us,
        ..Default::default()
    });
    assert_eq!((c.purposes, c.basis), (Purposes::ALL, Basis::JurisdictionOptOut));
    let (c, _) = resolve(ConsentInput {
        country: us,
        gpc: true,
        ..Default::default()
    });
    assert_eq!(c.basis, Basis::Gpc);
    assert!(c.purposes.personalize && c.purposes.measure && !c.purposes.advertise);
    let (c, _) = resolve(ConsentInput {
        country: de,
        ..Default::default()
    });
    assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::JurisdictionOptIn));
    let (c, _) = resolve(ConsentInput::default());
    assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::JurisdictionOptIn));
    assert!(gpc_header(Some("1")) && !gpc_header(Some("true")) && !gpc_header(None));
}

#[test]
fn us_privacy_and_malformed_strings() {
    let us = Country::parse("US");
    let (c, w) = resolve(ConsentInput {
        country: us,
        us_privacy: Some("1YYN"),
        ..Default::default()
    });
    assert_eq!(c.basis, Basis::UsPrivacy);
    assert!(!c.purposes.advertise && c.purposes.personalize && w.is_empty());
    let (c, w) = resolve(ConsentInput {
        country: us,
        tcf: Some("not-a-tc-string!"),
        ..Default::default()
    });
    assert_eq!(c.basis, Basis::JurisdictionOptOut);
    assert_eq!(w[0].code, "consent_string_invalid");
    assert_eq!(w[0].field, "consent.tcf");
    assert!(!w[0].message.contains("not-a-tc"));
}

#[test]
fn a_record_beats_everything_and_gpc_still_denies_advertise() {
    let rec = Record {
        purposes: Purposes::ALL,
        opted_out: false,
        recorded_at: 0,
    };
    let (c, _) = resolve(ConsentInput {
        country: Country::parse("DE"),
        record: Some(&rec),
        gpc: true,
        ..Default::default()
    });
    assert_eq!(c.basis, Basis::Record);
    assert!(c.purposes.personalize && !c.purposes.advertise && c.explicit);
    let out = Record {
        purposes: Purposes::NONE,
        opted_out: true,
        recorded_at: 0,
    };
    let (c, _) = resolve(ConsentInput {
        country: Country::parse("US"),
        record: Some(&out),
        ..Default::default()
    });
    assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::OptOut));
}
#[test]
fn consent_mode_denied_withholds_and_granted_never_grants() {
    let mode = |json: &str| Some(serde_json::from_str::<google::ConsentMode>(json).unwrap());
    let all_granted = mode(
        r#"{"ad_storage":"granted","ad_user_data":"granted","ad_personalization":"granted",
            "analytics_storage":"granted","personalization_storage":"granted"}"#,
    );
    let (c, _) = resolve(ConsentInput {
        country: Country::parse("DE"),
        google_consent_mode: all_granted,
        ..Default::default()
    });
    assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::JurisdictionOptIn));
    let (c, _) = resolve(ConsentInput {
        country: Country::parse("US"),
        google_consent_mode: all_granted,
        ..Default::default()
    });
    assert_eq!((c.purposes, c.basis), (Purposes::ALL, Basis::JurisdictionOptOut));
    for (json, expected) in [
        (r#"{"ad_user_data":"denied"}"#, (true, true, false)),
        (r#"{"ad_personalization":"denied"}"#, (true, true, false)),
        (r#"{"analytics_storage":"denied"}"#, (true, false, true)),
        (r#"{"personalization_storage":"denied"}"#, (false, true, true)),
        (r#"{"ad_storage":"denied"}"#, (true, true, true)),
    ] {
        let (c, _) = resolve(ConsentInput {
            country: Country::parse("US"),
            google_consent_mode: mode(json),
            ..Default::default()
        });
        let p = c.purposes;
        assert_eq!((p.personalize, p.measure, p.advertise), expected, "{json}");
        let withheld = expected != (true, true, true);
        assert_eq!(c.basis == Basis::GoogleConsentMode, withheld, "{json}");
        assert_eq!(c.profile_personalize, p.personalize, "{json}");
        assert_eq!(c.profile_advertise, p.advertise, "{json}");
    }
    // An explicit record keeps its basis; the denied purpose is still withheld.
    let rec = Record {
        purposes: Purposes::ALL,
        opted_out: false,
        recorded_at: 0,
    };
    let (c, _) = resolve(ConsentInput {
        country: Country::parse("DE"),
        record: Some(&rec),
        google_consent_mode: mode(r#"{"personalization_storage":"denied"}"#),
        ..Default::default()
    });
    assert_eq!(c.basis, Basis::Record);
    assert!(!c.purposes.personalize && c.purposes.measure && c.purposes.advertise);
}

#[test]
fn a_withdrawal_the_client_asserts_only_takes_away() {
    let granted = Record {
        purposes: Purposes::ALL,
        opted_out: false,
        recorded_at: 0,
    };
    let withdrawn = Purposes {
        personalize: true,
        measure: true,
        advertise: false,
    };
    // A grant this node still holds: the withdrawal wins and says so.
    let (c, _) = resolve(ConsentInput {
        country: Country::parse("DE"),
        record: Some(&granted),
        withdrawn,
        ..Default::default()
    });
    assert_eq!(c.basis, Basis::Withdrawn);
    assert!(!c.purposes.personalize && !c.purposes.measure && c.purposes.advertise);
    assert!(!c.profile_personalize);
    // An opt-out jurisdiction's default loses the same purposes.
    let (c, _) = resolve(ConsentInput {
        country: Country::parse("US"),
        withdrawn: Purposes::ALL,
        ..Default::default()
    });
    assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::Withdrawn));
    // Nothing to take away: the basis stays what decided.
    let (c, _) = resolve(ConsentInput {
        country: Country::parse("DE"),
        withdrawn: Purposes::ALL,
        ..Default::default()
    });
    assert_eq!((c.purposes, c.basis), (Purposes::NONE, Basis::JurisdictionOptIn));
    // Withdrawing nothing changes nothing.
    let (c, _) = resolve(ConsentInput {
        country: Country::parse("DE"),
        record: Some(&granted),
        ..Default::default()
    });
    assert_eq!((c.purposes, c.basis), (Purposes::ALL, Basis::Record));
}
