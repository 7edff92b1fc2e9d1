//! The official FusionAuth Python client's `search_users_by_query` works against
//! `portcullis serve`.
//!
//! Runs `tests/fusionauth-python/search.py` — the PyPI package `fusionauth-client`, pinned in that
//! folder's requirements.txt — against a freshly started server holding users imported here: a
//! `queryString`, an Elasticsearch `query` (as the JSON string the client's users send), `ids`,
//! paging with `startRow`, and a malformed query string, whose 400 the client reads as its
//! `error_response`.
//!
//! Needs `python3` and the package installed: `pip install -r tests/fusionauth-python/requirements.txt`
//! (scripts/test does it). Without them the test fails (it never skips): CI must install them.

use crate::support::{run_with_timeout, workspace_root, Backend, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);

fn api(s: &Server, method: &str, path: &str, body: Value) -> Value {
    let c = reqwest::blocking::Client::new();
    let req = match method {
        "POST" => c.post(format!("{}{path}", s.url)).json(&body),
        _ => c.get(format!("{}{path}", s.url)),
    };
    let r = req.header("Authorization", &s.api_key).send().unwrap();
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    // The import answers 200 with an empty body.
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The client's answers to `searches`, one `{status, success, error}` each.
fn search_with_python(s: &Server, tenant: &str, searches: &[Value]) -> Vec<Value> {
    let script = workspace_root().join("tests/fusionauth-python/search.py");
    let input = json!({"url": s.url, "api_key": s.api_key, "tenant_id": tenant,
        "searches": searches});
    let dir = tempfile::tempdir().unwrap();
    let input_file = dir.path().join("input.json");
    std::fs::File::create(&input_file)
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let (ok, output) = run_with_timeout(
        Command::new("sh")
            .arg("-c")
            .arg(r#"exec python3 "$0" < "$1""#)
            .arg(&script)
            .arg(&input_file)
            .stdin(Stdio::null()),
        PYTHON_TIMEOUT,
    );
    assert!(
        ok,
        "search.py failed (scripts/test installs tests/fusionauth-python/requirements.txt):\n\
         {output}\n--- server log ---\n{}",
        s.log()
    );
    serde_json::from_str(&output).unwrap_or_else(|e| panic!("{e}: {output}"))
}

fn ids(answer: &Value) -> BTreeSet<String> {
    answer["success"]["users"]
        .as_array()
        .unwrap_or_else(|| panic!("no users: {answer}"))
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

fn python_client_searches_users(backend: Backend) {
    let s = Server::start(backend);
    let apps = api(&s, "GET", "/api/application", json!(null));
    let tenant = apps["applications"][0]["tenantId"]
        .as_str()
        .unwrap()
        .to_string();
    let app = api(
        &s,
        "POST",
        "/api/application",
        json!({"application": {"name": "Shop", "roles": [{"name": "admin"}, {"name": "member"}]}}),
    )["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let connector = "5c3a2b1e-0000-4000-8000-00000000c0de";
    // Ten users: the even ones still in the legacy system, every third an admin of the shop.
    let users: Vec<Value> = (0..10_usize)
        .map(|i| {
            let mut u = json!({
                "id": format!("00000000-0000-4000-8000-{i:012}"),
                "email": format!("user{i}@{}.example", if i < 6 { "legacy" } else { "new" }),
                "firstName": format!("User{i}"),
                "insertInstant": 1_000 + i,
                "data": {"plan": if i.is_multiple_of(2) { "gold" } else { "free" }},
                "registrations": [{"applicationId": app,
                    "roles": if i.is_multiple_of(3) { vec!["admin"] } else { vec!["member"] }}],
            });
            if i.is_multiple_of(2) {
                u["connectorId"] = json!(connector);
            }
            u
        })
        .collect();
    api(&s, "POST", "/api/user/import", json!({"users": users}));
    let id = |i: usize| format!("00000000-0000-4000-8000-{i:012}");
    let set = |is: &[usize]| is.iter().map(|&i| id(i)).collect::<BTreeSet<_>>();

    let es = json!({"bool": {"must": [
        {"nested": {"path": "registrations", "query": {"bool": {"must": [
            {"match": {"registrations.applicationId": app}},
            {"match": {"registrations.roles": "admin"}}]}}}},
        {"range": {"insertInstant": {"gte": 1_003}}}]}});
    let answers = search_with_python(
        &s,
        &tenant,
        &[
            json!({"search": {"queryString": "email:*@legacy.example", "numberOfResults": 100}}),
            json!({"search": {"queryString": format!("connectorId:{connector} AND data.plan:gold"),
                "sortFields": [{"name": "email", "order": "desc"}]}}),
            json!({"search": {"query": es.to_string()}}),
            json!({"search": {"ids": [id(1), id(2)]}}),
            json!({"search": {"queryString": "email:user*", "numberOfResults": 4, "startRow": 8,
                "sortFields": [{"name": "insertInstant"}]}}),
            json!({"search": {"queryString": "firstNam:User1"}}),
        ],
    );
    let [legacy, gold, admins, by_ids, last_page, bad] = &answers[..] else {
        panic!("six answers expected: {answers:?}");
    };

    assert_eq!(legacy["status"], 200, "{legacy}");
    assert_eq!(legacy["success"]["total"], 6, "{legacy}");
    assert_eq!(ids(legacy), set(&[0, 1, 2, 3, 4, 5]));

    assert_eq!(gold["success"]["total"], 5, "{gold}");
    let order: Vec<&str> = gold["success"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "user8@new.example",
            "user6@new.example",
            "user4@legacy.example",
            "user2@legacy.example",
            "user0@legacy.example"
        ]
    );

    assert_eq!(admins["success"]["total"], 3, "{admins}");
    assert_eq!(ids(admins), set(&[3, 6, 9]));

    assert_eq!(by_ids["success"]["total"], 2, "{by_ids}");
    assert_eq!(ids(by_ids), set(&[1, 2]));

    assert_eq!(last_page["success"]["total"], 10, "{last_page}");
    assert_eq!(ids(last_page), set(&[8, 9]));

    assert_eq!(bad["status"], 400, "{bad}");
    assert!(
        bad["error"]["fieldErrors"]["search.queryString"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("firstNam")),
        "{bad}"
    );
}

#[test]
fn sqlite() {
    python_client_searches_users(Backend::Sqlite);
}

#[test]
fn postgres() {
    python_client_searches_users(Backend::Postgres);
}
