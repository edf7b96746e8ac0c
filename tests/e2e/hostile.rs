//! Hostile input: arbitrary and adversarial request bodies fed as bytes to
//! `Engine::handle_create_set` and `Engine::handle_batch_create` never panic, never leak an
//! internal error, and always answer a well-formed envelope; the body limits refuse oversized
//! and over-deep bodies before parsing them in full.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cmdb_app::request::{MAX_BODY_BYTES, MAX_DEPTH};
use cmdb_app::{Engine, Envelope};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::facts::{FactsQuery, StoredFacts};
use cmdb_core::fixture::{CatalogBatch, LoadReport};
use cmdb_core::ids::SequenceKind;
use cmdb_core::plan::CreatePlan;
use cmdb_core::ports::{BatchFailure, SetStore};
use cmdb_core::records::{CreatedSet, Document, ResourceType};
use cmdb_core::{BizId, SetId, StoreError};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{Value, json};

/// Every code the create and batch use cases are documented to answer with.
const DOCUMENTED: [i64; 20] = [
    0, 1_101_092, 1_101_108, 1_199_000, 1_199_006, 1_199_007, 1_199_009, 1_199_010, 1_199_011,
    1_199_014, 1_199_015, 1_199_016, 1_199_019, 1_199_024, 1_199_025, 1_199_027, 1_199_035,
    1_199_054, 1_199_092, 9_900_403,
];

const RID: &str = "0123456789abcdef0123456789abcdef";
const TOO_BIG: &str = "Deserializing JSON data failed: body exceeds 1 MiB";
const TOO_DEEP: &str = "Deserializing JSON data failed: nested deeper than 64 levels";
const NOT_JSON: &str = "Deserializing JSON data failed";

/// A mainline level `zone` (instance 50 in biz 1), an archived biz 2, a biz 3 without idle
/// set, a custom set attribute of every type, a unique rule and a template of two services.
fn fixture() -> Value {
    serde_json::from_str(include_str!("../fuzz/fixture.json"))
        .expect("the hostile-input fixture is JSON")
}

