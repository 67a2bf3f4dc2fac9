//! An open-loop load generator: sends requests to one URL at a fixed rate for a fixed time, on a
//! schedule that does not wait for answers, and prints one JSON summary. `scripts/open-loop` and
//! the CI soak run it (one process per route), so nothing has to be installed.
//!
//!   cargo run --release --example open_loop -- [OPTIONS] URL
//!
//!   --rate N           requests per second (default 100)
//!   --seconds N        how long to offer them (default 10)
//!   --body FILE        POST this body (repeatable: request i sends body i mod count); without it, GET.
//!                      `{uuid}` in a body becomes a fresh random UUID v4 and `{n}` the request number,
//!                      so every consent write can come from a distinct visitor.
//!   --header 'K: V'    a request header (repeatable)
//!   --max-in-flight N  requests outstanding at once, so connections (default 256)
//!   --timeout-ms N     a request not answered by then counts as an error (default 10000)
//!   --threads N        the generator's tokio worker threads (default 1)
//!
//! Why open loop: a closed loop (wrk, each connection waiting for its answer) slows down when the
//! server does, so a stall shows as fewer requests, not as latency. Here request i is due at
//! `i / rate` seconds whatever happened before, and its latency is counted from when it was due, not
//! from when it was sent: a request held back by the in-flight cap or by a late generator still pays
//! that wait (the coordinated-omission correction). `late_ms` says how far behind schedule the
//! generator itself was when it started requests; if that is large, the generator was the limit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};

const USAGE: &str = "usage: open_loop [--rate N] [--seconds N] [--body FILE]... [--header 'K: V']... \
                     [--max-in-flight N] [--timeout-ms N] [--threads N] URL";

/// When request `i` (from 0) is due, counted from the start: `i / rate` seconds, rounded up to the
/// nanosecond, so that [`due_by`] at exactly that instant includes it.
fn due(i: u64, rate: u64) -> Duration {
    let ns = (u128::from(i) * 1_000_000_000).div_ceil(u128::from(rate.max(1)));
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// How many requests are due `elapsed` after the start (those with `due(i) <= elapsed`), at most
/// `total`. The scheduler starts every request up to this count each time it wakes, so a late wake
/// (the timer's millisecond, a busy core) sends the missed ones at once instead of dropping them.
fn due_by(elapsed: Duration, rate: u64, total: u64) -> u64 {
    let n = elapsed.as_nanos() * u128::from(rate) / 1_000_000_000 + 1;
    u64::try_from(n).unwrap_or(u64::MAX).min(total)
}

/// The value at quantile `q` (0..=1) of sorted values, nearest rank; 0 when there are none.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A body with its placeholders split out once, so filling one in costs a few copies.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Uuid,
    Number,
}

fn parse_template(body: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find('{') {
        let (hole, len) = if rest[at..].starts_with("{uuid}") {
            (Some(Part::Uuid), 6)
        } else if rest[at..].starts_with("{n}") {
            (Some(Part::Number), 3)
        } else {
            (None, 1)
        };
        match hole {
            Some(hole) => {
                if at > 0 {
                    parts.push(Part::Text(rest[..at].to_string()));
                }
                parts.push(hole);
            }
            // A brace of the JSON itself: kept as text.
            None => parts.push(Part::Text(rest[..at + 1].to_string())),
        }
        rest = &rest[at + len..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    parts
}

fn fill(parts: &[Part], n: u64) -> Vec<u8> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Number => out.push_str(&n.to_string()),
            Part::Uuid => {
                // Random in every group but the version and variant nibbles, as crypto.randomUUID()
                // is: the server refuses visitor ids that do not look random.
                let r = rand::random::<u128>() & !(0xF << 76) & !(0x3 << 62);
                let r = r | (0x4 << 76) | (0x2 << 62);
                let h = format!("{r:032x}");
                out.push_str(&format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                ));
            }
        }
    }
    out.into_bytes()
}

