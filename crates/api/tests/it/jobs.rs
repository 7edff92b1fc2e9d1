//! Import jobs (`/api/user/import/job`): queued at once, run one at a time in the background,
//! all or nothing like the synchronous import, with the same errors when they fail.

use crate::support::*;
use portcullis_store::testing::Backend;
use serde_json::{json, Value};
use std::time::Duration;

portcullis_store::on_both_backends!(
    a_body_job_succeeds_and_its_users_exist,
    a_job_with_a_duplicate_fails_with_the_field_errors_and_writes_nothing,
    a_body_job_with_plaintext_passwords_is_refused,
    file_jobs_read_only_inside_the_import_dir,
    a_file_job_whose_file_disappears_fails_naming_the_file,
    jobs_are_tenant_scoped_and_unknown_ids_are_404,
);

/// Polls the job until it has ended; answers its JSON.
async fn finished(s: &Server, id: &str) -> Value {
    for _ in 0..600 {
        let a = s.get(&format!("/api/user/import/job/{id}")).await;
        assert_eq!(a.status, 200, "{a:?}");
        let state = a.json["job"]["state"].as_str().unwrap().to_string();
        if state == "succeeded" || state == "failed" {
            return a.json["job"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job {id} did not end in 30 s");
}

async fn queue(s: &Server, body: Value) -> Answer {
    s.call("POST", "/api/user/import/job", body).await
}

fn users(n: usize, prefix: &str) -> Vec<Value> {
    let bcrypt = "$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e";
    (0..n)
        .map(|i| json!({"email": format!("{prefix}{i}@example.com"), "password": bcrypt, "encryptionScheme": "bcrypt"}))
        .collect()
}

async fn a_body_job_succeeds_and_its_users_exist(b: Backend) {
    let s = Server::start(b).await;
    let a = queue(&s, json!({"users": users(500, "job")})).await;
    assert_eq!(a.status, 202, "{a:?}");
    let job = &a.json["job"];
    assert_eq!(job["state"], "queued");
    assert_eq!(job["usersTotal"], 500);
    assert!(job["insertInstant"].as_i64().unwrap() > 0);
    let done = finished(&s, job["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(
        (done["usersDone"].as_u64(), done["usersCreated"].as_u64()),
        (Some(500), Some(500))
    );
    assert!(done.get("errors").is_none());
    assert!(done["finishInstant"].as_i64().unwrap() >= job["insertInstant"].as_i64().unwrap());
    assert_eq!(
        s.get("/api/user?email=job499@example.com").await.status,
        200
    );
    // An upsert job counts the updated users.
    let a = queue(&s, json!({"upsert": true, "users": [{"email": "job0@example.com", "firstName": "Up"}, {"email": "fresh@example.com"}]})).await;
    let done = finished(&s, a.json["job"]["id"].as_str().unwrap()).await;
    assert_eq!(
        (done["usersCreated"].as_u64(), done["usersUpdated"].as_u64()),
        (Some(1), Some(1)),
        "{done}"
    );
    assert_eq!(
        s.get("/api/user?email=job0@example.com").await.json["user"]["firstName"],
        "Up"
    );
}

async fn a_job_with_a_duplicate_fails_with_the_field_errors_and_writes_nothing(b: Backend) {
    let s = Server::start(b).await;
    let mut list = users(300, "dup");
    list[217] = json!({"email": "DUP3@example.com"});
    let a = queue(&s, json!({"users": list})).await;
    assert_eq!(a.status, 202, "{a:?}");
    let done = finished(&s, a.json["job"]["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(done["usersDone"], 0);
    assert_eq!(
        done["errors"]["fieldErrors"]["users[217].email"][0]["code"],
        "[duplicate]user.email"
    );
    assert_eq!(
        done["errors"]["generalErrors"][0]["code"],
        "[ImportRequestFailed]"
    );
    assert_eq!(
        s.get("/api/user?email=dup0@example.com").await.status,
        404,
        "nothing was written"
    );
    // Malformed JSON is refused when queued, not later.
    let a = send(s.req("POST", "/api/user/import/job").body("{\"users\": [")).await;
    assert_eq!((a.status, a.general_code()), (400, Some("[invalidJSON]")));
    let a = queue(&s, json!({"users": []})).await;
    assert_eq!(a.field_code("users"), Some("[missing]users"));
    let a = queue(&s, json!({"file": 42})).await;
    assert_eq!((a.status, a.general_code()), (400, Some("[invalidJSON]")));
    let blob = "x".repeat(IMPORT_LIMIT);
    let a = queue(
        &s,
        json!({"users": [{"email": "a@b.c", "data": {"blob": blob}}]}),
    )
    .await;
    assert_eq!(
        (a.status, a.general_code()),
        (413, Some("[RequestTooLarge]"))
    );
}

async fn a_body_job_with_plaintext_passwords_is_refused(b: Backend) {
    let s = Server::start(b).await;
    let a = queue(
        &s,
        json!({"users": [{"email": "p@example.com", "password": "plaintext-secret"}]}),
    )
    .await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(
        a.field_code("users[0].password"),
        Some("[plaintext]users.password")
    );
    assert!(!a.text.contains("plaintext-secret"));
}

async fn file_jobs_read_only_inside_the_import_dir(b: Backend) {
    // Without an import directory, file jobs are refused.
    let s = Server::start(b).await;
    let a = queue(&s, json!({"file": "/etc/passwd"})).await;
    assert_eq!(
        (a.status, a.field_code("file")),
        (400, Some("[invalid]file")),
        "{a:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let s = Server::start_with(
        b,
        Setup {
            import_dir: Some(dir.path().into()),
            run_jobs: true,
            ..Setup::default()
        },
    )
    .await;
    let elsewhere = outside.path().join("users.json");
    std::fs::write(&elsewhere, json!({"users": users(1, "x")}).to_string()).unwrap();
    let sneaky = format!(
        "{}/../{}/users.json",
        dir.path().display(),
        outside.path().file_name().unwrap().to_string_lossy()
    );
    for path in [
        elsewhere.display().to_string(),
        sneaky,
        "users.json".into(),
        format!("{}/missing.json", dir.path().display()),
    ] {
        let a = queue(&s, json!({"file": path})).await;
        assert_eq!(
            (a.status, a.field_code("file")),
            (400, Some("[invalid]file")),
            "{path}: {a:?}"
        );
    }
    let a = queue(&s, json!({"file": "/x", "users": []})).await;
    assert_eq!(a.status, 400);

    // A file inside the directory is imported, plaintext passwords and all (it is not stored).
    let inside = dir.path().join("users.json");
    std::fs::write(
        &inside,
        json!({"users": [{"email": "file@example.com", "password": "plaintext-password"}]})
            .to_string(),
    )
    .unwrap();
    let a = queue(&s, json!({"file": inside.display().to_string()})).await;
    assert_eq!(a.status, 202, "{a:?}");
    let done = finished(&s, a.json["job"]["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["usersTotal"], 1);
    let login = s
        .call(
            "POST",
            "/api/login",
            json!({"loginId": "file@example.com", "password": "plaintext-password"}),
        )
        .await;
    assert_eq!(login.status, 200);
}

async fn a_file_job_whose_file_disappears_fails_naming_the_file(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // The worker starts only after the file is gone.
    let s = Server::start_with(
        b,
        Setup {
            import_dir: Some(dir.path().into()),
            run_jobs: false,
            ..Setup::default()
        },
    )
    .await;
    let file = dir.path().join("gone.json");
    std::fs::write(&file, json!({"users": users(3, "gone")}).to_string()).unwrap();
    let a = queue(&s, json!({"file": file.display().to_string()})).await;
    assert_eq!(a.status, 202, "{a:?}");
    let id = a.json["job"]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        s.get(&format!("/api/user/import/job/{id}")).await.json["job"]["state"],
        "queued",
        "no worker yet"
    );
    std::fs::remove_file(&file).unwrap();
    s.start_import_jobs();
    let done = finished(&s, &id).await;
    assert_eq!(done["state"], "failed", "{done}");
    let e = &done["errors"]["generalErrors"][0];
    assert_eq!(e["code"], "[FileUnreadable]");
    assert!(e["message"].as_str().unwrap().contains("gone.json"), "{e}");
    assert_eq!(s.get("/api/user?email=gone0@example.com").await.status, 404);
}

async fn jobs_are_tenant_scoped_and_unknown_ids_are_404(b: Backend) {
    let s = Server::start(b).await;
    let t = s.default_tenant().await;
    let other = s.new_tenant("Other").await;
    let key_other = s.key_with(json!({"tenantId": other})).await;
    let a = send(
        s.req("POST", "/api/user/import/job")
            .header("X-FusionAuth-TenantId", &t)
            .json(&json!({"users": users(1, "t")})),
    )
    .await;
    assert_eq!(a.status, 202, "{a:?}");
    let id = a.json["job"]["id"].as_str().unwrap();
    let path = format!("/api/user/import/job/{id}");
    assert_eq!(send(s.req_as(&key_other, "GET", &path)).await.status, 404);
    assert_eq!(
        s.get(&format!("/api/user/import/job/{}", uuid::Uuid::new_v4()))
            .await
            .status,
        404
    );
    assert_eq!(s.get("/api/user/import/job/not-a-uuid").await.status, 400);
}
