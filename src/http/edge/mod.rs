//! The edge: what every request passes before a handler — body reading and unknown keys, the gate
//! (Origin check and rate limit for browser routes, token scopes for the rest), CORS, the client
//! address behind trusted proxies, and the request log.

pub mod auth;
pub mod body;
pub mod client;
pub mod cors;
pub mod gate;
pub mod limits;
pub mod logging;
pub mod origin;
pub mod unknown_fields;
