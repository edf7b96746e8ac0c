//! Who is calling: the app's credentials checked against the apps file, its grant of tenants
//! and users, and its request rate (spec section 16; `cmdb serve --apps`).

use std::sync::Arc;

use cmdb_app::Failure;
use cmdb_app::apps::{AppGrant, AppRegistry};
use cmdb_app::request::Credentials;
use cmdb_core::{BizId, Error};

use crate::rate::RateLimiter;

/// The apps file (when there is one) and the rate limiter.
#[derive(Debug)]
pub(crate) struct Gate {
    apps: Option<Arc<AppRegistry>>,
    rate: RateLimiter,
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
    /// A gate over `apps` (none: every caller trusted) limiting each app to `per_second`
    /// requests a second in bursts of `burst`.
    pub(crate) fn new(apps: Option<Arc<AppRegistry>>, per_second: u32, burst: u32) -> Self {
        Gate {
            apps,
            rate: RateLimiter::new(per_second, burst),
        }
    }

    /// Checks the app's code and secret, then its rate (with an apps file; without one every
    /// caller is trusted and there is no app to limit).
    ///
    /// # Errors
    /// 1199046 for a missing or wrong code or secret; 1199997 when the app is over its rate.
    pub(crate) fn admit(&self, credentials: &Credentials) -> Result<Admitted<'_>, Failure> {
        let Some(apps) = &self.apps else {
            return Ok(Admitted { grant: None });
        };
        let grant = apps.authenticate(
            credentials.app_code.as_deref(),
            credentials.app_secret.as_deref(),
        )?;
        if !self.rate.admit(grant.code()) {
            return Err(Error::TooManyRequests.into());
        }
        Ok(Admitted { grant: Some(grant) })
    }
}

impl Admitted<'_> {
    /// Checks that the app may act for `tenant` and as `user`.
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
