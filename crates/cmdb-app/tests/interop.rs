//! The library side of spec section 15: credentials in an `X-Bkapi-Authorization` value and
//! the message language, per request (`RequestMeta`) and as the builder's default.

use std::sync::Arc;

use cmdb_app::{Engine, Language, RequestMeta};
use cmdb_core::BizId;
use cmdb_core::plan::RequestContext;
use cmdb_store_memory::MemoryStore;
use serde_json::{Value, json};

fn fixture() -> Value {
    json!({
        "bk_supplier_account": "123456789",
        "businesses": [{"bk_biz_id": 1, "bk_biz_name": "demo"}],
        "id_generator": {"set": 4779}
    })
}

/// The body a BlueKing SDK sends: no credentials.
fn sdk_body(name: &str) -> Vec<u8> {
    json!({"bk_supplier_account": "123456789", "bk_biz_id": 1,
           "data": {"bk_parent_id": 1, "bk_set_name": name}})
    .to_string()
    .into_bytes()
}

async fn engine(language: Option<Language>) -> Engine {
    let mut builder = Engine::builder(Arc::new(MemoryStore::new()));
    if let Some(language) = language {
        builder = builder.language(language);
    }
    let engine = builder.build();
    engine.load_fixture(fixture(), "admin").await.unwrap();
    engine
}

#[tokio::test]
async fn header_credentials_and_per_request_language() {
    let engine = engine(None).await;
    let meta = RequestMeta {
        request_id: Some("r1".into()),
        language: None,
        authorization: Some(
            br#"{"bk_app_code":"app","bk_app_secret":"s","bk_username":"dora"}"#.to_vec(),
        ),
    };
    let created = engine.handle_create_set_with(&sdk_body("lib"), &meta).await;
    assert!(created.result, "{created:?}");
    assert_eq!(created.data["bk_created_by"], json!("dora"));
    assert_eq!(created.request_id, "r1");
    let audits = engine
        .audit_records("123456789", BizId(1), None)
        .await
        .unwrap();
    assert_eq!(audits[0]["code"], json!("app"));

    let chinese = RequestMeta {
        language: Some(Language::Zh),
        ..meta.clone()
    };
    let dup = engine
        .handle_create_set_with(&sdk_body("lib"), &chinese)
        .await;
    assert_eq!(
        (dup.code, dup.message.as_str()),
        (1_101_108, "同一父节点下已存在同名集群")
    );
    let dup = engine.handle_create_set_with(&sdk_body("lib"), &meta).await;
    assert_eq!(
        (dup.code, dup.message.as_str()),
        (1_101_108, "the same set name exist")
    );

    let bad = RequestMeta {
        authorization: Some(b"not json".to_vec()),
        ..chinese
    };
    let refused = engine
        .handle_create_set_with(&sdk_body("other"), &bad)
        .await;
    assert_eq!(
        (refused.code, refused.message.as_str()),
        (1_199_045, "解析授权信息失败")
    );
    // Batch answers follow the request's language too, element messages included.
    let batch = json!({"bk_username": "dora", "bk_supplier_account": "123456789", "bk_biz_id": 1,
                       "data": {"sets": [{"bk_parent_id": 1, "bk_set_name": "lib"}]}});
    let answer = engine
        .handle_batch_create_with(
            batch.to_string().as_bytes(),
            &RequestMeta {
                language: Some(Language::Zh),
                ..RequestMeta::default()
            },
        )
        .await;
    assert_eq!(
        answer.data[0]["error_message"],
        json!("同一父节点下已存在同名集群")
    );
    assert_eq!(answer.message, "同一父节点下已存在同名集群");
}

#[tokio::test]
async fn the_builder_default_language_applies_to_every_answer() {
    let engine = engine(Some(Language::Zh)).await;
    let ctx = RequestContext {
        user: "dora".into(),
        supplier_account: "123456789".into(),
        app_code: String::new(),
        request_id: "r2".into(),
    };
    let data = json!({"bk_parent_id": 1, "bk_set_name": "a/b"});
    let failure = engine
        .create_set(&ctx, BizId(1), data.as_object().unwrap())
        .await
        .unwrap_err();
    assert_eq!(failure.message(), "'bk_set_name' 数据参数校验不通过");
    // The same failure in English, on demand.
    assert_eq!(
        failure.in_language(Language::En).message(),
        "'bk_set_name' the parameter is invalid"
    );
    let missing = engine
        .find_sets("123456789", BizId(9), None)
        .await
        .unwrap_err();
    assert_eq!(missing.message(), "'bk_biz_id' 参数无效或不存在");
    // A per-request language overrides the default.
    let english = engine
        .handle_create_set_with(
            b"{}",
            &RequestMeta {
                language: Some(Language::En),
                ..RequestMeta::default()
            },
        )
        .await;
    assert_eq!(
        english.message,
        "'user' authorization information query failed"
    );
}
