//! The access log: one `tracing` event (target `cmdb_http::access`) for every answer and every
//! refusal, the HTTP layer's own included. Every text field is recorded as a string, so the
//! text format quotes and escapes it (a newline, a quote, ESC cannot start a line or a field of
//! their own) and the JSON format writes it as a JSON string; and each is cut to
//! [`MAX_FIELD_CHARS`]. The app and user are logged as `app`/`user` only once verified (the
//! app's secret checked, the user within its grant); what a request merely claims goes to
//! `claimed_app`/`claimed_user`. Never a secret or a body. Every line is also counted in the
//! HTTP metrics ([`HTTP_REQUESTS`], [`HTTP_DURATION`]).

use std::borrow::Cow;

use crate::peer::Peer;

/// The longest text field logged, in characters; a longer one ends with `…`.
pub(crate) const MAX_FIELD_CHARS: usize = 128;

/// What a line says of who called.
#[derive(Debug, Clone, Default)]
pub(crate) struct Who {
    /// The app code, verified (`app`) or claimed (`claimed_app`).
    pub(crate) app: String,
    /// Whether the app's secret was checked.
    pub(crate) app_verified: bool,
    /// The acting user, verified (`user`) or claimed (`claimed_user`).
    pub(crate) user: String,
    /// Whether an authenticated app may act as this user.
    pub(crate) user_verified: bool,
}

/// One access-log line.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    /// What happened: `request`, or the HTTP layer's `refused`, `malformed`, `head timeout`.
    pub(crate) event: &'static str,
    /// The request's method, `-` when none was read.
    pub(crate) method: &'a str,
    /// The matched route, `-` when none.
    pub(crate) route: &'a str,
    /// The HTTP status answered (408 for a head that timed out: closed without an answer).
    pub(crate) status: u16,
    /// The envelope's code, -1 when there is none.
    pub(crate) code: i64,
    /// The caller.
    pub(crate) who: &'a Who,
    /// The request id answered (or made up for a line of the HTTP layer).
    pub(crate) request_id: &'a str,
    /// The connection's peer, when known.
    pub(crate) peer: Option<Peer>,
    /// How long the request took, in ms.
    pub(crate) duration_ms: u64,
}

/// `text` cut to [`MAX_FIELD_CHARS`] characters (`…` at the end when cut).
pub(crate) fn bounded(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_FIELD_CHARS) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
    }
}

/// The metric of answers, by `handler` (the matched route, `-` for none), `status_code` and
/// `app_code` (verified codes only, so a client cannot make up labels): bk-cmdb's name, so its
/// dashboards work.
pub const HTTP_REQUESTS: &str = "cmdb_http_request_total";
/// The metric of how long answers took, in milliseconds, by `handler`: bk-cmdb's name.
pub const HTTP_DURATION: &str = "cmdb_http_request_duration_millisecond";

/// Counts `line`'s answer in [`HTTP_REQUESTS`] and [`HTTP_DURATION`].
fn record(line: &Line<'_>) {
    let app = if line.who.app_verified {
        bounded(&line.who.app).into_owned()
    } else {
        String::new()
    };
    let handler = line.route.to_owned();
    let status = line.status.to_string();
    metrics::counter!(HTTP_REQUESTS, "handler" => handler.clone(), "status_code" => status, "app_code" => app)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "handler" => handler).record(line.duration_ms as f64);
}

/// Writes `line` and counts it.
pub(crate) fn write(line: &Line<'_>) {
    record(line);
    let who = line.who;
    let (app, claimed_app) = split(&who.app, who.app_verified);
    let (user, claimed_user) = split(&who.user, who.user_verified);
    let peer = line.peer.map_or_else(|| "-".to_owned(), |p| p.to_string());
    tracing::info!(
        target: "cmdb_http::access",
        method = &*bounded(line.method),
        route = &*bounded(line.route),
        status = line.status,
        code = line.code,
        app = &*app,
        user = &*user,
        claimed_app = &*claimed_app,
        claimed_user = &*claimed_user,
        request_id = &*bounded(line.request_id),
        peer = peer.as_str(),
        duration_ms = line.duration_ms,
        "{}",
        line.event
    );
}

/// `(verified, claimed)`: the bounded `text` in the first when verified, else in the second.
fn split(text: &str, verified: bool) -> (Cow<'_, str>, Cow<'_, str>) {
    let text = bounded(text);
    if verified {
        (text, Cow::Borrowed(""))
    } else {
        (Cow::Borrowed(""), text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_fields_are_cut_on_a_character() {
        assert_eq!(bounded("esb_test"), "esb_test");
        let long = "é".repeat(MAX_FIELD_CHARS + 5);
        let cut = bounded(&long);
        assert_eq!(cut.chars().count(), MAX_FIELD_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(bounded(&"a".repeat(MAX_FIELD_CHARS)).len(), MAX_FIELD_CHARS);
    }
}
