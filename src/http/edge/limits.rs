//! Per-client rate limits: a token bucket per route and client network, in memory only.
//!
//! The bucket key is a keyed hash (SipHash under a per-process random key) of the client's network
//! (IPv4 /24, IPv6 /48), so one client cannot dodge its limit by hopping addresses inside its own
//! network, and the table holds no address. The key dies with the process.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{LimitSettings, RouteLimit};
use crate::domain::privacy::network::NetworkPrefix;

/// A route with its own bucket. Add a variant (and a `[limits.*]` entry) to limit another route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedRoute {
    /// `POST /v1/consent`
    Consent,
    /// `POST /v1/consent/status`
    ConsentStatus,
    /// `POST /v1/opt-out`
    OptOut,
    /// `POST /v1/events`
    Events,
    /// `POST /v1/rtb/segments` from a page (no token).
    RtbPage,
}

/// The bucket a network's requests draw on when the table is full (or the address is unknown).
const SHARED_BUCKET: u64 = 0;

/// The rate limiters of every limited route.
pub struct Limits {
    /// Off for load tests and benchmarks.
    enabled: bool,
    /// Most networks tracked per route before new ones share [`SHARED_BUCKET`].
    max_networks: usize,
    /// Per-process key of the network hash.
    hash_key: std::hash::RandomState,
    consent: DefaultKeyedRateLimiter<u64>,
    consent_status: DefaultKeyedRateLimiter<u64>,
    opt_out: DefaultKeyedRateLimiter<u64>,
    events: DefaultKeyedRateLimiter<u64>,
    rtb_page: DefaultKeyedRateLimiter<u64>,
}

/// Over the limit: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds until the next request would be admitted (at least 1).
    pub retry_after_secs: u64,
}

fn limiter(limit: RouteLimit) -> DefaultKeyedRateLimiter<u64> {
    RateLimiter::dashmap(Quota::per_minute(limit.per_minute).allow_burst(limit.burst))
}

impl Limits {
    /// The limiters described by `[limits]`.
    pub fn new(settings: &LimitSettings) -> Limits {
        Limits {
            enabled: settings.enabled,
            max_networks: settings.max_networks.get(),
            hash_key: std::hash::RandomState::new(),
            consent: limiter(settings.consent),
            consent_status: limiter(settings.consent_status),
            opt_out: limiter(settings.opt_out),
            events: limiter(settings.events),
            rtb_page: limiter(settings.rtb_page),
        }
    }

    fn route(&self, route: LimitedRoute) -> &DefaultKeyedRateLimiter<u64> {
        match route {
            LimitedRoute::Consent => &self.consent,
            LimitedRoute::ConsentStatus => &self.consent_status,
            LimitedRoute::OptOut => &self.opt_out,
            LimitedRoute::Events => &self.events,
            LimitedRoute::RtbPage => &self.rtb_page,
        }
    }

    /// The keyed hash of the client's network; unknown addresses share one bucket.
    fn network_key(&self, ip: Option<IpAddr>) -> u64 {
        let Some(ip) = ip else { return SHARED_BUCKET };
        // The same /24 or /48 the k threshold counts as one network; 0 is the shared bucket, which a
        // real network never lands in.
        self.hash_key.hash_one(NetworkPrefix::of(ip)).max(1)
    }

    /// Takes one token from the client network's bucket for `route`.
    pub fn check(&self, route: LimitedRoute, client: Option<IpAddr>) -> Result<(), Limited> {
        if !self.enabled {
            return Ok(());
        }
        let limiter = self.route(route);
        let mut key = self.network_key(client);
        if limiter.len() >= self.max_networks {
            // A table this full means many networks at once: new and old alike share one bucket
            // until the sweep frees room, so memory stays bounded whatever the traffic.
            key = SHARED_BUCKET;
        }
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            Limited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
            .at_least_one()
        })
    }

    /// Forgets networks whose bucket is full again (indistinguishable from a fresh one) and returns
    /// the memory; run periodically.
    pub fn sweep(&self) {
        for l in [
            &self.consent,
            &self.consent_status,
            &self.opt_out,
            &self.events,
            &self.rtb_page,
        ] {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Networks currently tracked, over all routes.
    pub fn tracked(&self) -> usize {
        [
            &self.consent,
            &self.consent_status,
            &self.opt_out,
            &self.events,
            &self.rtb_page,
        ]
        .iter()
        .map(|l| l.len())
        .sum()
    }
}

impl Limited {
    fn at_least_one(self) -> Limited {
        Limited {
            retry_after_secs: self.retry_after_secs.max(1),
        }
    }
}

/// How often [`Limits::sweep`] runs.
pub const SWEEP_PERIOD: Duration = Duration::from_secs(10);

/// Forgets rate-limit buckets that are full again, so the table holds only recently active networks.
pub async fn sweep_task(limits: std::sync::Arc<Limits>) {
    let mut tick = tokio::time::interval(SWEEP_PERIOD);
    loop {
        tick.tick().await;
        limits.sweep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_minute: u32, burst: u32, max_networks: usize) -> LimitSettings {
        let r = RouteLimit {
            per_minute: per_minute.try_into().unwrap(),
            burst: burst.try_into().unwrap(),
        };
        LimitSettings {
            enabled: true,
            max_networks: max_networks.try_into().unwrap(),
            consent: r,
            consent_status: r,
            opt_out: r,
            events: r,
            rtb_page: r,
        }
    }

    #[test]
    fn one_network_shares_a_bucket_and_others_are_not_affected() {
        let limits = Limits::new(&settings(1, 2, 1000));
        let a1 = "203.0.113.7".parse().ok();
        let a2 = "203.0.113.200".parse().ok();
        let b = "198.51.100.7".parse().ok();
        assert!(limits.check(LimitedRoute::Consent, a1).is_ok());
        assert!(limits.check(LimitedRoute::Consent, a2).is_ok());
        let limited = limits.check(LimitedRoute::Consent, a1).unwrap_err();
        assert!(limited.retry_after_secs >= 1 && limited.retry_after_secs <= 60);
        assert!(limits.check(LimitedRoute::Consent, b).is_ok());
        assert!(
            limits.check(LimitedRoute::Events, a1).is_ok(),
            "routes have separate buckets"
        );
        let v6a = "2001:db8:1:2::1".parse().ok();
        let v6b = "2001:db8:1:ffff::9".parse().ok();
        assert_eq!(limits.network_key(v6a), limits.network_key(v6b));
        assert_ne!(
            limits.network_key(v6a),
            limits.network_key("2001:db8:2::1".parse().ok())
        );
    }

    #[test]
    fn the_table_stays_bounded_under_many_networks() {
        let limits = Limits::new(&settings(60, 5, 100));
        for i in 0..5000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i << 8));
            let _ = limits.check(LimitedRoute::Events, Some(ip));
        }
        assert!(limits.tracked() <= 101, "{}", limits.tracked());
    }
}
