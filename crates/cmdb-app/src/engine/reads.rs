//! The read use cases: sets, modules and audit records of a biz, for trusted callers and,
//! with the view permission and a page, for callers the engine does not trust.

use std::sync::Arc;

use cmdb_core::backend::DocQuery;
use cmdb_core::plan::RequestContext;
use cmdb_core::ports::SetStoreExt;
use cmdb_core::records::{Document, ResourceType};
use cmdb_core::typed::{Module, Set};
use cmdb_core::{BizId, Error, SetId};

use super::{Engine, typed_module, typed_set};
use crate::envelope::Failure;
use crate::paging::{Listing, Page};
use crate::request::check_user;

impl Engine {
    async fn readable_biz(&self, supplier_account: &str, biz: BizId) -> Result<(), Failure> {
        match self.store.business(biz).await? {
            Some(b) if b.bk_supplier_account == supplier_account => Ok(()),
            _ => Err(Error::invalid_or_missing("bk_biz_id").into()),
        }
    }

    /// Checks a reader: a valid user name (1199027), then the view permission on the biz
    /// (9900403 naming the biz when it is in the reader's tenant, else with an empty name).
    async fn may_view(&self, ctx: &RequestContext, biz: BizId) -> Result<(), Failure> {
        check_user(&ctx.user)?;
        if self.viewer.may_view(&ctx.user, biz) {
            return Ok(());
        }
        let name = self
            .store
            .business(biz)
            .await?
            .filter(|b| b.bk_supplier_account == ctx.supplier_account)
            .map(|b| b.bk_biz_name)
            .unwrap_or_default();
        Err(Failure::view_denied(biz, &name))
    }

    /// [`Engine::find_sets`] for a caller the engine does not trust: the acting user must be a
    /// valid user name and may view the biz; the answer is one [`Page`] with the total count,
    /// read as one page from the store (its cost does not grow with the listing).
    ///
    /// # Errors
    /// 1199027, 9900403 (view), then as [`Engine::find_sets`].
    pub async fn find_sets_as(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        set: Option<SetId>,
        page: Page,
    ) -> Result<Listing, Failure> {
        self.localized(self.may_view(ctx, biz).await)?;
        let listing = async {
            self.readable_biz(&ctx.supplier_account, biz).await?;
            let found = self.store.page(DocQuery::Sets { biz, set }, page.window());
            let found = found.await?;
            if set.is_some() && found.count == 0 {
                return Err(Error::NotFound.into());
            }
            Ok(Listing::from(found))
        };
        self.localized(listing.await)
    }

    /// [`Engine::list_modules`] for a caller the engine does not trust, paged (see
    /// [`Engine::find_sets_as`]).
    ///
    /// # Errors
    /// 1199027, 9900403 (view), then as [`Engine::list_modules`].
    pub async fn list_modules_as(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        set: SetId,
        page: Page,
    ) -> Result<Listing, Failure> {
        self.find_sets_as(ctx, biz, Some(set), Page::default())
            .await?;
        let modules = self.store.page(DocQuery::Modules { set }, page.window());
        self.localized(modules.await.map(Listing::from).map_err(Failure::from))
    }

    /// [`Engine::audit_records`] for a caller the engine does not trust, paged (see
    /// [`Engine::find_sets_as`]).
    ///
    /// # Errors
    /// 1199027, 9900403 (view), then as [`Engine::audit_records`].
    pub async fn audit_records_as(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        resource_type: Option<ResourceType>,
        page: Page,
    ) -> Result<Listing, Failure> {
        self.localized(self.may_view(ctx, biz).await)?;
        let listing = async {
            self.readable_biz(&ctx.supplier_account, biz).await?;
            let query = DocQuery::Audit { biz, resource_type };
            Ok(Listing::from(self.store.page(query, page.window()).await?))
        };
        self.localized(listing.await)
    }

    /// The sets of a biz (archived ones too), or one set; ordered by `bk_set_id`. No
    /// permission check and no page: for a trusted, embedding caller; adapters that answer
    /// untrusted callers use [`Engine::find_sets_as`].
    ///
    /// # Errors
    /// 1199011 for an unknown biz, 1199019 for a set not in it.
    pub async fn find_sets(
        &self,
        supplier_account: &str,
        biz: BizId,
        set: Option<SetId>,
    ) -> Result<Vec<Document>, Failure> {
        let found = async {
            self.readable_biz(supplier_account, biz).await?;
            let sets = self.store.sets(biz, set).await?;
            if set.is_some() && sets.is_empty() {
                return Err(Error::NotFound.into());
            }
            Ok(sets)
        };
        self.localized(found.await)
    }

    /// The modules of a set, ordered by `bk_module_id`.
    ///
    /// # Errors
    /// 1199011 for an unknown biz, 1199019 for a set not in it.
    pub async fn list_modules(
        &self,
        supplier_account: &str,
        biz: BizId,
        set: SetId,
    ) -> Result<Vec<Document>, Failure> {
        self.find_sets(supplier_account, biz, Some(set)).await?;
        self.localized(self.store.modules(set).await.map_err(Failure::from))
    }

    /// [`Engine::find_sets`], typed: the sets of a biz, or one set, as [`Set`]s.
    ///
    /// # Errors
    /// As [`Engine::find_sets`]; a stored document without its built-in fields is a corrupt
    /// store (1199999).
    pub async fn sets(
        &self,
        supplier_account: &str,
        biz: BizId,
        set: Option<SetId>,
    ) -> Result<Vec<Set>, Failure> {
        let docs = self.find_sets(supplier_account, biz, set).await?;
        docs.into_iter().map(|d| typed_set(Arc::new(d))).collect()
    }

    /// [`Engine::list_modules`], typed.
    ///
    /// # Errors
    /// As [`Engine::list_modules`]; a stored document without its fields is a corrupt store.
    pub async fn modules(
        &self,
        supplier_account: &str,
        biz: BizId,
        set: SetId,
    ) -> Result<Vec<Module>, Failure> {
        let docs = self.list_modules(supplier_account, biz, set).await?;
        docs.into_iter().map(typed_module).collect()
    }

    /// The audit records of a biz, ordered by `id`.
    ///
    /// # Errors
    /// 1199011 for an unknown biz.
    pub async fn audit_records(
        &self,
        supplier_account: &str,
        biz: BizId,
        resource_type: Option<ResourceType>,
    ) -> Result<Vec<Document>, Failure> {
        let records = async {
            self.readable_biz(supplier_account, biz).await?;
            Ok(self.store.audit_records(biz, resource_type).await?)
        };
        self.localized(records.await)
    }
}