/// A valid `data` of biz 1 that sets every custom attribute.
fn full_data() -> Vec<(&'static str, &'static str)> {
    vec![
        ("bk_parent_id", "50"),
        ("bk_set_name", r#""full""#),
        ("bk_set_desc", r#""d""#),
        ("bk_set_env", r#""1""#),
        ("bk_service_status", r#""2""#),
        ("description", r#""x""#),
        ("bk_capacity", "10"),
        ("team", r#""ops""#),
        ("notes", r#""n""#),
        ("weight", "7"),
        ("ratio", r#""0.5""#),
        ("tier", r#""2""#),
        ("tags", r#"["a","b"]"#),
        ("born", r#""2024-02-29""#),
        ("seen", r#""2024-02-29 10:00:00""#),
        ("tz", r#""Asia/Shanghai""#),
        ("on", "true"),
        ("owners", r#""alice,bob""#),
        ("region", r#""north""#),
        ("org", "[3]"),
        ("default", "0"),
    ]
}

fn object(entries: &[(impl AsRef<str>, impl AsRef<str>)]) -> String {
    let inner: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{}:{}", json!(k.as_ref()), v.as_ref()))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn request(biz: &str, data: &str) -> String {
    format!(r#"{{"bk_username":"u","bk_biz_id":{biz},"data":{data}}}"#)
}

fn engine(runtime: &tokio::runtime::Runtime) -> Engine {
    load(
        runtime,
        Engine::builder(Arc::new(cmdb_store_memory::MemoryStore::new())).build(),
    )
}

/// The other engine options: unknown keys dropped (bk-cmdb's behaviour) and a default user.
fn lenient_engine(runtime: &tokio::runtime::Runtime) -> Engine {
    load(
        runtime,
        Engine::builder(Arc::new(cmdb_store_memory::MemoryStore::new()))
            .unknown_keys(cmdb_core::rules::keys::UnknownKeys::Drop)
            .default_user(Some("fallback".into()))
            .build(),
    )
}

fn load(runtime: &tokio::runtime::Runtime, engine: Engine) -> Engine {
    let loaded = runtime.block_on(engine.load_fixture(fixture(), "admin"));
    assert!(loaded.is_ok(), "the hostile fixture loads: {loaded:?}");
    engine
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// The envelope is what the spec says whatever the input: a documented code, `result` iff
/// code 0, our request id, and the six keys in order with nothing else.
fn check_envelope(envelope: &Envelope, batch: bool) -> Result<(), String> {
    let text = envelope.to_json();
    let parsed: Value =
        serde_json::from_str(&text).map_err(|e| format!("envelope is not JSON: {e}: {text}"))?;
    let rebuilt = format!(
        r#"{{"result":{},"code":{},"message":{},"permission":{},"request_id":{},"data":{}}}"#,
        parsed["result"],
        parsed["code"],
        parsed["message"],
        parsed["permission"],
        parsed["request_id"],
        parsed["data"]
    );
    if text != rebuilt {
        return Err(format!("keys out of order or extra: {text}"));
    }
    let code = parsed["code"].as_i64().ok_or("code is not an integer")?;
    if !DOCUMENTED.contains(&code) {
        return Err(format!("undocumented code {code}: {text}"));
    }
    if parsed["result"] != json!(code == 0) || parsed["request_id"] != json!(RID) {
        return Err(format!("result/request_id wrong: {text}"));
    }
    let message = parsed["message"]
        .as_str()
        .ok_or("message is not a string")?;
    if (code == 0) != message.is_empty() {
        return Err(format!("message and code disagree: {text}"));
    }
    match (&parsed["permission"], code) {
        (Value::Object(_), 9_900_403) | (Value::Null, _) => {}
        _ => return Err(format!("permission wrong: {text}")),
    }
    let data = &parsed["data"];
    match (batch, code) {
        (false, 0) if data.is_object() => {}
        (false, c) if c != 0 && data.is_null() => {}
        (true, _) if data.is_null() && code != 0 => {}
        (true, _) if data.is_array() => {
            for element in data.as_array().unwrap() {
                let c = element["code"].as_i64().ok_or("element code")?;
                if !DOCUMENTED.contains(&c) || (c == 0 && element["data"].is_null()) {
                    return Err(format!("bad batch element: {element}"));
                }
            }
        }
        _ => return Err(format!("data wrong for code {code}: {text}")),
    }
    Ok(())
}

/// Feeds `body` to both handlers of `engine`; both envelopes must be well formed.
fn feed(runtime: &tokio::runtime::Runtime, engine: &Engine, body: &[u8]) -> (Envelope, Envelope) {
    let single = runtime.block_on(engine.handle_create_set(body, Some(RID.into())));
    let batch = runtime.block_on(engine.handle_batch_create(body, Some(RID.into())));
    (single, batch)
}

// ---- strategies -------------------------------------------------------------------------

/// JSON number literals at and beyond the edges, as text (serde_json would normalise them).
fn number() -> impl Strategy<Value = String> {
    let specials = prop::sample::select(vec![
        "0",
        "-0",
        "1",
        "-1",
        "7",
        "50",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "123456789012345678901234567890",
        "1e308",
        "-1e308",
        "1e309",
        "1.7976931348623157e308",
        "5e-324",
        "1.5",
        "15.0",
        "3.0",
        "1e20",
        "1E2",
        "-0.0",
        "0.1e1",
        "999999999",
        "1000000000",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        3 => specials,
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:?}")),
    ]
}

/// JSON string literals: escaped arbitrary text, odd Unicode, huge strings, bad escapes.
fn string() -> impl Strategy<Value = String> {
    let specials = prop::sample::select(vec![
        "",
        " ",
        "\u{3000}",
        " a ",
        "a b",
        "a/b",
        "a#b",
        "03",
        "-3",
        "+3",
        "1",
        "1.5",
        "1e3",
        "true",
        "null",
        "2024-02-30",
        "2024-02-29",
        "2024-02-29 25:00:00",
        "Asia/Shanghai",
        "../../etc",
        "alice,,bob",
        "空闲机池",
        "north",
        "\u{0}",
        "\u{feff}x",
    ])
    .prop_map(|s| serde_json::to_string(s).unwrap());
    let raw = prop::sample::select(vec![
        r#""\ud800""#,
        r#""\udc00\ud800""#,
        r#""\u00""#,
        r#""\x41""#,
        "\"unterminated",
        "\"tab\there\"",
    ])
    .prop_map(str::to_owned);
    let huge = (0usize..4, prop::sample::select(vec!['a', 'é', '中', ' '])).prop_map(|(i, c)| {
        serde_json::to_string(&c.to_string().repeat([257, 2001, 70_000, 300_000][i])).unwrap()
    });
    prop_oneof![
        4 => specials,
        4 => any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        1 => raw,
        1 => huge,
    ]
}

/// Object keys a request plausibly uses, and some it should not.
fn key() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "bk_username",
        "bk_biz_id",
        "data",
        "bk_supplier_account",
        "bk_app_code",
        "bk_set_name",
        "bk_parent_id",
        "bk_set_desc",
        "bk_set_env",
        "bk_service_status",
        "description",
        "bk_capacity",
        "set_template_id",
        "set_template_version",
        "default",
        "bk_set_id",
        "metadata",
        "bk_obj_id",
        "sets",
        "atomic",
        "team",
        "weight",
        "ratio",
        "tier",
        "tags",
        "born",
        "seen",
        "tz",
        "on",
        "owners",
        "region",
        "org",
        "notes",
        "",
    ])
    .prop_map(|k| serde_json::to_string(k).unwrap());
    prop_oneof![4 => known, 1 => string()]
}

/// Arbitrary JSON text (with duplicate keys and odd literals), a few levels deep.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        number(),
        string(),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key(), inner), 0..6).prop_map(|entries| {
                let inner: Vec<String> = entries
                    .into_iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect();
                format!("{{{}}}", inner.join(","))
            }),
        ]
    })
}

/// Nesting of `depth` levels inside `data`, around the limit and far beyond, closed or not.
fn deep() -> impl Strategy<Value = String> {
    (
        prop_oneof![1usize..80, 60usize..70, Just(100_000usize)],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(depth, arrays, closed)| {
            let (open, close) = if arrays {
                ("[", "]")
            } else {
                (r#"{"a":"#, "}")
            };
            let tail = if closed {
                close.repeat(depth)
            } else {
                String::new()
            };
            let null = if arrays { "" } else { "null" };
            request(
                "1",
                &format!(r#"{{"x":{}{null}{tail}}}"#, open.repeat(depth)),
            )
        })
}

/// A valid full request with one field replaced, removed or duplicated, single or batch.
fn mutated() -> impl Strategy<Value = String> {
    let fields = full_data().len();
    (
        0..fields,
        0u8..3,
        json_text(),
        prop_oneof![Just("1"), Just("\"1\""), Just("3"), Just("2")],
        any::<bool>(),
        json_text(),
    )
        .prop_map(move |(at, how, value, biz, batch, atomic)| {
            let mut entries: Vec<(String, String)> = full_data()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            match how {
                0 => entries[at].1 = value,
                1 => {
                    entries.remove(at);
                }
                _ => {
                    let k = entries[at].0.clone();
                    entries.push((k, value));
                }
            }
            let data = object(&entries);
            if batch {
                request(
                    biz,
                    &format!(r#"{{"sets":[{data},{data}],"atomic":{atomic}}}"#),
                )
            } else {
                request(biz, &data)
            }
        })
}

/// Envelope fields of arbitrary values and types.
fn shaped() -> impl Strategy<Value = String> {
    prop::collection::vec((key(), json_text()), 0..8).prop_map(|entries| object(&entries))
}

/// Any of the above, a truncated one, or raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => mutated().prop_map(String::into_bytes),
        2 => shaped().prop_map(String::into_bytes),
        1 => deep().prop_map(String::into_bytes),
        1 => (mutated(), any::<prop::sample::Index>())
            .prop_map(|(s, i)| s.as_bytes()[..i.index(s.len() + 1)].to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

#[test]
fn arbitrary_bodies_always_get_a_well_formed_envelope() {
    let cases = if crate::crash::slow_tests() {
        20_000
    } else {
        600
    };
    let config = Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x00C0_FFEE),
        ..Config::default()
    };
    let rt = runtime();
    let tried = AtomicUsize::new(0);
    let successes = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&body(), |bytes| {
        let n = tried.fetch_add(1, Ordering::Relaxed);
        // A fresh store per case: earlier successes would turn later ones into duplicates.
        // Every other case runs on the lenient options.
        let engine = if n.is_multiple_of(2) {
            engine(&rt)
        } else {
            lenient_engine(&rt)
        };
        let (single, batch) = feed(&rt, &engine, &bytes);
        check_envelope(&single, false).map_err(TestCaseError::fail)?;
        check_envelope(&batch, true).map_err(TestCaseError::fail)?;
        if single.result {
            successes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let tried = tried.into_inner();
    let successes = successes.into_inner();
    assert!(tried >= cases as usize, "{tried} inputs for {cases} cases");
    println!("hostile: {tried} proptest inputs tried, {successes} accepted by create_set");
    // The interesting branch (a request that passes every rule and is stored) ran: about 2.5%
    // of the inputs reach it; at least one in 200 must.
    assert!(
        successes >= tried / 200,
        "only {successes} of {tried} inputs were accepted"
    );
}

#[test]
fn the_property_run_reaches_success_and_each_failure_family() {
    // The generators are not all rejections: this sample of the mutated family covers successes
    // and rule failures, so the property above exercises the validators, not only the parser.
    let rt = runtime();
    let mut runner = TestRunner::new(Config {
        rng_seed: RngSeed::Fixed(0x00C0_FFEE),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = mutated();
    let mut codes = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let body = strategy.new_tree(&mut runner).unwrap().current();
        let engine = engine(&rt);
        codes.insert(feed(&rt, &engine, body.as_bytes()).0.code);
    }
    for code in [0, 1_199_000, 1_199_006, 1_199_009, 1_199_011] {
        assert!(codes.contains(&code), "{code} not reached: {codes:?}");
    }
}

#[test]
fn a_body_over_one_mebibyte_is_refused_before_it_is_parsed() {
    let rt = runtime();
    let engine = engine(&rt);
    // Exactly 1 MiB of a valid request (padded with spaces) is accepted and creates the set.
    let valid = request("1", r#"{"bk_parent_id":50,"bk_set_name":"big"}"#);
    let mut exact = valid.clone().into_bytes();
    exact.resize(MAX_BODY_BYTES, b' ');
    let (single, _) = feed(&rt, &engine, &exact);
    assert_eq!((single.code, single.message.as_str()), (0, ""));
    assert_eq!(single.data["bk_set_name"], json!("big"));
    // One byte more is refused with the size message, by both handlers.
    let mut over = valid.into_bytes();
    over.resize(MAX_BODY_BYTES + 1, b' ');
    for envelope in <[Envelope; 2]>::from(feed(&rt, &engine, &over)) {
        assert_eq!(
            (envelope.code, envelope.message.as_str()),
            (1_199_000, TOO_BIG)
        );
        assert_eq!(envelope.data, Value::Null);
    }
    // 2 MiB of invalid JSON: a parser would stop at the first bad byte and say "not JSON";
    // the size message proves the length is checked before any parsing.
    let mut garbage = b"{\"bk_username\":".to_vec();
    garbage.resize(2 * MAX_BODY_BYTES, b'!');
    let small_garbage = &garbage[..1024];
    let (single, batch) = feed(&rt, &engine, small_garbage);
    assert_eq!(
        (single.code, single.message.as_str()),
        (1_199_000, NOT_JSON)
    );
    assert_eq!((batch.code, batch.message.as_str()), (1_199_000, NOT_JSON));
    for envelope in <[Envelope; 2]>::from(feed(&rt, &engine, &garbage)) {
        assert_eq!(
            (envelope.code, envelope.message.as_str()),
            (1_199_000, TOO_BIG)
        );
        check_envelope(&envelope, false).unwrap();
    }
}

#[test]
fn nesting_deeper_than_64_levels_is_refused_before_it_is_parsed() {
    let rt = runtime();
    let engine = engine(&rt);
    // The top-level object is level 1, `data` level 2: 62 more levels make 64, accepted (the
    // unknown key is then the first rule to fail); 63 more make 65, refused.
    let nested = |levels: usize| {
        request(
            "1",
            &format!(
                r#"{{"bk_parent_id":50,"bk_set_name":"n","x":{}{}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            ),
        )
    };
    let (single, batch) = feed(&rt, &engine, nested(MAX_DEPTH - 2).as_bytes());
    assert_eq!(
        (single.code, single.message.as_str()),
        (1_199_011, "'x' the parameter is invalid or does not exist")
    );
    assert_eq!(
        (batch.code, batch.message.as_str()),
        (1_199_006, "'sets' the parameter is invalid")
    );
    for envelope in <[Envelope; 2]>::from(feed(&rt, &engine, nested(MAX_DEPTH - 1).as_bytes())) {
        assert_eq!(
            (envelope.code, envelope.message.as_str()),
            (1_199_000, TOO_DEEP)
        );
    }
    // 100,000 levels: serde_json alone would give up on its recursion limit (a plain parse
    // failure); the depth message proves the scan ran first. Closed or not, arrays or objects.
    let closed = nested(100_000);
    let direct = serde_json::from_str::<Value>(&closed).unwrap_err();
    assert!(
        direct.to_string().starts_with("recursion limit exceeded"),
        "{direct}"
    );
    let unclosed = request("1", &format!(r#"{{"x":{}"#, "[".repeat(100_000)));
    let objects = request("1", &format!(r#"{{"x":{}1"#, r#"{"a":"#.repeat(100_000)));
    for body in [closed, unclosed, objects] {
        for envelope in <[Envelope; 2]>::from(feed(&rt, &engine, body.as_bytes())) {
            assert_eq!(
                (envelope.code, envelope.message.as_str()),
                (1_199_000, TOO_DEEP)
            );
        }
    }
    // Brackets inside strings are text, not nesting.
    let in_string = request(
        "1",
        &format!(
            r#"{{"bk_parent_id":50,"bk_set_name":"s","bk_set_desc":"{}"}}"#,
            "[{".repeat(100)
        ),
    );
    let (single, _) = feed(&rt, &engine, in_string.as_bytes());
    assert_eq!((single.code, single.message.as_str()), (0, ""));
}

#[test]
fn numbers_at_and_beyond_the_integer_edges_get_their_codes() {
    let rt = runtime();
    let data = r#"{"bk_parent_id":50,"bk_set_name":"edge"}"#;
    let need_int = |f: &str| (1_199_009, format!("'{f}' parameters must be integral"));
    let invalid = |f: &str| (1_199_006, format!("'{f}' the parameter is invalid"));
    let missing = |f: &str| {
        (
            1_199_011,
            format!("'{f}' the parameter is invalid or does not exist"),
        )
    };
    let ok = (0, String::new());
    let cases: Vec<(String, (i64, String))> = vec![
        // bk_biz_id: an i64 integer; beyond i64, floats and exponents are not integral.
        (request("9223372036854775807", data), missing("bk_biz_id")),
        (request("-9223372036854775808", data), missing("bk_biz_id")),
        (request("9223372036854775808", data), need_int("bk_biz_id")),
        (request("-9223372036854775809", data), need_int("bk_biz_id")),
        (request("18446744073709551616", data), need_int("bk_biz_id")),
        (request("1e308", data), need_int("bk_biz_id")),
        (request("1.0", data), need_int("bk_biz_id")),
        (request("1E0", data), need_int("bk_biz_id")),
        (
            request(r#""9223372036854775808""#, data),
            need_int("bk_biz_id"),
        ),
        (request(r#""01""#, data), ok.clone()),
        // bk_parent_id: a JSON integer > 0, else 1199006; a big unknown one is 1199011.
        (
            request("1", r#"{"bk_parent_id":50.0,"bk_set_name":"e"}"#),
            invalid("bk_parent_id"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":9223372036854775808,"bk_set_name":"e"}"#,
            ),
            invalid("bk_parent_id"),
        ),
        (
            request("1", r#"{"bk_parent_id":1e308,"bk_set_name":"e"}"#),
            invalid("bk_parent_id"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":-9223372036854775808,"bk_set_name":"e"}"#,
            ),
            invalid("bk_parent_id"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":9223372036854775807,"bk_set_name":"e"}"#,
            ),
            missing("bk_parent_id"),
        ),
        // bk_capacity: int in 1 … 999999999.
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","bk_capacity":1e308}"#,
            ),
            need_int("bk_capacity"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","bk_capacity":15.0}"#,
            ),
            need_int("bk_capacity"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","bk_capacity":9223372036854775808}"#,
            ),
            need_int("bk_capacity"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","bk_capacity":"5"}"#,
            ),
            need_int("bk_capacity"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","bk_capacity":1000000000}"#,
            ),
            invalid("bk_capacity"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","bk_capacity":-9223372036854775808}"#,
            ),
            invalid("bk_capacity"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","bk_capacity":999999999}"#,
            ),
            ok.clone(),
        ),
        // weight: custom int in [-5, 100].
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","weight":-9223372036854775809}"#,
            ),
            need_int("weight"),
        ),
        (
            request("1", r#"{"bk_parent_id":50,"bk_set_name":"e","weight":101}"#),
            invalid("weight"),
        ),
        (
            request("1", r#"{"bk_parent_id":50,"bk_set_name":"e","weight":-5}"#),
            ok.clone(),
        ),
        // ratio: custom float in [0, 1.5].
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","ratio":1e308}"#,
            ),
            invalid("ratio"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","ratio":"1e3"}"#,
            ),
            invalid("ratio"),
        ),
        (
            request("1", r#"{"bk_parent_id":50,"bk_set_name":"e","ratio":1.5}"#),
            ok.clone(),
        ),
        // set_template_id: a JSON integer ≥ 0 naming a template of the biz.
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","set_template_id":1.0}"#,
            ),
            invalid("set_template_id"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","set_template_id":9223372036854775808}"#,
            ),
            invalid("set_template_id"),
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","set_template_id":9223372036854775807}"#,
            ),
            (1_199_019, "No relevant data found".into()),
        ),
        // default: 0 or 1 only.
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"e","default":1.0}"#,
            ),
            invalid("default"),
        ),
        // serde_json cannot represent 1e309: not JSON we can read.
        (request("1e309", data), (1_199_000, NOT_JSON.into())),
    ];
    for (body, (code, message)) in cases {
        let engine = engine(&rt);
        let (single, _) = feed(&rt, &engine, body.as_bytes());
        check_envelope(&single, false).unwrap();
        assert_eq!((single.code, single.message), (code, message), "{body}");
    }
}

#[test]
fn duplicate_keys_are_refused_naming_the_key() {
    // JSON leaves duplicate keys undefined and serde_json keeps the last, so two parsers could
    // disagree about a request: spec section 16 refuses them (1199000 naming the key), the
    // same way every time, at the top level and inside `data`.
    let rt = runtime();
    let cases = [
        ("bk_biz_id", "\"x\"", "1"),
        ("bk_biz_id", "1", "true"),
        ("bk_username", "\"\"", "\"u\""),
        ("data", r#"{"bk_parent_id":50,"bk_set_name":"d"}"#, "[]"),
    ];
    for (key, a, b) in cases {
        let mut entries = vec![
            ("bk_username", "\"u\""),
            ("bk_biz_id", "1"),
            ("data", r#"{"bk_parent_id":50,"bk_set_name":"d"}"#),
        ];
        entries.retain(|(k, _)| *k != key);
        entries.extend([(key, a), (key, b)]);
        let body = object(&entries);
        for _ in 0..2 {
            let engine = engine(&rt);
            let (single, batch) = feed(&rt, &engine, body.as_bytes());
            check_envelope(&single, false).unwrap();
            check_envelope(&batch, true).unwrap();
            let refused = (
                1_199_000,
                format!("Deserializing JSON data failed: duplicate key '{key}'"),
            );
            assert_eq!((single.code, single.message), refused, "{body}");
            assert_eq!((batch.code, batch.message), refused, "{body}");
        }
    }
    let inner = r#"{"bk_username":"u","bk_biz_id":1,"data":{"bk_parent_id":50,"bk_set_name":"a","bk_set_name":"b"}}"#;
    let engine = engine(&rt);
    let (single, _) = feed(&rt, &engine, inner.as_bytes());
    assert_eq!(
        (single.code, single.message.as_str()),
        (
            1_199_000,
            "Deserializing JSON data failed: duplicate key 'bk_set_name'"
        )
    );
}

#[test]
fn every_field_of_the_wrong_type_gets_a_documented_code() {
    let rt = runtime();
    let wrong = [
        "null",
        "true",
        "0",
        "-1",
        "1.5",
        "\"\"",
        "\"x\"",
        "[]",
        "[1]",
        "{}",
        r#"{"a":1}"#,
    ];
    let mut tried = 0;
    for (at, _) in full_data().iter().enumerate() {
        for value in wrong {
            let mut entries = full_data();
            entries[at].1 = value;
            let body = request("1", &object(&entries));
            let engine = engine(&rt);
            let (single, batch) = feed(&rt, &engine, body.as_bytes());
            check_envelope(&single, false).unwrap_or_else(|e| panic!("{body}: {e}"));
            check_envelope(&batch, true).unwrap_or_else(|e| panic!("{body}: {e}"));
            tried += 1;
        }
    }
    for (key, value) in [
        ("bk_username", "1"),
        ("bk_username", "[]"),
        ("bk_supplier_account", "7"),
        ("bk_supplier_account", "{}"),
        ("bk_app_code", "[]"),
        ("data", "1"),
        ("data", "\"x\""),
    ] {
        let mut entries = vec![
            ("bk_username", "\"u\""),
            ("bk_biz_id", "1"),
            ("data", r#"{"bk_parent_id":50,"bk_set_name":"w"}"#),
        ];
        entries.retain(|(k, _)| *k != key);
        entries.push((key, value));
        let engine = engine(&rt);
        let (single, batch) = feed(&rt, &engine, object(&entries).as_bytes());
        check_envelope(&single, false).unwrap();
        check_envelope(&batch, true).unwrap();
        tried += 1;
    }
    assert_eq!(tried, full_data().len() * wrong.len() + 7);
}

#[test]
fn the_fuzz_seed_corpus_gets_well_formed_envelopes() {
    // The committed seed corpus of `tests/fuzz` (same fixture as here), replayed on every run.
    // `batch*.json` are batch bodies, so the single handler refuses their `data` keys; the
    // others have no `sets`, so the batch handler refuses them with 1199006 'sets'.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/create_set");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let rt = runtime();
    let mut codes = Vec::new();
    for file in &files {
        let engine = engine(&rt);
        let (single, batch) = feed(&rt, &engine, &std::fs::read(file).unwrap());
        check_envelope(&single, false).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        check_envelope(&batch, true).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        codes.push((name, single.code, batch.code));
    }
    let expect = |name: &str, single: i64, batch: i64| (name.to_owned(), single, batch);
    assert_eq!(
        codes,
        [
            expect("batch.json", 1_199_011, 1_101_108),
            expect("batch_atomic.json", 1_199_011, 1_199_011),
            expect("builtin_with_template.json", 1_199_054, 1_199_006),
            expect("duplicate_keys_and_bounds.json", 1_199_000, 1_199_000),
            expect("every_attribute.json", 0, 1_199_006),
            expect("not_an_object.json", 1_199_000, 1_199_000),
            expect("seed_request.json", 0, 1_199_006),
            expect("too_deep.json", 1_199_000, 1_199_000),
            expect("truncated.json", 1_199_000, 1_199_000),
            expect("wrong_types.json", 1_199_027, 1_199_027),
        ]
    );
}

#[test]
fn the_fuzz_seed_corpus_passes_the_fuzz_targets_checks() {
    // The fuzz target's own checks (fresh engines per input, refused requests write nothing,
    // failures carry no data), run on the committed seed corpus: they compile and run here.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/create_set");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| cmdb_tests::fuzz_check::check_input(&body));
        assert!(outcome.is_ok(), "{} fails the fuzz checks", path.display());
        checked += 1;
    }
    assert_eq!(checked, 10);
}

/// A memory store whose refusals at commit time still bump the audit sequence: a refusal that
/// writes.
#[derive(Debug)]
struct LeakyRefusals(cmdb_store_memory::MemoryStore);

#[async_trait::async_trait]
impl SetStore for LeakyRefusals {
    fn backend(&self) -> &'static str {
        "leaky"
    }
    async fn apply_catalog(&self, batch: CatalogBatch) -> Result<LoadReport, cmdb_core::Error> {
        self.0.apply_catalog(batch).await
    }
    async fn create_sets(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Vec<Result<CreatedSet, cmdb_core::Error>> {
        let results = self.0.create_sets(plans).await;
        if results.iter().any(Result::is_err) {
            let last = self.0.sequence_last(SequenceKind::Audit).await.unwrap();
            self.0
                .raise_sequence(SequenceKind::Audit, last + 1)
                .await
                .unwrap();
        }
        results
    }
    async fn create_sets_atomic(
        &self,
        plans: Vec<CreatePlan>,
    ) -> Result<Vec<CreatedSet>, BatchFailure> {
        let result = self.0.create_sets_atomic(plans).await;
        if result.is_err() {
            let last = self.0.sequence_last(SequenceKind::Audit).await.unwrap();
            self.0
                .raise_sequence(SequenceKind::Audit, last + 1)
                .await
                .unwrap();
        }
        result
    }
    async fn raise_sequence(&self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        self.0.raise_sequence(kind, value).await
    }
    async fn sequence_last(&self, kind: SequenceKind) -> Result<i64, StoreError> {
        self.0.sequence_last(kind).await
    }
    async fn audit_after(
        &self,
        after: cmdb_core::ids::AuditId,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        self.0.audit_after(after, limit).await
    }
    async fn create_facts(&self, query: &FactsQuery) -> Result<StoredFacts, StoreError> {
        self.0.create_facts(query).await
    }
    async fn catalog_get(&self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.0.catalog_get(key).await
    }
    async fn sets(&self, biz: BizId, set: Option<SetId>) -> Result<Vec<Document>, StoreError> {
        self.0.sets(biz, set).await
    }
    async fn modules(&self, set: SetId) -> Result<Vec<Document>, StoreError> {
        self.0.modules(set).await
    }
    async fn audit_records(
        &self,
        biz: BizId,
        rt: Option<ResourceType>,
    ) -> Result<Vec<Document>, StoreError> {
        self.0.audit_records(biz, rt).await
    }
    async fn close(&self) -> Result<(), StoreError> {
        self.0.close().await
    }
}

#[test]
fn the_fuzz_checks_catch_a_refusal_that_writes() {
    // An atomic batch refused while committing (its second element repeats the first's name):
    // fine on the memory store, a crash on a store whose refusals write.
    let body = br#"{"bk_username":"u","bk_biz_id":1,"data":{"atomic":true,"sets":[{"bk_parent_id":50,"bk_set_name":"d"},{"bk_parent_id":50,"bk_set_name":"d"}]}}"#;
    cmdb_tests::fuzz_check::check_input(body);
    let leaky = std::panic::catch_unwind(|| {
        cmdb_tests::fuzz_check::check_input_on(body, &|| {
            Arc::new(LeakyRefusals(cmdb_store_memory::MemoryStore::new()))
        })
    });
    let message = leaky.expect_err("the checks catch the write");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| message.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(text.contains("a refused atomic batch wrote"), "{text}");
}

#[test]
fn json_minus_zero_is_the_integer_zero() {
    // RFC 8259: `-0` has no fraction and no exponent, so it is a JSON integer (zero), not a
    // float: "an integer ≤ 0 → 1199011" for bk_biz_id, out of range for bk_capacity (1 …),
    // and in range for the custom int `weight` ([-5, 100]).
    let rt = runtime();
    let cases = [
        (
            request("-0", r#"{"bk_parent_id":50,"bk_set_name":"z"}"#),
            1_199_011,
            "'bk_biz_id' the parameter is invalid or does not exist",
        ),
        (
            request(
                "1",
                r#"{"bk_parent_id":50,"bk_set_name":"z","bk_capacity":-0}"#,
            ),
            1_199_006,
            "'bk_capacity' the parameter is invalid",
        ),
        (
            request("1", r#"{"bk_parent_id":50,"bk_set_name":"z","weight":-0}"#),
            0,
            "",
        ),
    ];
    let expected: Vec<(i64, String)> = cases.iter().map(|c| (c.1, c.2.to_owned())).collect();
    let answered: Vec<(i64, String)> = cases
        .iter()
        .map(|(body, _, _)| {
            let engine = engine(&rt);
            let (single, _) = feed(&rt, &engine, body.as_bytes());
            (single.code, single.message)
        })
        .collect();
    assert_eq!(answered, expected);
}