struct Args {
    url: String,
    rate: u64,
    seconds: u64,
    bodies: Vec<Vec<Part>>,
    headers: reqwest::header::HeaderMap,
    max_in_flight: usize,
    timeout: Duration,
    threads: usize,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        rate: 100,
        seconds: 10,
        bodies: Vec::new(),
        headers: reqwest::header::HeaderMap::new(),
        max_in_flight: 256,
        timeout: Duration::from_secs(10),
        threads: 1,
    };
    let number = |flag: &str, v: Option<String>| -> Result<u64, String> {
        v.and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{flag} needs a positive whole number"))
    };
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--rate" => args.rate = number("--rate", argv.next())?,
            "--seconds" => args.seconds = number("--seconds", argv.next())?,
            "--max-in-flight" => args.max_in_flight = number("--max-in-flight", argv.next())? as usize,
            "--timeout-ms" => args.timeout = Duration::from_millis(number("--timeout-ms", argv.next())?),
            "--threads" => args.threads = number("--threads", argv.next())? as usize,
            "--body" => {
                let path = argv.next().ok_or("--body needs a file")?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                args.bodies.push(parse_template(text.trim_end()));
            }
            "--header" => {
                let h = argv.next().ok_or("--header needs 'Name: value'")?;
                let (name, value) = h.split_once(':').ok_or_else(|| format!("not 'Name: value': {h}"))?;
                let name =
                    reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| format!("{h}: {e}"))?;
                let value = reqwest::header::HeaderValue::from_str(value.trim()).map_err(|e| format!("{h}: {e}"))?;
                args.headers.append(name, value);
            }
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ if args.url.is_empty() => args.url = arg,
            _ => return Err(format!("one URL only, not also {arg}")),
        }
    }
    if args.url.is_empty() {
        return Err("a URL is needed".into());
    }
    Ok(args)
}

/// Errors written out so far (see [`one`]).
static ERRORS_SHOWN: AtomicU32 = AtomicU32::new(0);

/// What became of one request.
struct Outcome {
    /// Its number, so the summary can say when in the run a slow answer was due.
    n: u64,
    /// From when it was due to its answer (or its failure), in microseconds.
    latency_us: u64,
    status: Result<u16, &'static str>,
}

async fn one(
    client: reqwest::Client,
    args: Arc<Args>,
    gate: Arc<Semaphore>,
    n: u64,
    due_at: Instant,
    out: mpsc::UnboundedSender<Outcome>,
) {
    let status = match gate.acquire().await {
        Ok(_permit) => {
            let request = if args.bodies.is_empty() {
                client.get(&args.url)
            } else {
                let body = fill(&args.bodies[(n % args.bodies.len() as u64) as usize], n);
                client.post(&args.url).body(body)
            };
            let answer = request.headers(args.headers.clone()).send().await;
            match answer {
                // The whole body is read, as a browser would, before the request counts as answered.
                Ok(r) => {
                    let code = r.status().as_u16();
                    r.bytes().await.map(|_| code).map_err(|_| "body")
                }
                Err(e) => {
                    // The first few in full (with their causes) on stderr, for the report.
                    if ERRORS_SHOWN.fetch_add(1, Ordering::Relaxed) < 5 {
                        let mut text = e.to_string();
                        let mut cause = std::error::Error::source(&e);
                        while let Some(c) = cause {
                            text.push_str(&format!(": {c}"));
                            cause = c.source();
                        }
                        eprintln!("request {n}: {text}");
                    }
                    Err(if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connect"
                    } else {
                        "other"
                    })
                }
            }
        }
        Err(_) => Err("other"),
    };
    let latency_us = u64::try_from(due_at.elapsed().as_micros()).unwrap_or(u64::MAX);
    // The collector outlives every request; a send can only fail if it is gone, and then no one reads.
    let _ = out.send(Outcome { n, latency_us, status });
}

