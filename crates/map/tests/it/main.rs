//! The mapping pipeline end to end on files and SQLite: what lands in the batches, the
//! de-duplication report, `--dry-run`, `--since`, and errors that name the row and column.

use portcullis_map::mapping::DedupPolicy;
use portcullis_map::source::SourceSpec;
use portcullis_map::{build_mapping, run, Error, Options, Overrides, Summary};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn options(source: &Path, mapping: &str, out: Option<PathBuf>) -> Options {
    Options {
        source: SourceSpec::parse(source.to_str().unwrap()).unwrap(),
        mapping: build_mapping(None, Some(mapping), &Overrides::default()).unwrap(),
        prepare: None,
        dry_run: out.is_none(),
        out,
        since: None,
        batch: portcullis_map::DEFAULT_BATCH,
        validate_db_constraints: false,
        progress: None,
        preset: None,
    }
}

fn users_in(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            v["users"].as_array().unwrap().clone()
        })
        .collect()
}

const CSV: &str = "\
id,email,first,last,joined,active,roles,groups,pw,updated
1,Ann@Example.com,Ann,Lee,02/01/2020 10:00,yes,admin;staff,red,$2b$04$5/VF4TzTgk7L04KcDq886OdtHMdfFmeOzkq7RrscvG7Hq1YqnI/bC,2024-01-01 00:00:00
2,bob@example.com,Bob,,03/01/2020 11:30,no,staff,blue,,2024-02-01 00:00:00
3,ann@example.com,Annie,Lee,04/01/2020 09:00,yes,,,,2024-03-01 00:00:00
";

const MAPPING: &str = r#"
[source]
updated_at = "updated"

[id]
original = "id"
uuid = "v5"

[user]
email = { column = "email", lowercase = true }
fullName = { template = "{first} {last}" }
firstName = "first"
insertInstant = { column = "joined", date = "%d/%m/%Y %H:%M", zone = "+02:00" }
active = { column = "active", true = ["yes"], false = ["no"] }
"data.source" = { constant = "legacy-crm" }

[password]
hash = "pw"
scheme = "auto"

[registrations]
application = "7b3c1a52-0c5f-4f7e-9d1a-2b3c4d5e6f70"
roles = { column = "roles", split = ";" }
unmapped = "drop"
[registrations.role_map]
admin = "administrator"
staff = [ "member", { application = "11111111-2222-4333-8444-555555555555", role = "viewer" } ]

[memberships]
groups = "groups"
[memberships.group_map]
red = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_csv_maps_to_import_users_with_every_conversion() {
    let tmp = tempfile::tempdir().unwrap();
    let src = write(tmp.path(), "users.csv", CSV);
    let out = tmp.path().join("out");
    let s: Summary = rt()
        .block_on(run(options(&src, MAPPING, Some(out.clone()))))
        .unwrap();
    assert_eq!(
        (s.rows_read, s.users_written, s.duplicates_dropped),
        (3, 2, 1)
    );
    assert_eq!(s.without_password, 1);
    assert_eq!(s.next_since.as_deref(), Some("2024-03-01T00:00:00.000Z"));
    let users = users_in(&out);
    let ann = &users[0];
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["fullName"], "Ann Lee");
    // 02/01/2020 10:00 at +02:00 is 08:00 UTC.
    assert_eq!(ann["insertInstant"], 1577952000000i64);
    assert_eq!(ann["active"], true);
    assert_eq!(ann["encryptionScheme"], "auto");
    assert_eq!(ann["data"]["source"], "legacy-crm");
    assert_eq!(ann["data"]["original_user_id"], "1");
    let id = uuid::Uuid::new_v5(&portcullis_map::mapping::DEFAULT_NAMESPACE, b"1");
    assert_eq!(
        ann["id"],
        id.to_string(),
        "the id is derived from the legacy id"
    );
    assert_eq!(
        ann["registrations"],
        json!([
            {"applicationId": "11111111-2222-4333-8444-555555555555", "roles": ["viewer"]},
            {"applicationId": "7b3c1a52-0c5f-4f7e-9d1a-2b3c4d5e6f70", "roles": ["administrator", "member"]}
        ])
    );
    assert_eq!(
        ann["memberships"],
        json!([{"groupId": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"}])
    );
    let bob = &users[1];
    assert_eq!(bob["fullName"], "Bob", "an empty column leaves no gap");
    assert_eq!(bob["active"], false);
    assert!(bob.get("password").is_none() && bob.get("memberships").is_none());

    let manifest = std::fs::read_to_string(out.join("manifest.toml")).unwrap();
    assert!(manifest.contains("users_written = 2"), "{manifest}");
    assert!(manifest.contains("users-000001.json"), "{manifest}");
    let report = std::fs::read_to_string(out.join("duplicates.csv")).unwrap();
    assert_eq!(
        report,
        "key,value,row,original_user_id,action,kept_row,kept_original_user_id,policy\n\
         email,ann@example.com,4,3,dropped,2,1,keep-first\n",
        "rows are CSV lines (the header is line 1)"
    );
    let passwordless = std::fs::read_to_string(out.join("passwordless.csv")).unwrap();
    assert!(
        passwordless.contains("3,2,bob@example.com,"),
        "{passwordless}"
    );
    let batch = std::fs::read_to_string(out.join("users-000001.json")).unwrap();
    assert!(!batch.contains('\n') && batch.ends_with("\"validateDbConstraints\":false}"));
}

#[test]
fn keep_newest_and_drop_all_decide_over_the_whole_source() {
    let tmp = tempfile::tempdir().unwrap();
    let src = write(tmp.path(), "users.csv", CSV);
    for (policy, kept, report_line) in [
        (
            DedupPolicy::KeepNewest,
            vec!["2", "3"],
            "email,ann@example.com,2,1,dropped,4,3,keep-newest",
        ),
        (
            DedupPolicy::DropAll,
            vec!["2"],
            "email,ann@example.com,2,1,dropped,,,drop-all",
        ),
    ] {
        let out = tmp.path().join(format!("out-{policy:?}"));
        let mut o = options(&src, MAPPING, Some(out.clone()));
        o.mapping = build_mapping(
            None,
            Some(MAPPING),
            &Overrides {
                dedup: Some(policy),
                ..Overrides::default()
            },
        )
        .unwrap();
        rt().block_on(run(o)).unwrap();
        let ids: Vec<String> = users_in(&out)
            .iter()
            .map(|u| u["data"]["original_user_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, kept, "{policy:?}");
        let report = std::fs::read_to_string(out.join("duplicates.csv")).unwrap();
        assert!(report.contains(report_line), "{policy:?}: {report}");
    }
}

#[test]
fn a_dry_run_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = write(tmp.path(), "users.csv", CSV);
    let s = rt().block_on(run(options(&src, MAPPING, None))).unwrap();
    assert_eq!(s.users_written, 2);
    let entries: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only the source is there");
}

#[test]
fn a_malformed_row_is_named_by_its_row_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = CSV.replace("03/01/2020 11:30", "2020-01-03");
    let src = write(tmp.path(), "users.csv", &bad);
    let e = rt()
        .block_on(run(options(&src, MAPPING, Some(tmp.path().join("out")))))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Row { row: 3, column, .. } if column == "joined"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "row 3, column \"joined\": \"2020-01-03\" does not match the date format \"%d/%m/%Y %H:%M\""
    );

    let bad = CSV.replace(
        "$2b$04$5/VF4TzTgk7L04KcDq886OdtHMdfFmeOzkq7RrscvG7Hq1YqnI/bC",
        "$2b$99$xx",
    );
    let src = write(tmp.path(), "users2.csv", &bad);
    let e = rt()
        .block_on(run(options(&src, MAPPING, None)))
        .unwrap_err();
    assert!(e.to_string().starts_with("row 2, column \"pw\": "), "{e}");
    assert!(
        !e.to_string().contains("$2b$99$xx"),
        "the hash stays out of the message: {e}"
    );

    let ndjson = write(
        tmp.path(),
        "u.ndjson",
        "{\"email\":\"a@example.com\",\"active\":\"1\"}\n{\"email\":\"b@example.com\",\"active\":\"maybe\"}\n",
    );
    let e = rt()
        .block_on(run(options(
            &ndjson,
            "[user]\nemail = \"email\"\nactive = \"active\"\n",
            None,
        )))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("row 2, column \"active\": \"maybe\" is not a boolean"),
        "{e}"
    );

    let e = rt()
        .block_on(run(options(&src, "[user]\nemail = \"mail\"\n", None)))
        .unwrap_err();
    assert!(e.to_string().contains("no column \"mail\""), "{e}");
}

