//! Who is calling: the app's credentials checked against the apps file, its grant of tenants
//! and users, its request rate (spec section 16; `cmdb serve --apps`), and the budget of failed
//! authentications of each peer and each claimed app code.

use std::sync::Arc;

use cmdb_app::Failure;
use cmdb_app::apps::{AppGrant, AppRegistry};
use cmdb_app::request::Credentials;
use cmdb_core::BizId;

use crate::peer::Peer;
use crate::rate::RateLimiter;
use crate::refusal::{HttpRefusal, Refused};

/// How much more failures a claimed app code may have than a peer (many peers share an app).
const CODE_FACTOR: u32 = 10;
/// The longest part of a claimed code that keys its failure bucket.
const MAX_CODE_KEY: usize = 128;

/// The apps file (when there is one), the rate limiter, and the failed-authentication
/// buckets.
#[derive(Debug)]
pub(crate) struct Gate {
    apps: Option<Arc<AppRegistry>>,
    rate: RateLimiter,
    failed_peers: RateLimiter<Peer>,
    failed_codes: RateLimiter<String>,
}

/// Whether a request writes or reads: which action a denial names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A create (`create_biz_topology`).
    Write,
    /// A read (`find_business_resource`).
    Read,
}

/// The calling app once admitted: authenticated (with an apps file) or trusted as named.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admitted<'a> {
    grant: Option<AppGrant<'a>>,
}

impl Gate {
    /// A gate over `options.apps` (none: every caller trusted) limiting each app to its
    /// rate, and failed authentications to theirs.
    pub(crate) fn new(options: &crate::ServeOptions) -> Self {
        let (per_second, burst) = (options.auth_failures_per_second, options.auth_failure_burst);
        Gate {
            apps: options.apps.clone(),
            rate: RateLimiter::new(options.rate_per_second, options.rate_burst),
            failed_peers: RateLimiter::new(per_second, burst),
            failed_codes: RateLimiter::new(
                per_second.saturating_mul(CODE_FACTOR),
                burst.saturating_mul(CODE_FACTOR),
            ),
        }
    }

    /// Whether callers must authenticate (there is an apps file).
    pub(crate) fn checks(&self) -> bool {
        self.apps.is_some()
    }

    /// Refuses a peer that used up its failed authentications, before anything of its request
    /// is read (with an apps file; a request without a known peer is not refused here).
    ///
    /// # Errors
    /// 1199997 (answered 429).
    pub(crate) fn refuse_failing_peer(&self, peer: Option<Peer>) -> Result<(), HttpRefusal> {
        match peer {
            Some(peer) if self.checks() && !self.failed_peers.has_token(&peer) => {
                Err(HttpRefusal::TooManyRequests)
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication of `peer` claiming `code`.
    pub(crate) fn failed(&self, peer: Option<Peer>, code: &str) {
        if !self.checks() {
            return;
        }
        if let Some(peer) = peer {
            self.failed_peers.charge(&peer);
        }
        if !code.is_empty() {
            self.failed_codes.charge(code_key(code));
        }
    }

    /// Checks the app's code and secret (with an apps file; without one every caller is
    /// trusted), without taking from its rate.
    ///
    /// # Errors
    /// 1199997 when the claimed code used up its failed authentications; 1199046 for a
    /// missing or wrong code or secret.
    pub(crate) fn authenticate(&self, credentials: &Credentials) -> Result<Admitted<'_>, Refused> {
        let Some(apps) = &self.apps else {
            return Ok(Admitted { grant: None });
        };
        if let Some(code) = &credentials.app_code
            && !self.failed_codes.has_token(code_key(code))
        {
            return Err(HttpRefusal::TooManyRequests.into());
        }
        let grant = apps.authenticate(
            credentials.app_code.as_deref(),
            credentials.app_secret.as_deref(),
        )?;
        Ok(Admitted { grant: Some(grant) })
    }

    /// [`Gate::authenticate`], then the app's rate.
    ///
    /// # Errors
    /// As [`Gate::authenticate`]; 1199997 when the app is over its rate.
    pub(crate) fn admit(&self, credentials: &Credentials) -> Result<Admitted<'_>, Refused> {
        let admitted = self.authenticate(credentials)?;
        if let Some(grant) = admitted.grant
            && !self.rate.admit(grant.code())
        {
            return Err(HttpRefusal::TooManyRequests.into());
        }
        Ok(admitted)
    }
}

/// The key of a claimed code's failure bucket: its first [`MAX_CODE_KEY`] bytes (on a
/// character boundary), so that a huge claimed code costs no more than a short one.
fn code_key(code: &str) -> &str {
    let mut end = code.len().min(MAX_CODE_KEY);
    while !code.is_char_boundary(end) {
        end -= 1;
    }
    &code[..end]
}

impl Admitted<'_> {
    /// Whether the app was authenticated (not merely trusted).
    pub(crate) fn verified(&self) -> bool {
        self.grant.is_some()
    }

    /// Checks that the app may watch the events of `tenant` as `user` (the events are then
    /// those of the businesses the user may read).
    ///
    /// # Errors
    /// 9900403 (without a biz: a watch spans them all).
    pub(crate) fn may_watch(&self, tenant: &str, user: &str) -> Result<(), Failure> {
        match self.grant {
            Some(grant) if !(grant.covers_tenant(tenant) && grant.covers_user(user)) => {
                Err(cmdb_core::Error::PermissionDenied.into())
            }
            _ => Ok(()),
        }
    }

    /// Checks that the app may act for `tenant` and as `user` in `biz`.
    ///
    /// # Errors
    /// 9900403 naming `biz` and the action of `access` (the biz name is left empty: the app
    /// may not look into that tenant).
    pub(crate) fn may_act(
        &self,
        tenant: &str,
        user: &str,
        biz: BizId,
        access: Access,
    ) -> Result<(), Failure> {
        match self.grant {
            Some(grant) if !(grant.covers_tenant(tenant) && grant.covers_user(user)) => {
                Err(match access {
                    Access::Write => Failure::permission_denied(biz, ""),
                    Access::Read => Failure::view_denied(biz, ""),
                })
            }
            _ => Ok(()),
        }
    }
}
