//! The ESB byte handlers: request bodies (and what the adapter knows of a request) parsed into
//! engine calls, and their results rendered as response envelopes.

use cmdb_core::plan::RequestContext;
use cmdb_core::records::Document;
use cmdb_core::{BizId, Error, Language};
use serde_json::{Value, json};

use super::{BatchElement, Engine, RequestMeta};
use crate::envelope::{Envelope, Failure};
use crate::request::{EsbArgs, parse_body, parse_esb_with};

impl Engine {
    /// The request context of an ESB request.
    fn context(&self, args: &EsbArgs, request_id: String) -> RequestContext {
        RequestContext {
            user: args.user.clone(),
            supplier_account: args.supplier_account.clone(),
            app_code: args.app_code.clone(),
            request_id,
        }
    }

    /// Answers an ESB `create_set` request body with the response envelope.
    pub async fn handle_create_set(&self, body: &[u8], request_id: Option<String>) -> Envelope {
        let meta = RequestMeta {
            request_id,
            ..RequestMeta::default()
        };
        self.handle_create_set_with(body, &meta).await
    }

    /// [`Engine::handle_create_set`] with what the adapter knows of the request: its id, the
    /// caller's language and the `X-Bkapi-Authorization` header.
    pub async fn handle_create_set_with(&self, body: &[u8], meta: &RequestMeta) -> Envelope {
        let rid = self.request_id_of(meta);
        let language = meta.language.unwrap_or(self.options.language);
        let args = match self.esb_args(body, meta) {
            Ok(args) => args,
            Err(e) => return Envelope::failure(rid, &Failure::from(e).in_language(language)),
        };
        let ctx = self.context(&args, rid.clone());
        match self.create_set(&ctx, args.biz, &args.data).await {
            Ok(doc) => Envelope::success(rid, Value::Object(doc)),
            Err(f) => Envelope::failure(rid, &f.in_language(language)),
        }
    }

    /// Answers a batch request body (`data: {"sets": […], "atomic": bool}`) with the envelope.
    pub async fn handle_batch_create(&self, body: &[u8], request_id: Option<String>) -> Envelope {
        let meta = RequestMeta {
            request_id,
            ..RequestMeta::default()
        };
        self.handle_batch_create_with(body, &meta).await
    }

    /// [`Engine::handle_batch_create`] with what the adapter knows of the request.
    pub async fn handle_batch_create_with(&self, body: &[u8], meta: &RequestMeta) -> Envelope {
        let rid = self.request_id_of(meta);
        let language = meta.language.unwrap_or(self.options.language);
        let parsed = self.esb_args(body, meta).and_then(|args| {
            let (sets, atomic) = batch_fields(&args.data)?;
            Ok((args, sets, atomic))
        });
        let (args, sets, atomic) = match parsed {
            Ok(parts) => parts,
            Err(e) => return Envelope::failure(rid, &Failure::from(e).in_language(language)),
        };
        let ctx = self.context(&args, rid.clone());
        self.batch_envelope_for(&ctx, args.biz, &sets, atomic, language)
            .await
    }

    fn request_id_of(&self, meta: &RequestMeta) -> String {
        meta.request_id
            .clone()
            .unwrap_or_else(|| self.new_request_id())
    }

    fn esb_args(&self, body: &[u8], meta: &RequestMeta) -> Result<EsbArgs, Error> {
        parse_body(body).and_then(|b| {
            parse_esb_with(
                &b,
                meta.authorization.as_deref(),
                self.options.default_user.as_deref(),
            )
        })
    }

    /// Answers a batch whose envelope fields are already known (e.g. from HTTP headers):
    /// `data` is `{"sets": […], "atomic": bool}`. The envelope's `request_id` is the context's.
    /// Messages are in `language`.
    pub async fn handle_batch(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        data: &Document,
        language: Language,
    ) -> Envelope {
        match batch_fields(data) {
            Ok((sets, atomic)) => {
                self.batch_envelope_for(ctx, biz, &sets, atomic, language)
                    .await
            }
            Err(e) => Envelope::failure(
                ctx.request_id.clone(),
                &Failure::from(e).in_language(language),
            ),
        }
    }

    async fn batch_envelope_for(
        &self,
        ctx: &RequestContext,
        biz: BizId,
        sets: &[Value],
        atomic: bool,
        language: Language,
    ) -> Envelope {
        let rid = ctx.request_id.clone();
        match self.batch_create(ctx, biz, sets, atomic).await {
            Ok(elements) => {
                let elements: Vec<BatchElement> = elements
                    .into_iter()
                    .map(|e| BatchElement {
                        index: e.index,
                        outcome: e.outcome.map_err(|f| f.in_language(language)),
                    })
                    .collect();
                batch_envelope(rid, &elements)
            }
            Err(f) => Envelope::failure(rid, &f.in_language(language)),
        }
    }
}

/// Reads `sets` (an array, 1199006 otherwise) and `atomic` (a bool, default false).
fn batch_fields(data: &Document) -> Result<(Vec<Value>, bool), Error> {
    let sets = match data.get("sets") {
        Some(Value::Array(items)) => items.clone(),
        _ => return Err(Error::invalid("sets")),
    };
    let atomic = match data.get("atomic") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid("atomic")),
    };
    Ok((sets, atomic))
}

/// The envelope of a completed batch: `data` lists every element; `result` is true only when
/// all succeeded, else code and message are the first failure's.
fn batch_envelope(request_id: String, elements: &[BatchElement]) -> Envelope {
    let data: Vec<Value> = elements
        .iter()
        .map(|e| match &e.outcome {
            Ok(doc) => json!({"index": e.index, "code": 0, "error_message": "", "data": doc}),
            Err(f) => {
                json!({"index": e.index, "code": f.code().number(), "error_message": f.message(), "data": null})
            }
        })
        .collect();
    let first_failure = elements.iter().find_map(|e| e.outcome.as_ref().err());
    let mut envelope = Envelope::success(request_id, Value::Array(data));
    if let Some(f) = first_failure {
        envelope.result = false;
        envelope.code = f.code().number();
        envelope.message = f.message().to_owned();
    }
    envelope
}