#[test]
fn since_keeps_exactly_the_rows_changed_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = write(tmp.path(), "users.csv", CSV);
    let out = tmp.path().join("out");
    let mut o = options(&src, MAPPING, Some(out.clone()));
    o.since = Some(portcullis_map::mapping::parse_since("2024-01-01 00:00:00").unwrap());
    let s = rt().block_on(run(o)).unwrap();
    assert_eq!((s.users_written, s.unchanged), (2, 1));
    let ids: Vec<Value> = users_in(&out)
        .iter()
        .map(|u| u["data"]["original_user_id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![json!("2"), json!("3")],
        "row 3 is no duplicate once row 1 is out"
    );
    let batch = std::fs::read_to_string(out.join("users-000001.json")).unwrap();
    assert!(batch.ends_with(",\"upsert\":true}"), "{batch}");
}

#[test]
fn batches_hold_at_most_the_batch_size_and_are_named_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("legacy.sqlite");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE people (pk INTEGER PRIMARY KEY, mail TEXT, created INTEGER, tags TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
         INSERT INTO people SELECT i, 'u' || i || '@example.com', 1600000000 + i, 'a,b' FROM n;",
    )
    .unwrap();
    drop(c);
    let mapping = "[source]\nquery = \"SELECT * FROM people ORDER BY pk\"\n[id]\noriginal = \"pk\"\n\
                   [user]\nemail = \"mail\"\ninsertInstant = { column = \"created\", date = \"unix\" }\n\
                   preferredLanguages = { column = \"tags\", split = \",\" }\n";
    let out = tmp.path().join("out");
    let mut o = options(Path::new("x.csv"), mapping, Some(out.clone()));
    o.source = SourceSpec::parse(&format!("sqlite://{}", db.display())).unwrap();
    o.batch = 1000;
    let s = rt().block_on(run(o)).unwrap();
    let names: Vec<(String, usize)> = s.files.iter().map(|f| (f.name.clone(), f.users)).collect();
    assert_eq!(
        names,
        vec![
            ("users-000001.json".to_string(), 1000),
            ("users-000002.json".to_string(), 1000),
            ("users-000003.json".to_string(), 500)
        ]
    );
    let users = users_in(&out);
    assert_eq!(users[2499]["email"], "u2500@example.com");
    assert_eq!(users[0]["insertInstant"], 1600000001000i64);
    assert_eq!(users[0]["preferredLanguages"], json!(["a", "b"]));
    // A second run into the same directory would import the first run's files too.
    let mut o = options(Path::new("x.csv"), mapping, Some(out));
    o.source = SourceSpec::parse(&format!("sqlite://{}", db.display())).unwrap();
    assert!(rt().block_on(run(o)).is_err());
}
