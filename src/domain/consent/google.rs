//! Google Consent Mode v2 as a source that only withholds: the state gtag's `consent` command holds
//! (`ad_storage`, `ad_user_data`, `ad_personalization`, `analytics_storage`, …, each "granted" or
//! "denied"). A "denied" takes a purpose away; "granted" never grants one, because Consent Mode
//! says what a page's tags may do, not what the visitor agreed to personify doing: the purposes still
//! come from a record, a consent string or the jurisdiction.

use serde::Deserialize;

use crate::domain::consent::Purposes;

/// One Consent Mode type's state, exactly as gtag takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// `"granted"`.
    Granted,
    /// `"denied"`.
    Denied,
}

/// The Consent Mode types, each as the page last set it (absent: never set). gtag's other keys of a
/// `consent` command (`wait_for_update`, `region`) are left to the callers' bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct ConsentMode {
    /// `ad_storage`: cookies for advertising. Read for completeness; it withholds nothing, since
    /// personify stores nothing for ads on the device.
    pub ad_storage: Option<State>,
    /// `ad_user_data`: sending user data to Google for advertising.
    pub ad_user_data: Option<State>,
    /// `ad_personalization`: personalised advertising.
    pub ad_personalization: Option<State>,
    /// `analytics_storage`: measurement.
    pub analytics_storage: Option<State>,
    /// `personalization_storage`: personalised content.
    pub personalization_storage: Option<State>,
    /// `functionality_storage`: the site's own functions. Withholds nothing.
    pub functionality_storage: Option<State>,
    /// `security_storage`: security and fraud prevention. Withholds nothing.
    pub security_storage: Option<State>,
}

fn denied(state: Option<State>) -> bool {
    state == Some(State::Denied)
}

impl ConsentMode {
    /// The purposes this state takes away (true = withheld): `advertise` when `ad_user_data` or
    /// `ad_personalization` is denied, `measure` when `analytics_storage` is, `personalize` when
    /// `personalization_storage` is.
    pub fn withholds(&self) -> Purposes {
        Purposes {
            personalize: denied(self.personalization_storage),
            measure: denied(self.analytics_storage),
            advertise: denied(self.ad_user_data) || denied(self.ad_personalization),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(json: &str) -> ConsentMode {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_denied_type_withholds_its_purpose_and_granted_withholds_nothing() {
        let none = Purposes::NONE;
        let cases = [
            (r#"{}"#, none),
            (r#"{"ad_storage":"denied"}"#, none),
            (
                r#"{"ad_user_data":"denied"}"#,
                Purposes {
                    advertise: true,
                    ..none
                },
            ),
            (
                r#"{"ad_personalization":"denied","ad_user_data":"granted"}"#,
                Purposes {
                    advertise: true,
                    ..none
                },
            ),
            (r#"{"analytics_storage":"denied"}"#, Purposes { measure: true, ..none }),
            (
                r#"{"personalization_storage":"denied"}"#,
                Purposes {
                    personalize: true,
                    ..none
                },
            ),
            (
                r#"{"ad_storage":"granted","ad_user_data":"granted","ad_personalization":"granted",
                    "analytics_storage":"granted","personalization_storage":"granted"}"#,
                none,
            ),
            (
                r#"{"ad_storage":"denied","ad_user_data":"denied","ad_personalization":"denied",
                    "analytics_storage":"denied","personalization_storage":"denied"}"#,
                Purposes::ALL,
            ),
        ];
        for (json, withheld) in cases {
            assert_eq!(mode(json).withholds(), withheld, "{json}");
        }
    }

    #[test]
    fn only_the_two_gtag_states_parse() {
        for bad in [
            r#"{"ad_user_data":"Denied"}"#,
            r#"{"ad_user_data":true}"#,
            r#"{"ad_user_data":"no"}"#,
        ] {
            assert!(serde_json::from_str::<ConsentMode>(bad).is_err(), "{bad}");
        }
    }
}