async fn run(args: Args) -> serde_json::Value {
    let args = Arc::new(args);
    let client = match reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.max_in_flight)
        // Below actix-web's 5 s keep-alive: a connection the server is closing as idle is never
        // reused, so "connection closed before message completed" is not counted against it.
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(args.timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => return serde_json::json!({ "error": e.to_string() }),
    };
    let gate = Arc::new(Semaphore::new(args.max_in_flight));
    let total = args.rate * args.seconds;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut late_us = Vec::with_capacity(total as usize);
    let start = Instant::now();
    let mut next = 0u64;
    while next < total {
        let now = start.elapsed();
        let upto = due_by(now, args.rate, total);
        for n in next..upto {
            let due_in = due(n, args.rate);
            late_us.push(u64::try_from(now.saturating_sub(due_in).as_micros()).unwrap_or(u64::MAX));
            tokio::spawn(one(
                client.clone(),
                args.clone(),
                gate.clone(),
                n,
                start + due_in,
                tx.clone(),
            ));
        }
        next = next.max(upto);
        if next < total {
            tokio::time::sleep_until((start + due(next, args.rate)).into()).await;
        }
    }
    drop(tx);
    let mut latency_us = Vec::with_capacity(total as usize);
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
    let mut last_answer = Duration::ZERO;
    // The worst latency of the requests due in each second of the run: a stall (a flush holding the
    // store, a core taken away) shows as the seconds it happened in.
    let mut max_by_second = vec![0u64; args.seconds as usize];
    while let Some(o) = rx.recv().await {
        latency_us.push(o.latency_us);
        if let Some(m) = max_by_second.get_mut((o.n / args.rate) as usize) {
            *m = (*m).max(o.latency_us);
        }
        last_answer = start.elapsed();
        match o.status {
            Ok(code) => *codes.entry(code.to_string()).or_default() += 1,
            Err(kind) => *errors.entry(kind).or_default() += 1,
        }
    }
    latency_us.sort_unstable();
    late_us.sort_unstable();
    let ms = |us: u64| (us as f64 / 1000.0 * 100.0).round() / 100.0;
    let answered: u64 = codes.values().sum();
    serde_json::json!({
        "url": args.url,
        "rate": args.rate,
        "seconds": args.seconds,
        "offered": total,
        "answered": answered,
        "answered_per_s": (answered as f64 / args.seconds as f64).round(),
        "last_answer_s": (last_answer.as_secs_f64() * 100.0).round() / 100.0,
        "status": codes,
        "errors": errors,
        "latency_ms": {
            "p50": ms(quantile(&latency_us, 0.50)),
            "p90": ms(quantile(&latency_us, 0.90)),
            "p99": ms(quantile(&latency_us, 0.99)),
            "p999": ms(quantile(&latency_us, 0.999)),
            "max": ms(quantile(&latency_us, 1.0)),
        },
        "late_ms": { "p99": ms(quantile(&late_us, 0.99)), "max": ms(quantile(&late_us, 1.0)) },
        "max_ms_by_second": max_by_second.into_iter().map(ms).collect::<Vec<_>>(),
    })
}

fn main() {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let summary = runtime.block_on(run(args));
    println!("{summary}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // The scheduler's two functions agree: request i is due exactly at due(i), not a nanosecond
        // before, so no request is sent early or skipped.
        #[test]
        fn due_and_due_by_agree(rate in 1u64..200_000, i in 0u64..50_000_000) {
            let total = u64::MAX;
            prop_assert_eq!(due_by(due(i, rate), rate, total), i + 1);
            if i > 0 {
                prop_assert_eq!(due_by(due(i, rate) - Duration::from_nanos(1), rate, total), i);
            }
        }
    }

    #[test]
    fn the_schedule_is_fixed_and_capped() {
        assert_eq!(due(0, 500), Duration::ZERO);
        assert_eq!(due(500, 500), Duration::from_secs(1));
        assert_eq!(due(1, 3), Duration::from_nanos(333_333_334));
        // A generator that wakes 2 s late owes every request of those 2 s at once, up to the total.
        assert_eq!(due_by(Duration::from_secs(2), 500, 10_000), 1001);
        assert_eq!(due_by(Duration::from_secs(60), 500, 10_000), 10_000);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&v, 0.0), 1);
        assert_eq!(quantile(&[], 0.99), 0);
    }

    #[test]
    fn templates_fill_placeholders_and_keep_json_braces() {
        let parts = parse_template(r#"{"visitor_id":"{uuid}","n":{n},"x":{}}"#);
        let a = String::from_utf8(fill(&parts, 7)).unwrap_or_default();
        let b = String::from_utf8(fill(&parts, 8)).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&a).unwrap_or_default();
        assert_eq!(v["n"], 7);
        let id = v["visitor_id"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "version 4: {id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "RFC 4122 variant: {id}");
        let w: serde_json::Value = serde_json::from_str(&b).unwrap_or_default();
        assert_eq!(w["n"], 8);
        assert_ne!(w["visitor_id"].as_str(), Some(id), "a fresh id per request");
    }
}
