//! Webhook attempts claimed by nodes: a claim takes due attempts with their events' bodies, an
//! attempt claimed is no other node's, and a batch of ends records each one only under its
//! claim, a dead letter with its Event Log entry.

use portcullis_domain::webhooks::{AttemptEnd, AttemptStatus, ClaimedAttempt, EndedAttempt};
use portcullis_domain::*;
use portcullis_store::testing::{Backend, TestDb};
use std::collections::BTreeMap;
use uuid::Uuid;

pub async fn a_batch_of_ends_is_recorded_only_under_each_claim(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = &db.store;
    let now = now_millis();
    let hook = Webhook {
        id: Some(Uuid::new_v4()),
        url: "http://127.0.0.1:9/hook".into(),
        global: true,
        events_enabled: BTreeMap::from([("user.create".to_string(), true)]),
        insert_instant: Some(now),
        ..Webhook::default()
    };
    let id = hook.id.unwrap();
    store.insert_webhook(&hook, "whsec_c2VjcmV0").await.unwrap();
    let events: Vec<Event> = (0..4)
        .map(|_| Event::new("user.create", None, Json::new()))
        .collect();
    store.append_events(&events).await.unwrap();
    assert_eq!(store.fan_out_events(now, 500, 0).await.unwrap(), 4);

    let claimed = store
        .claim_attempts(id, "a", now, now + 20_000, 3)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    for a in &claimed {
        assert_eq!(a.attempts, 1);
        assert!(a.body.contains(&a.event_id.to_string()), "the event's body");
    }
    let rest = store
        .claim_attempts(id, "b", now, now + 20_000, 10)
        .await
        .unwrap();
    assert_eq!(
        rest.len(),
        1,
        "another node gets only the attempt not yet claimed"
    );
    assert!(claimed.iter().all(|a| a.id != rest[0].id));

    let ended = |i: usize, end: AttemptEnd| EndedAttempt {
        attempt: claimed[i].clone(),
        at: now + 1,
        end,
    };
    // Node b holds none of a's claims: nothing of its batch is recorded.
    let recorded = store
        .finish_attempts("b", &[ended(0, AttemptEnd::Delivered { status: 204 })])
        .await
        .unwrap();
    assert_eq!(recorded, vec![false]);
    let mut stale = ended(2, AttemptEnd::Delivered { status: 200 });
    stale.attempt.attempts = 7;
    let recorded = store
        .finish_attempts(
            "a",
            &[
                ended(0, AttemptEnd::Delivered { status: 204 }),
                ended(
                    1,
                    AttemptEnd::Dead {
                        status: Some(500),
                        error: "the receiver answered HTTP 500".into(),
                    },
                ),
                stale,
            ],
        )
        .await
        .unwrap();
    assert_eq!(recorded, vec![true, true, false]);
    let status = |i: usize| {
        let id = claimed[i].id;
        async move { store.attempt(id).await.unwrap().unwrap() }
    };
    let delivered = status(0).await;
    assert_eq!(delivered.status, AttemptStatus::Succeeded);
    assert_eq!(delivered.delivered_instant, Some(now + 1));
    assert_eq!(status(1).await.status, AttemptStatus::Failed);
    assert_eq!(
        status(2).await.status,
        AttemptStatus::Pending,
        "a claim of another try"
    );
    let logs = store.event_logs(Some("Error"), 10).await.unwrap();
    assert_eq!(logs.len(), 1);
    assert!(logs[0].message.contains(&claimed[1].event_id.to_string()));

    assert_eq!(delivered.attempts, 1);
    assert_eq!(delivered.last_attempt_instant, Some(now));

    // a's claim on the third attempt ends unrecorded: once it has ended, b claims the attempt,
    // and only b's end is recorded.
    let late = now + 20_000;
    let reclaimed = store
        .claim_attempts(id, "b", late, late + 20_000, 10)
        .await
        .unwrap();
    let mut ids: Vec<_> = reclaimed.iter().map(|a| a.id).collect();
    let mut open = vec![claimed[2].id, rest[0].id];
    ids.sort();
    open.sort();
    assert_eq!(ids, open, "the attempts not ended, their claims over");
    let reclaimed: Vec<_> = reclaimed
        .into_iter()
        .filter(|a| a.id == claimed[2].id)
        .collect();
    assert_eq!(
        reclaimed[0].attempts, 1,
        "the claim that ended made no attempt"
    );
    let again = |node: &str, a: &ClaimedAttempt, end: AttemptEnd| {
        let (node, a) = (node.to_string(), a.clone());
        async move {
            store
                .finish_attempts(
                    &node,
                    &[EndedAttempt {
                        attempt: a,
                        at: late + 1,
                        end,
                    }],
                )
                .await
                .unwrap()
        }
    };
    let retry = || AttemptEnd::Retry {
        at: late + 100,
        status: Some(503),
        error: "the receiver answered HTTP 503".into(),
    };
    assert_eq!(again("a", &claimed[2], retry()).await, vec![false]);
    assert_eq!(again("b", &reclaimed[0], retry()).await, vec![true]);
    let retried = status(2).await;
    assert_eq!(
        (
            retried.status,
            retried.attempts,
            retried.next_attempt_instant
        ),
        (AttemptStatus::Pending, 1, late + 100)
    );
    // Due again at its retry, as its second attempt, to any node.
    let early = store
        .claim_attempts(id, "a", late + 99, late + 20_000, 10)
        .await
        .unwrap();
    assert!(early.iter().all(|a| a.id != claimed[2].id), "not due yet");
    let second = store
        .claim_attempts(id, "a", late + 100, late + 20_000, 10)
        .await
        .unwrap();
    let second = second.iter().find(|a| a.id == claimed[2].id).unwrap();
    assert_eq!(second.attempts, 2);
    assert_eq!(
        again("a", second, AttemptEnd::Delivered { status: 200 }).await,
        vec![true]
    );
    let done = status(2).await;
    assert_eq!((done.status, done.attempts), (AttemptStatus::Succeeded, 2));

    // A webhook's deletion takes its attempts with it (their claims too: a store test on SQLite).
    assert!(store.delete_webhook(id).await.unwrap());
    assert!(store.attempt(rest[0].id).await.unwrap().is_none());
}
